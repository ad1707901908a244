"""torch.fx GraphModule (core aten, from torch.export) -> the C++ OpGraph.

Every FX node becomes one OpGraph node named by its overload-qualified schema name ("aten::add.Tensor",
"aten::convolution"), the same names the TorchScript importer produces, with ALL schema arguments
positional (kwargs folded in, defaults filled). Parameters, buffers and lifted constants become constant
tensor values; Python scalars, lists, dtypes and None become constant values; lists that hold graph
values become prim::ListConstruct nodes. SymInt-valued nodes map onto the evaluators: sym_size ->
aten::size.int, operator.add/mul/... on ints -> aten::add.int / aten::mul.int / ...

Shapes: the graph is run with random inputs at the min, opt and max input shapes and every tensor's
dtype and three shapes are recorded (Value.meta), as kiln_torch/graph/torchscript_import.cpp does. The
runs use fake tensors (shapes only, no arithmetic: cheap at large max shapes); a graph with data-dependent
shapes (nonzero, item, ...) is run for real instead. Assertion nodes (_assert_scalar and the size
comparisons feeding them) are left out of the OpGraph and of the compiled module.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from typing import Any, Optional, Sequence

import torch
import torch.fx
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

from kiln._native import C
from kiln.dynamo._util import fetch_attr
from kiln.dynamo._where import describe_origin

_NO_CONST = object()

# Python-level ops on SymInts/SymFloats -> (int overload, float overload) of the evaluators.
_SYM_OPS = {
    operator.add: ("aten::add.int", "aten::add.float"),
    operator.sub: ("aten::sub.int", "aten::sub.float"),
    operator.mul: ("aten::mul.int", "aten::mul.float"),
    operator.floordiv: ("aten::floordiv.int", "aten::floordiv.float"),
    operator.truediv: ("aten::div.int", "aten::div.float"),
    operator.mod: ("aten::remainder.int", "aten::remainder.int"),
    operator.neg: ("aten::neg.int", "aten::neg.float"),
    operator.pow: ("aten::pow.int", "aten::pow.float"),
    torch.sym_max: ("prim::max.int", "prim::max.float"),
    torch.sym_min: ("prim::min.int", "prim::min.float"),
    math.floor: ("aten::floor.float", "aten::floor.float"),
    math.ceil: ("aten::ceil.float", "aten::ceil.float"),
    torch.sym_float: ("aten::Float.Scalar", "aten::Float.Scalar"),
    torch.sym_int: ("aten::Int.float", "aten::Int.float"),
}

# Nodes with no outputs that only check things at run time: not part of the OpGraph or the result.
_ASSERT_TARGETS = set()
for _name in (
    "_assert_scalar",
    "sym_constrain_range_for_size",
    "sym_constrain_range",
    "_assert_tensor_metadata",
    "_assert_async",
    "_functional_assert_async",
    "_functional_sym_constrain_range",
    "_functional_sym_constrain_range_for_size",
):
    _pkt = getattr(torch.ops.aten, _name, None)
    if _pkt is not None:
        for _ov in _pkt.overloads():
            _ASSERT_TARGETS.add(getattr(_pkt, _ov))


def op_name_of(target: Any) -> str:
    if isinstance(target, torch._ops.OpOverload):
        s = target._schema
        name = s.name + (f".{s.overload_name}" if s.overload_name else "")
        return "aten::size.int" if name == "aten::sym_size.int" else name
    if isinstance(target, torch._ops.HigherOrderOperator):
        return f"higher_order::{target.name()}"
    mod = getattr(target, "__module__", None) or ""
    qual = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or repr(target)
    return f"python::{mod + '.' if mod else ''}{qual}"


def _kind_of_value(v: Any) -> str:
    """Kind of a Python value (a constant or a node's meta['val'])."""
    if v is None:
        return "none"
    if isinstance(v, bool) or isinstance(v, torch.SymBool):
        return "bool"
    if isinstance(v, (int, torch.SymInt)):
        return "int"
    if isinstance(v, (float, torch.SymFloat)):
        return "float"
    if isinstance(v, torch.Tensor):
        return "tensor"
    if isinstance(v, str):
        return "string"
    if isinstance(v, torch.device):
        return "device"
    if isinstance(v, (torch.dtype, torch.layout, torch.memory_format)):
        return "int"
    if isinstance(v, (list, tuple)):
        if isinstance(v, tuple) and not v:
            return "tuple"
        if v and all(isinstance(x, (int, torch.SymInt)) and not isinstance(x, bool) for x in v):
            return "int_list"
        if v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            return "float_list"
        if v and all(isinstance(x, bool) for x in v):
            return "bool_list"
        if v and all(isinstance(x, torch.Tensor) for x in v):
            return "tensor_list"
        if v and all(x is None or isinstance(x, torch.Tensor) for x in v):
            return "optional_tensor_list"
        return "tuple" if isinstance(v, tuple) else "other"
    return "other"


def _kind_of_type(t: Any, value: Any) -> str:
    """Kind from a schema argument / return type (torch._C.JitType); None values are 'none'."""
    if value is None:
        return "none"
    if t is None:
        return _kind_of_value(value)
    k = t.kind()
    if k == "OptionalType":
        t = t.getElementType()
        k = t.kind()
    if k == "TensorType":
        return "tensor"
    if k in ("IntType", "SymIntType", "ScalarTypeType", "LayoutType", "MemoryFormatType"):
        return "int"
    if k in ("FloatType", "SymFloatType"):
        return "float"
    if k in ("BoolType", "SymBoolType"):
        return "bool"
    if k == "StringType":
        return "string"
    if k == "DeviceObjType":
        return "device"
    if k == "NumberType":  # Scalar
        return _kind_of_value(value) if not isinstance(value, torch.fx.Node) else "float"
    if k == "ListType":
        e = t.getElementType()
        ek = e.kind()
        if ek in ("IntType", "SymIntType"):
            return "int_list"
        if ek in ("FloatType", "SymFloatType"):
            return "float_list"
        if ek == "BoolType":
            return "bool_list"
        if ek == "TensorType":
            return "tensor_list"
        if ek == "OptionalType" and e.getElementType().kind() == "TensorType":
            return "optional_tensor_list"
        return "other"
    if k == "TupleType":
        return "tuple"
    return _kind_of_value(value)


def _short(a: Any) -> str:
    if isinstance(a, torch.fx.Node):
        return "%" + a.name
    if isinstance(a, (list, tuple)):
        inner = ", ".join(_short(x) for x in a)
        return f"[{inner}]" if isinstance(a, list) else f"({inner})"
    if isinstance(a, torch.Tensor):
        return f"tensor{list(a.shape)}"
    return repr(a)


def _source(node: torch.fx.Node, op: str, args: Sequence[Any]) -> str:
    s = f"%{node.name} = {op}({', '.join(_short(a) for a in args)})"
    origin = describe_origin(node)  # the model's module and line, not torch's
    return f"{s}  # {origin}" if origin else s


def normalize_args(schema: Any, args: Sequence[Any], kwargs: dict) -> list[Any]:
    """All schema arguments in order: positional args, then kwargs by name, then defaults."""
    out = []
    kwargs = dict(kwargs)
    for i, a in enumerate(schema.arguments):
        if i < len(args):
            out.append(args[i])
        elif a.name in kwargs:
            out.append(kwargs.pop(a.name))
        elif a.has_default_value():
            out.append(a.default_value)
        elif a.type.kind() == "OptionalType":
            out.append(None)
        else:
            raise ValueError(f"{schema.name}: argument '{a.name}' is missing")
    if kwargs:
        raise ValueError(f"{schema.name}: unknown keyword arguments {sorted(kwargs)}")
    return out


@dataclasses.dataclass
class OpNode:
    """Python side of one OpGraph node: where it came from in the FX graph."""

    op: str
    fx_node: Optional[torch.fx.Node]  # None for synthetic prim::ListConstruct nodes
    inputs: list[int]
    outputs: list[int]
    multi_output: bool = False  # the FX node returns a tuple (outputs are its items)


@dataclasses.dataclass
class ValueSource:
    kind: str
    fx_node: Optional[torch.fx.Node] = None  # placeholder / get_attr / producing node
    index: Optional[int] = None  # item of a multi-output node
    constant: Any = _NO_CONST  # Python constant (literals, get_attr tensors)
    producer: int = -1


class ImportedGraph:
    def __init__(self, gm: torch.fx.GraphModule):
        self.gm = gm
        self.og = C.OpGraph()
        self.nodes: list[OpNode] = []
        self.values: list[ValueSource] = []
        self.fx_value: dict[torch.fx.Node, Any] = {}  # node -> value id, or list of ids (multi-output)
        self.fx_op: dict[torch.fx.Node, int] = {}  # node -> OpGraph node index
        self.inputs: list[int] = []  # placeholder value ids in order
        self.placeholders: list[torch.fx.Node] = []
        self.outputs: list[int] = []
        self.output_node: Optional[torch.fx.Node] = None
        self.dropped: list[torch.fx.Node] = []
        self.input_specs: list = []  # kiln.Input (or constant) per placeholder, set by import_graph
        self._build()

    # ---- values -----------------------------------------------------------------------------------
    def _new_value(self, name: str, kind: str, src: ValueSource, constant: Any = _NO_CONST) -> int:
        if constant is not _NO_CONST:
            vid = self.og.add_value(name, kind, constant, True)
        else:
            vid = self.og.add_value(name, kind)
        src.kind = kind
        src.constant = constant
        self.values.append(src)
        assert vid == len(self.values) - 1
        return vid

    def _constant(self, value: Any, kind: str, name: str = "const") -> int:
        if kind == "none" or value is None:
            return self._new_value(name, "none", ValueSource("none"), None)
        if isinstance(value, torch.Tensor):
            value = value.detach()
        try:
            return self._new_value(name, kind, ValueSource(kind), value)
        except TypeError:
            # Not representable as a graph constant (complex, custom objects): the node stays in PyTorch.
            return self._new_value(name, "other", ValueSource("other"))

    def _node_value(self, n: torch.fx.Node) -> int:
        v = self.fx_value.get(n)
        if v is None:
            raise ValueError(f"kiln: FX node {n.name} ({n.op} {n.target}) is used before it is defined")
        if isinstance(v, list):
            # A tuple-returning node used as a whole: a list of its items.
            return self._list_node(n.name + ".items", v, "other")
        return v

    def _list_node(self, name: str, ids: list[int], kind: str) -> int:
        out = self._new_value(name, kind, ValueSource(kind))
        idx = self.og.add_node("prim::ListConstruct", ids, [out], f"%{name} = prim::ListConstruct(...)", -1)
        self.nodes.append(OpNode("prim::ListConstruct", None, list(ids), [out]))
        self.values[out].producer = idx
        return out

    def _arg(self, a: Any, t: Any, name: str) -> int:
        if isinstance(a, torch.fx.Node):
            return self._node_value(a)
        if isinstance(a, (list, tuple)) and any(isinstance(x, torch.fx.Node) for x in _leaves(a)):
            elem_t = None
            if t is not None:
                tt = t.getElementType() if t.kind() == "OptionalType" else t
                if tt.kind() == "ListType":
                    elem_t = tt.getElementType()
            ids = [self._arg(x, elem_t, f"{name}.{i}") for i, x in enumerate(a)]
            kind = _kind_of_type(t, a) if t is not None else "other"
            if kind in ("other", "none"):
                kinds = {self.values[i].kind for i in ids}
                kind = "int_list" if kinds <= {"int"} else "tensor_list" if kinds <= {"tensor"} else "other"
            return self._list_node(name, ids, kind)
        return self._constant(a, _kind_of_type(t, a), name)

    # ---- nodes ------------------------------------------------------------------------------------
    def _add_op(
        self,
        node: torch.fx.Node,
        op: str,
        inputs: list[int],
        out_kinds: list[str],
        multi: bool,
        args_for_source: Sequence[Any],
    ) -> None:
        outs = []
        for k, kind in enumerate(out_kinds):
            nm = node.name if not multi else f"{node.name}.{k}"
            outs.append(self._new_value(nm, kind, ValueSource(kind, node, k if multi else None)))
        idx = self.og.add_node(op, inputs, outs, _source(node, op, args_for_source), len(self.nodes))
        assert idx == len(self.nodes)
        self.nodes.append(OpNode(op, node, inputs, outs, multi))
        for o in outs:
            self.values[o].producer = idx
        self.fx_op[node] = idx
        self.fx_value[node] = outs if multi else (outs[0] if outs else None)

    def _assert_only(self) -> set:
        """Run-time checks (_assert_scalar and friends) and the nodes that only feed them (the comparisons
        of sizes they test): none of them is part of the OpGraph or of the compiled module."""
        dropped: set = set()
        for node in reversed(list(self.gm.graph.nodes)):
            if node.op == "call_function" and node.target in _ASSERT_TARGETS:
                dropped.add(node)
            elif (
                node.op == "call_function"
                and node.users
                and all(u in dropped for u in node.users)
                and not isinstance(node.meta.get("val"), torch.Tensor)
            ):
                dropped.add(node)
            elif node.op == "call_module" and node.target == "_guards_fn":
                dropped.add(node)
        return dropped

    def _build(self) -> None:
        checks = self._assert_only()
        for node in self.gm.graph.nodes:
            if node in checks:
                self.dropped.append(node)
                continue
            if node.op == "placeholder":
                val = node.meta.get("val")
                kind = _kind_of_value(val) if val is not None else "tensor"
                vid = self._new_value(node.name, kind, ValueSource(kind, node))
                self.fx_value[node] = vid
                self.inputs.append(vid)
                self.placeholders.append(node)
            elif node.op == "get_attr":
                obj = fetch_attr(self.gm, node.target)
                if isinstance(obj, torch.Tensor):
                    vid = self._new_value(node.name, "tensor", ValueSource("tensor", node), obj.detach())
                else:
                    vid = self._new_value(node.name, "other", ValueSource("other", node))
                self.fx_value[node] = vid
            elif node.op == "call_module" and node.target == "_guards_fn":
                self.dropped.append(node)
            elif node.op == "call_function" and node.target in _ASSERT_TARGETS:
                self.dropped.append(node)
            elif node.op == "call_function" and node.target is operator.getitem:
                self._getitem(node)
            elif node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload):
                self._overload(node)
            elif node.op == "call_function" and node.target in _SYM_OPS:
                self._sym_op(node)
            elif node.op in ("call_function", "call_module", "call_method"):
                self._opaque(node)
            elif node.op == "output":
                self.output_node = node
                for leaf in _leaves(node.args[0]):
                    if isinstance(leaf, torch.fx.Node):
                        self.outputs.append(self._node_value(leaf))
        self.og.set_inputs(self.inputs)
        self.og.set_outputs(self.outputs)

    def _overload(self, node: torch.fx.Node) -> None:
        schema = node.target._schema
        op = op_name_of(node.target)
        try:
            args = normalize_args(schema, node.args, node.kwargs)
        except ValueError:
            self._opaque(node)
            return
        inputs = [self._arg(a, s.type, f"{node.name}.{s.name}") for a, s in zip(args, schema.arguments)]
        rets = list(schema.returns)
        val = node.meta.get("val")
        if len(rets) == 0:
            if not node.users:
                self.dropped.append(node)
                return
            kinds, multi = [_kind_of_value(val)], False
        elif len(rets) == 1:
            kinds, multi = [_kind_of_type(rets[0].type, val if val is not None else 0)], False
        else:
            items = list(val) if isinstance(val, (list, tuple)) else [None] * len(rets)
            kinds = [
                _kind_of_type(r.type, items[k] if items[k] is not None else 0) for k, r in enumerate(rets)
            ]
            multi = True
        self._add_op(node, op, inputs, kinds, multi, args)

    def _getitem(self, node: torch.fx.Node) -> None:
        src, idx = node.args[0], node.args[1]
        sv = self.fx_value.get(src) if isinstance(src, torch.fx.Node) else None
        if isinstance(sv, list) and isinstance(idx, int):
            self.fx_value[node] = sv[idx]  # an item of a tuple-returning node: no OpGraph node
            return
        if isinstance(src, torch.fx.Node) and isinstance(idx, int):
            val = node.meta.get("val")
            inputs = [self._node_value(src), self._constant(idx, "int", f"{node.name}.index")]
            self._add_op(
                node,
                "aten::__getitem__.t",
                inputs,
                [_kind_of_value(val) if val is not None else "other"],
                False,
                node.args,
            )
            return
        self._opaque(node)

    def _sym_op(self, node: torch.fx.Node) -> None:
        names = _SYM_OPS[node.target]
        vals = [a.meta.get("val") if isinstance(a, torch.fx.Node) else a for a in node.args]
        is_int = all(isinstance(v, (int, torch.SymInt)) and not isinstance(v, bool) for v in vals)
        op = names[0] if is_int else names[1]
        inputs = [self._arg(a, None, f"{node.name}.{i}") for i, a in enumerate(node.args)]
        self._add_op(node, op, inputs, [_kind_of_value(node.meta.get("val", 0))], False, node.args)

    def _opaque(self, node: torch.fx.Node) -> None:
        """Anything without a schema (Python functions, higher-order ops, modules): runs in PyTorch."""
        op = op_name_of(node.target) if node.op == "call_function" else f"{node.op}::{node.target}"
        deps = []
        for leaf in _leaves((node.args, node.kwargs)):
            if isinstance(leaf, torch.fx.Node) and leaf in self.fx_value:
                v = self.fx_value[leaf]
                deps.extend(v if isinstance(v, list) else [v] if v is not None else [])
        val = node.meta.get("val")
        if (
            isinstance(val, (list, tuple))
            and any(isinstance(x, torch.Tensor) for x in val)
            and all(u.op == "call_function" and u.target is operator.getitem for u in node.users)
        ):
            self._add_op(node, op, deps, [_kind_of_value(x) for x in val], True, node.args)
        else:
            self._add_op(
                node, op, deps, [_kind_of_value(val) if val is not None else "other"], False, node.args
            )

    # ---- shapes -----------------------------------------------------------------------------------
    def _data_dependent_values(self) -> set[int]:
        """Value ids of tensors whose shape torch.export left data-dependent (an unbacked size: a slice
        up to an item(), a masked_select). They get no meta, so no engine reads or makes them: the
        recording runs' shapes need not hold at run time. nonzero is the exception (the engine reports
        its rows: an output allocator; nothing inside Kiln may read them, its converter checks)."""
        out: set[int] = set()
        for node, vids in self.fx_value.items():
            if node.op != "call_function" or node.target == torch.ops.aten.nonzero.default:
                continue
            vals = node.meta.get("val")
            vals = vals if isinstance(vals, (list, tuple)) else [vals]
            ids = vids if isinstance(vids, list) else [vids]
            for vid, val in zip(ids, vals):
                if isinstance(vid, int) and isinstance(val, torch.Tensor):
                    if any(free_unbacked_symbols(d) for d in val.shape):
                        out.add(vid)
        return out

    def set_metas(self, runs: list[dict]) -> None:
        """runs: per bound (min, opt, max) a dict value id -> (dtype, shape) of the tensors seen."""
        data_dependent = self._data_dependent_values()
        for vid in range(len(self.values)):
            got = [r.get(vid) for r in runs]
            if any(g is None for g in got) or vid in data_dependent:
                continue
            dt = got[1][0]
            shapes = [list(g[1]) for g in got]
            if len({len(s) for s in shapes}) != 1:
                continue  # rank varies: no meta (the node falls back to PyTorch)
            self.og.set_meta(vid, dt, shapes[0], shapes[1], shapes[2])


def _leaves(x: Any) -> list:
    out = []

    def rec(a):
        if isinstance(a, (list, tuple)):
            for b in a:
                rec(b)
        elif isinstance(a, dict):
            for b in a.values():
                rec(b)
        else:
            out.append(a)

    rec(x)
    return out


class _Recorder(torch.fx.Interpreter):
    """Runs the graph and records dtype + shape of every tensor value (by OpGraph value id)."""

    def __init__(self, imp: ImportedGraph):
        super().__init__(imp.gm, garbage_collect_values=True)
        self.imp = imp
        self.seen: dict[int, tuple[torch.dtype, tuple[int, ...]]] = {}
        self._dropped = set(imp.dropped)

    def run_node(self, n: torch.fx.Node) -> Any:
        if n in self._dropped:
            return None
        result = super().run_node(n)
        v = self.imp.fx_value.get(n)
        if isinstance(v, list):
            items = result if isinstance(result, (list, tuple)) else []
            for vid, item in zip(v, items):
                if isinstance(item, torch.Tensor):
                    self.seen[vid] = (item.dtype, tuple(item.shape))
        elif isinstance(v, int) and isinstance(result, torch.Tensor):
            self.seen[v] = (result.dtype, tuple(result.shape))
        return result


def _run_bound(imp: ImportedGraph, flat: list[Any], fake: bool) -> dict:
    rec = _Recorder(imp)
    if not fake:
        with torch.no_grad():
            rec.run(*flat)
        return rec.seen
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    fake_flat = [mode.from_tensor(t) if isinstance(t, torch.Tensor) else t for t in flat]
    with mode, torch.no_grad():
        rec.run(*fake_flat)
    return rec.seen


def record_shapes(imp: ImportedGraph, flat_inputs_per_bound: list[list[Any]]) -> None:
    """Shapes at min / opt / max: with fake tensors (no compute) when the graph allows, else by running it."""
    runs = []
    for which, flat in zip(("min", "opt", "max"), flat_inputs_per_bound):
        try:
            runs.append(_run_bound(imp, flat, fake=True))
            continue
        except Exception:  # noqa: BLE001 - data-dependent ops: run for real
            pass
        try:
            runs.append(_run_bound(imp, flat, fake=False))
        except Exception as e:  # noqa: BLE001 - reported with context
            raise RuntimeError(
                f"kiln: running the exported graph at its {which} input shapes failed: {e}"
            ) from e
    imp.set_metas(runs)
