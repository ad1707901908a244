#!/usr/bin/env python3
"""Op coverage of the torchvision classification and segmentation models.

Loads every torchvision classification model and the segmentation models with random weights
(weights=None, no downloads), traces and scripts each (where scripting works), runs the lowering the
C++ TorchScript frontend runs (kiln_torch/graph/torchscript_import.cpp: freeze, inline, remove
dropout/mutation, constant propagation, peephole, CSE, DCE, then specialization to static input
shapes), and prints the set of overload-qualified op names ("aten::add.Tensor") per model, as
node_op_name() produces them.

  scripts/coverage_vision.py [--json OUT.json] [--models resnet18,vit_b_16] [--skip-large]
                             [--registered OPS.txt] [--export-dir DIR]

--registered takes a file with one registered converter name per line (`kilnc --list-converters`)
and then also prints, per model, the ops without a converter. --export-dir also saves each traced /
scripted module as DIR/NAME_{traced,scripted}.ts, for `kilnc --check-support -d cpu -i 1x3xHxW`
(the C++ frontend's exact view, with the reasons per op).
"""

import argparse
import gc
import json
import os
import re
import sys

import torch

# Models whose forward cannot run at 224x224 or that take another default size.
INPUT_SIZE = {"inception_v3": 299}
SEGMENTATION = [
    "fcn_resnet50",
    "fcn_resnet101",
    "deeplabv3_resnet50",
    "deeplabv3_resnet101",
    "deeplabv3_mobilenet_v3_large",
    "lraspp_mobilenet_v3_large",
]
# Over ~300M parameters: slow to trace/freeze on a small machine; same op families as their smaller siblings.
LARGE = {"vit_h_14", "regnet_y_128gf", "vit_l_16", "vit_l_32", "regnet_y_32gf", "regnet_x_32gf"}
# Not ops of the model: the bookkeeping the frontend folds or evaluates.
IGNORED = {"prim::Constant"}


def op_name(node: torch._C.Node) -> str:
    """node_op_name(): the kind plus the overload name of the matched schema."""
    name = node.kind()
    try:
        schema = node.schema()
    except RuntimeError:
        schema = "(no schema)"
    if schema and schema != "(no schema)":
        m = re.match(r"^([\w:]+)(?:\.(\w+))?\(", schema)
        if m and m.group(2):
            name += "." + m.group(2)
    return name


def collect_ops(graph: torch._C.Graph) -> set:
    ops = set()

    def walk(block):
        for n in block.nodes():
            if n.kind() not in IGNORED:
                ops.add(op_name(n))
            for b in n.blocks():
                walk(b)

    walk(graph)
    return ops


def lower(module: torch.jit.ScriptModule, example: torch.Tensor) -> torch._C.Graph:
    """The C++ frontend's lowering (import_torchscript + specialize_to_inputs) as far as Python has the passes."""
    m = module.eval()
    torch._C._jit_pass_remove_dropout(m._c)
    frozen = torch.jit.freeze(m, optimize_numerics=True)
    g = frozen.graph.copy()
    torch._C._jit_pass_inline(g)
    try:
        torch._C._jit_pass_lower_all_tuples(g)
    except RuntimeError:
        pass
    torch._C._jit_pass_remove_mutation(g)
    torch._C._jit_pass_constant_propagation(g)
    torch._C._jit_pass_constant_pooling(g)
    torch._C._jit_pass_peephole(g, True)
    torch._C._jit_pass_cse(g)
    torch._C._jit_pass_dce(g)
    # specialize_to_inputs: static input shapes let TorchScript fold aten::dim / aten::size / prim::If.
    try:
        inputs = list(g.inputs())
        inputs[1].setType(torch._C.TensorType.create_from_tensor(example))
        torch._C._jit_pass_complete_shape_analysis(g, (frozen._c, example), False)
    except Exception:  # best effort, as in C++
        pass
    torch._C._jit_pass_peephole(g, False)
    torch._C._jit_pass_constant_propagation(g)
    torch._C._jit_pass_dce(g)
    return g


def build(name: str):
    import torchvision.models as tvm
    import torchvision.models.segmentation as seg

    if name in SEGMENTATION:
        return getattr(seg, name)(weights=None, weights_backbone=None)
    kwargs = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=False)
    return getattr(tvm, name)(**kwargs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--json", help="write {model: {traced: [...], scripted: [...] | null, script_error: str}}"
    )
    ap.add_argument("--models", help="comma-separated subset")
    ap.add_argument("--skip-large", action="store_true", help="skip models over ~300M parameters")
    ap.add_argument("--registered", help="file with one registered converter op name per line")
    ap.add_argument("--export-dir", help="also save the traced/scripted modules here")
    ap.add_argument(
        "--size",
        type=int,
        default=0,
        help="input H=W (default: 224, 299 for inception_v3; 64 for segmentation)",
    )
    args = ap.parse_args()

    import torchvision.models as tvm

    names = tvm.list_models(module=tvm) + SEGMENTATION
    if args.models:
        names = [n for n in args.models.split(",") if n]
    if args.skip_large:
        names = [n for n in names if n not in LARGE]
    registered = None
    if args.registered:
        with open(args.registered) as f:
            registered = {line.strip() for line in f if line.strip()}

    if args.export_dir:
        os.makedirs(args.export_dir, exist_ok=True)
    torch.manual_seed(0)
    result = {}
    union = set()
    for name in names:
        size = args.size or (64 if name in SEGMENTATION else INPUT_SIZE.get(name, 224))
        x = torch.randn(1, 3, size, size)
        entry = {"traced": None, "scripted": None, "trace_error": None, "script_error": None}
        try:
            model = build(name).eval()
        except Exception as e:  # noqa: BLE001
            entry["trace_error"] = f"construction failed: {e}"
            result[name] = entry
            continue
        with torch.no_grad():
            try:
                traced = torch.jit.trace(model, x, strict=False, check_trace=False)
                if args.export_dir:
                    traced.save(os.path.join(args.export_dir, f"{name}_traced.ts"))
                entry["traced"] = sorted(collect_ops(lower(traced, x)))
            except Exception as e:  # noqa: BLE001
                entry["trace_error"] = str(e).splitlines()[0] if str(e) else repr(e)
            try:
                scripted = torch.jit.script(model)
                if args.export_dir:
                    scripted.save(os.path.join(args.export_dir, f"{name}_scripted.ts"))
                entry["scripted"] = sorted(collect_ops(lower(scripted, x)))
            except Exception as e:  # noqa: BLE001
                entry["script_error"] = str(e).strip().splitlines()[0] if str(e) else repr(e)
        result[name] = entry
        for kind in ("traced", "scripted"):
            ops = entry[kind]
            if ops is None:
                err = entry["trace_error" if kind == "traced" else "script_error"]
                print(f"{name} [{kind}]: not available ({err})")
                continue
            union.update(ops)
            print(f"{name} [{kind}]: {' '.join(ops)}")
            if registered is not None:
                missing = [o for o in ops if o not in registered]
                print(f"  missing: {' '.join(missing) if missing else '(none)'}")
        sys.stdout.flush()
        if args.json:  # written after every model: a crash (or OOM kill) keeps what was done
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1, sort_keys=True)
        del model
        gc.collect()
    print(f"all models: {' '.join(sorted(union))}")
    if registered is not None:
        print(f"all missing: {' '.join(sorted(o for o in union if o not in registered))}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
