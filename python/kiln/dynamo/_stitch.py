"""Builds the compiled torch.fx.GraphModule from the partition result.

PyTorch segments are copied node by node from the exported graph; each Kiln segment becomes

    engine = get_attr("kiln_engine_N")                     # a torch.classes.kiln.Engine
    outs = torch.ops.kiln.execute_engine([inputs...], engine)
    out_k = outs[k]

Evaluator nodes (sym_size, int arithmetic, list bookkeeping) that the PyTorch side still needs are
copied where first needed. Only the parameters the PyTorch side reads are kept on the new module.
With ``engine_modules=True`` (the legacy FX API) each engine is a ``kiln.EngineModule`` submodule
called with ``call_module`` instead.
"""

from __future__ import annotations

import operator
from typing import Any, Optional

import torch
import torch.fx

from kiln.dynamo._graph import ImportedGraph


def stitch(
    imp: ImportedGraph,
    result: dict,
    engines: dict[str, Any],
    *,
    class_name: str = "KilnGraphModule",
    engine_modules: Optional[dict[str, torch.nn.Module]] = None,
) -> torch.fx.GraphModule:
    gm = imp.gm
    g = torch.fx.Graph()
    env: dict[int, Any] = {}  # OpGraph value id -> new node
    copied: dict[torch.fx.Node, torch.fx.Node] = {}  # original node -> new node (placeholders, get_attr, ops)
    support = result["support"]
    evaluated = {s[0] for s in support if s[3]}
    in_kiln: dict[int, int] = {}  # node -> segment index
    for si, seg in enumerate(result["segments"]):
        if seg["kiln"]:
            for n in seg["nodes"]:
                in_kiln[n] = si

    for ph in imp.placeholders:
        new = g.node_copy(ph)
        copied[ph] = new
    for vid, ph in zip(imp.inputs, imp.placeholders):
        env[vid] = copied[ph]

    def lookup_fx(n: torch.fx.Node) -> torch.fx.Node:
        if n in copied:
            return copied[n]
        if n.op == "get_attr":
            new = g.node_copy(n)
            copied[n] = new
            return new
        v = imp.fx_value.get(n)
        if isinstance(v, int):
            return value(v)
        if n in imp.fx_op:
            emit(imp.fx_op[n])
            return copied[n]
        raise RuntimeError(f"kiln: internal error: node {n.name} has no value in the compiled graph")

    def value(vid: int) -> Any:
        if vid in env:
            return env[vid]
        src = imp.values[vid]
        if src.fx_node is not None and src.fx_node.op == "get_attr":
            env[vid] = lookup_fx(src.fx_node)
            return env[vid]
        p = src.producer
        if p < 0:
            raise RuntimeError(f"kiln: internal error: value {vid} has no producer")
        if p in in_kiln:
            raise RuntimeError(
                f"kiln: internal error: value of node {imp.nodes[p].op} is inside engine "
                f"{result['segments'][in_kiln[p]]['name']} but needed by PyTorch"
            )
        emit(p)
        return env[vid]

    def emit(p: int) -> None:
        on = imp.nodes[p]
        fxn = on.fx_node
        if fxn is None:  # synthetic list: only engines read these
            raise RuntimeError("kiln: internal error: a list construct is needed by PyTorch")
        if fxn in copied:
            return
        new = g.node_copy(fxn, lookup_fx)
        copied[fxn] = new
        if on.multi_output:
            for k, vid in enumerate(on.outputs):
                item = g.call_function(operator.getitem, (new, k))
                src_val = fxn.meta.get("val")
                if isinstance(src_val, (list, tuple)) and k < len(src_val):
                    item.meta["val"] = src_val[k]
                env[vid] = item
        elif on.outputs:
            env[on.outputs[0]] = new

    execute = torch.ops.kiln.execute_engine.default
    for seg in result["segments"]:
        if seg["kiln"]:
            name = seg["name"]
            ins = [value(v) for v in seg["inputs"]]
            if engine_modules is not None:
                call = g.call_module(name, tuple(ins))
            else:
                eng = g.get_attr(name)
                call = g.call_function(execute, (ins, eng))
            if engine_modules is not None and len(seg["outputs"]) == 1:
                env[seg["outputs"][0]] = call  # an EngineModule returns its one output as is
                continue
            for k, vid in enumerate(seg["outputs"]):
                env[vid] = g.call_function(operator.getitem, (call, k))
        else:
            for p in seg["nodes"]:
                if p not in evaluated:
                    emit(p)
    g.node_copy(imp.output_node, lookup_fx)

    g._codegen = gm.graph._codegen  # same pytree signature (shared: codegens are not mutated)
    root = gm
    for name, eng in engines.items():
        setattr(root, name, eng)
    if engine_modules is not None:
        for name, mod in engine_modules.items():
            root.add_module(name, mod)
    g.owning_module = root  # call_module purity checks
    g.eliminate_dead_code()
    new_gm = torch.fx.GraphModule(root, g, class_name=class_name)
    for name in engines:
        if hasattr(root, name):
            delattr(root, name)
    if engine_modules is not None:
        for name in engine_modules:
            delattr(root, name)
    return new_gm
