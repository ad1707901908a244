"""kiln.debug: find the layer where Kiln's result departs from PyTorch eager.

    result = kiln.debug.compare(model, [x])           # prints the first departing layer and a table
    result.first                                      # LayerDiff (module path, op, source line, errors)
    result.ok                                         # True when no layer departs

compare() exports the model as kiln.compile does (torch.export, core aten), rewrites the exported graph so
every intermediate tensor (every node computed from the inputs) is a graph output, builds it with Kiln's
own partitioner and converters, and runs it; PyTorch eager values of the same FX nodes come from running
the exported graph with torch.fx.Interpreter. Each value is compared in graph order; the first one outside
the tolerance is the layer that went wrong (everything before it agrees, so its inputs are right). FX node
metadata names it in the model's terms: module path (``nn_module_stack``) and source line
(``stack_trace``).

Marking every intermediate an output keeps each one in memory and stops fusions across layers, so the
engine built here is not byte for byte the one kiln.compile builds; a departure that only shows with
fusion is out of its reach (compare the final outputs of kiln.compile for that).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import operator
import sys
from typing import Any, Iterator, Optional

import torch
import torch.fx
import torch.utils._pytree as pytree

from kiln._modes import eval_mode
from kiln._errors import error_context
from kiln._input import Input, normalize_inputs
from kiln._settings import CompileSettings, debug_logging, make_settings
from kiln.dynamo._compiler import (
    _flat_for_graph,
    compile_graph,
    _move,
    export_module,
    import_graph,
    lower_exported,
    make_engines,
    partition,
)
from kiln.dynamo._graph import _ASSERT_TARGETS, op_name_of
from kiln.dynamo._stitch import stitch
from kiln.dynamo._where import module_of, source_of

# (rtol, atol) per computing precision. A value departs when max|kiln - eager| > atol + rtol * max|eager|:
# relative to the tensor's scale rather than per element, so values near zero do not trip it.
TOLERANCES: dict[str, tuple[float, float]] = {
    "fp64": (1e-7, 1e-10),
    "fp32": (1e-4, 1e-5),
    "tf32": (5e-3, 1e-3),
    "fp16": (1e-2, 1e-3),
    "bf16": (5e-2, 1e-2),
    "int8": (1e-1, 1e-2),
    "fp8": (1e-1, 1e-2),
}
_DTYPE_PRECISION = {
    torch.float64: "fp64",
    torch.float32: "fp32",
    torch.float16: "fp16",
    torch.bfloat16: "bf16",
}
_COARSER = ("fp64", "fp32", "tf32", "fp16", "bf16", "int8", "fp8")  # finer -> coarser


@dataclasses.dataclass
class LayerDiff:
    """One intermediate value: where it comes from in the model and how far Kiln's is from eager's."""

    index: int  # position in graph order
    node: str  # FX node name in the exported graph (e.g. "convolution_1")
    op: str  # aten overload ("aten::convolution")
    module: str  # module path ("layer1.0.conv2"; "" for the top-level module's own forward)
    module_type: str  # class of that module ("Conv2d")
    source: str  # the model's source line that produced it ("model.py:42"), "" when unknown
    code: str  # the text of that line, "" when unknown
    where: str  # "kiln" (computed by an engine) or "torch" (left to PyTorch)
    shape: tuple
    dtype: torch.dtype
    max_abs_err: float
    rel_err: float  # max_abs_err / max|eager|
    cosine: float  # cosine similarity of the flattened values (1.0 for all-zero pairs)
    allowed: float  # atol + rtol * max|eager|
    departs: bool
    note: str = ""  # shape / dtype / NaN mismatch

    @property
    def layer(self) -> str:
        """How the report names it: module path, or the top-level forward."""
        return self.module or "(top-level forward)"

    def describe(self) -> str:
        mod = f"{self.layer} ({self.module_type})" if self.module_type else self.layer
        src = f" at {self.source}" if self.source else ""
        text = f"{mod}: {self.op} (%{self.node}){src}"
        if self.code:
            text += f"\n    {self.code}"
        err = (
            f"\n    max abs err {self.max_abs_err:.3g}, rel err {self.rel_err:.3g}, cosine "
            f"{self.cosine:.6f} (allowed {self.allowed:.3g}); computed by {self.where}"
        )
        return text + err + (f"; {self.note}" if self.note else "")


@dataclasses.dataclass
class CompareResult:
    """What kiln.debug.compare found. ``first`` is the first departing layer (None: all agree);
    ``origins`` every departing layer whose inputs all agree (independent faults); ``layers`` all of them."""

    layers: list[LayerDiff]
    rtol: float
    atol: float
    precision: str

    @property
    def first(self) -> Optional[LayerDiff]:
        return next((d for d in self.layers if d.departs), None)

    outputs: list[LayerDiff] = dataclasses.field(default_factory=list)  # of the kiln.compile build
    origins: list[LayerDiff] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No intermediate departs, nor an output of the module as kiln.compile builds it."""
        return self.first is None and not any(o.departs for o in self.outputs)

    def table(self, max_rows: Optional[int] = None) -> str:
        head = ("#", "layer", "op", "node", "where", "max abs err", "rel err", "cosine", "")
        rows = []
        for d in self.layers:
            mark = "<- first" if d is self.first else ("!" if d.departs else "")
            rows.append(
                (
                    str(d.index),
                    d.layer,
                    d.op.removeprefix("aten::"),
                    d.node,
                    d.where,
                    f"{d.max_abs_err:.3g}",
                    f"{d.rel_err:.3g}",
                    f"{d.cosine:.6f}",
                    mark,
                )
            )
        if max_rows is not None and len(rows) > max_rows:
            keep = max_rows // 2
            rows = rows[:keep] + [("...",) + ("",) * (len(head) - 1)] + rows[-(max_rows - keep) :]
        widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
        fmt = "  ".join(f"{{:{'>' if i in (0, 5, 6, 7) else '<'}{w}}}" for i, w in enumerate(widths))
        return "\n".join(fmt.format(*r).rstrip() for r in [head] + rows)

    @property
    def text(self) -> str:
        n_kiln = sum(d.where == "kiln" for d in self.layers)
        lines = [
            f"kiln.debug.compare: {len(self.layers)} intermediate values ({n_kiln} computed by Kiln, "
            f"{len(self.layers) - n_kiln} by PyTorch), tolerance rtol={self.rtol:g} atol={self.atol:g} "
            f"({self.precision})"
        ]
        fused_bad = [o for o in self.outputs if o.departs]
        if self.first is None and fused_bad:
            o = fused_bad[0]
            lines.append(
                "No layer departs with every intermediate as an output, but the module as kiln.compile "
                f"builds it does: {o.node} max abs err {o.max_abs_err:.3g}, rel err {o.rel_err:.3g}, cosine "
                f"{o.cosine:.6f} (allowed {o.allowed:.3g}). The fault is in a fusion or an optimization "
                "across layers that this build does not make: bisect it with KILN_DISABLE_FUSION=1 or "
                "KILN_DISABLE_PASSES=<pass,...> (docs/debugging.md)."
            )
        elif self.first is None:
            also = (
                f" (nor the {len(self.outputs)} output(s) of the kiln.compile build)" if self.outputs else ""
            )
            lines.append(f"No layer departs from PyTorch eager beyond the tolerance{also}.")
        else:
            lines.append("First layer that departs from PyTorch eager:")
            lines.append("  " + self.first.describe())
            more = [o for o in self.origins if o is not self.first]
            if more:
                lines.append("Other departures whose inputs agree (independent of the first):")
                lines.extend("  " + o.describe() for o in more)
        lines.append(self.table(max_rows=60))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text


# ---- the probe graph -------------------------------------------------------------------------------------
def probe_nodes(gm: torch.fx.GraphModule) -> list[torch.fx.Node]:
    """Tensor-valued nodes computed from the inputs, in graph order (constants folded at build time and
    run-time assertions are not layers)."""
    from_input: set = set()
    out = []
    for n in gm.graph.nodes:
        if n.op == "placeholder":
            from_input.add(n)
            continue
        if n.op != "call_function" or n.target in _ASSERT_TARGETS:
            continue
        if not any(a in from_input for a in n.all_input_nodes):
            continue
        from_input.add(n)
        if isinstance(n.meta.get("val"), torch.Tensor):
            out.append(n)
    return out


def probe_graph(
    gm: torch.fx.GraphModule, probes: list[torch.fx.Node]
) -> tuple[torch.fx.GraphModule, dict[torch.fx.Node, torch.fx.Node]]:
    """A copy of `gm` that takes the flat inputs and returns every probe (plain codegen, no pytree), and
    the map from `gm`'s nodes to the copy's."""
    g = torch.fx.Graph()
    env: dict[torch.fx.Node, torch.fx.Node] = {}
    g.graph_copy(gm.graph, env)
    g.output(tuple(env[p] for p in probes))
    return torch.fx.GraphModule(gm, g, class_name="KilnProbeGraph"), env


class _Capture(torch.fx.Interpreter):
    """Runs the exported graph eagerly and keeps the value of every probe."""

    def __init__(self, gm: torch.fx.GraphModule, probes: list[torch.fx.Node]):
        super().__init__(gm, garbage_collect_values=True)
        self.want = set(probes)
        self.values: dict[torch.fx.Node, torch.Tensor] = {}

    def run_node(self, n: torch.fx.Node) -> Any:
        result = super().run_node(n)
        if n in self.want:
            self.values[n] = result
        return result


@contextlib.contextmanager
def _exact_fp32(enabled: bool) -> Iterator[None]:
    """Eager fp32 matmuls and convolutions in full fp32 (TF32 off) unless the engine may use TF32."""
    if not enabled:
        yield
        return
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


# ---- comparing -------------------------------------------------------------------------------------------
def _error_stats(got: Any, want: torch.Tensor) -> tuple[float, float, float, float, str]:
    """(max abs err, max|eager|, rel err, cosine, note) of Kiln's `got` against eager's `want`."""
    if not isinstance(got, torch.Tensor):
        return math.inf, 0.0, math.inf, 0.0, f"Kiln gave {type(got).__name__}, eager a tensor"
    if tuple(got.shape) != tuple(want.shape):
        return math.inf, 0.0, math.inf, 0.0, f"shape {list(got.shape)} vs eager {list(want.shape)}"
    note = "" if got.dtype == want.dtype else f"dtype {got.dtype} vs eager {want.dtype}"
    g = got.detach().to("cpu", torch.float64)
    w = want.detach().to("cpu", torch.float64)
    if g.numel() == 0:
        return 0.0, 0.0, 0.0, 1.0, note
    same_nonfinite = (~torch.isfinite(w)) & ((g == w) | (torch.isnan(g) & torch.isnan(w)))
    bad_nonfinite = (~torch.isfinite(g) | ~torch.isfinite(w)) & ~same_nonfinite
    if bool(bad_nonfinite.any()):
        k = int(bad_nonfinite.sum())
        note = (note + "; " if note else "") + f"{k} non-finite value(s) where eager differs"
    finite = torch.isfinite(g) & torch.isfinite(w)
    diff = torch.where(finite, (g - w).abs(), torch.zeros_like(g))
    max_abs = math.inf if bool(bad_nonfinite.any()) else float(diff.max())
    scale = float(torch.where(finite, w.abs(), torch.zeros_like(w)).max())
    rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    gf, wf = torch.where(finite, g, 0.0).flatten(), torch.where(finite, w, 0.0).flatten()
    ng, nw = float(gf.norm()), float(wf.norm())
    if ng == 0 and nw == 0:
        cos = 1.0
    elif ng == 0 or nw == 0:
        cos = 0.0
    else:
        cos = float((gf @ wf) / (ng * nw))
    return max_abs, scale, rel, cos, note


def _precision(settings: CompileSettings, dtypes: set) -> str:
    """The coarsest precision the engine may compute in: enabled precisions and the model's own dtypes."""
    names = set(settings.enabled_precisions) | {_DTYPE_PRECISION[d] for d in dtypes if d in _DTYPE_PRECISION}
    names = {n if n in TOLERANCES else "fp32" for n in names} or {"fp32"}
    return max(names, key=_COARSER.index)


def _where(imp: Any, res: dict) -> dict[torch.fx.Node, str]:
    """FX node of the probe graph -> "kiln" / "torch" (the segment that computes its value)."""
    seg_of = {}
    for seg in res["segments"]:
        for p in seg["nodes"]:
            seg_of[p] = "kiln" if seg["kiln"] else "torch"
    out = {}
    for n, v in imp.fx_value.items():
        vid = v if isinstance(v, int) else None
        if vid is None:
            continue
        producer = imp.values[vid].producer
        out[n] = seg_of.get(producer, "torch")
    return out


def compare(
    model: Any,
    inputs: Any,
    kwarg_inputs: Optional[dict] = None,
    *,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    check_fused: bool = True,
    device: Any = None,
    enabled_precisions: Any = None,
    min_block_size: int = 3,
    torch_executed_ops: Any = None,
    optimization_level: int = 3,
    debug: bool = False,
    verbose: bool = True,
    file: Any = None,
) -> CompareResult:
    """Builds `model` with Kiln with every intermediate value marked as an output, runs it and PyTorch
    eager on `inputs`, and reports the first layer whose output departs from eager.

    model: nn.Module or torch.export.ExportedProgram.
    inputs: example tensors for forward()'s positional args (kiln.Input: a random tensor at its opt shape);
    kwarg_inputs: the same for keyword args. The engine is built for exactly these shapes.
    rtol / atol: a value departs when max|kiln - eager| > atol + rtol * max|eager|. Default: by the coarsest
        precision the engine may compute in (enabled_precisions and the model's dtypes; see TOLERANCES).
    check_fused: also build the module as kiln.compile does (fusions across layers included) and compare its
        outputs (``CompareResult.outputs``): a fault only that build has shows there.
    device, enabled_precisions, min_block_size, torch_executed_ops, optimization_level, debug: as for
        kiln.compile (the same nodes run in Kiln as there).
    verbose: print the report (to `file`, default stdout).

    Returns a CompareResult: ``first`` (a LayerDiff naming module path, op and source line, or None),
    ``origins``, ``layers`` (the per-layer table), ``outputs``, ``ok``, ``text``.
    """
    settings = make_settings(
        enabled_precisions=enabled_precisions,
        min_block_size=min_block_size,
        torch_executed_ops=torch_executed_ops,
        device=device,
        optimization_level=optimization_level,
        debug=debug,
    )
    if not isinstance(check_fused, bool):
        raise TypeError(f"kiln.debug.compare: check_fused must be a bool, got {check_fused!r}")
    dev = settings.device
    arg_specs, kw_specs, arg_ex, kw_ex = normalize_inputs(inputs, None, kwarg_inputs)

    def value(spec: Any, ex: Any) -> Any:
        if isinstance(ex, torch.Tensor):
            return ex.to(dev)
        return spec.example_tensor("opt", dev) if isinstance(spec, Input) else ex

    arg_vals = tuple(pytree.tree_map(value, list(arg_specs), list(arg_ex), is_leaf=_is_input))
    kw_vals = {k: pytree.tree_map(value, v, kw_ex[k], is_leaf=_is_input) for k, v in kw_specs.items()}
    # Static shapes: exactly the values given.
    arg_specs = pytree.tree_map(_static, arg_vals)
    kw_specs = pytree.tree_map(_static, kw_vals)
    exact = "tf32" not in settings.enabled_precisions

    with debug_logging(settings), error_context("kiln.debug.compare"):
        gm = lower_exported(_export(model, arg_specs, kw_specs, arg_vals, kw_vals, dev))
        flat_specs = _flat_for_graph(gm, arg_specs, kw_specs)
        flat_vals = _flat_for_graph(gm, arg_vals, kw_vals)
        probes = probe_nodes(gm)
        with torch.no_grad(), _exact_fp32(exact):
            cap = _Capture(gm, probes)
            eager_out = pytree.tree_leaves(cap.run(*flat_vals))
        pgm, copy_of = probe_graph(gm, probes)
        imp, _ = import_graph(pgm, tuple(flat_specs), {}, tuple(flat_vals), {}, dev)
        res = partition(imp, settings, build=True)
        with torch.no_grad():
            got = stitch(imp, res, make_engines(res))(*flat_vals)
        fused_out = None
        if check_fused:
            compiled = compile_graph(gm, arg_specs, kw_specs, arg_vals, kw_vals, settings)
            with torch.no_grad():
                fused_out = pytree.tree_leaves(compiled(*arg_vals, **kw_vals))
    where = _where(imp, res)

    precision = _precision(settings, {v.dtype for v in cap.values.values()})
    d_rtol, d_atol = TOLERANCES[precision]
    rtol = d_rtol if rtol is None else float(rtol)
    atol = d_atol if atol is None else float(atol)
    layers = []
    for i, (n, k) in enumerate(zip(probes, got)):
        mod, cls = module_of(n)
        src, code = source_of(n)
        where_n = where.get(copy_of[n], "torch")
        layers.append(_diff(i, n.name, _op_of(n), mod, cls, src, code, where_n, k, cap.values[n], rtol, atol))
    outputs = []
    if fused_out is not None:
        want = [t for t in eager_out if isinstance(t, torch.Tensor)]
        got_t = [t for t in fused_out if isinstance(t, torch.Tensor)]
        for i, (k, w) in enumerate(zip(got_t, want)):
            outputs.append(_diff(i, f"output {i}", "output", "", "", "", "", "kiln", k, w, rtol, atol))
    result = CompareResult(layers=layers, rtol=rtol, atol=atol, precision=precision, outputs=outputs)
    result.origins = _origins(probes, layers)
    if verbose:
        print(result.text, file=file if file is not None else sys.stdout)
    return result


def _export(model: Any, arg_specs: Any, kw_specs: Any, arg_vals: Any, kw_vals: Any, dev: torch.device) -> Any:
    if isinstance(model, torch.export.ExportedProgram):
        return model
    if isinstance(model, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        raise TypeError(
            "kiln.debug.compare works on the exported graph (torch.export): pass the nn.Module itself, "
            "not its TorchScript module"
        )
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"kiln.debug.compare: expected an nn.Module or ExportedProgram, got {type(model).__name__}"
        )
    model = _move(model, dev)
    with eval_mode(model):
        return export_module(model, arg_specs, kw_specs, arg_vals, kw_vals, dev)


def _diff(
    i: int,
    node: str,
    op: str,
    module: str,
    cls: str,
    src: str,
    code: str,
    where: str,
    got: Any,
    want: torch.Tensor,
    rtol: float,
    atol: float,
) -> LayerDiff:
    max_abs, scale, rel, cos, note = _error_stats(got, want)
    allowed = atol + rtol * scale
    integral = not (want.is_floating_point() or want.is_complex())
    departs = (max_abs > 0 if integral else max_abs > allowed) or "shape" in note or "Kiln gave" in note
    return LayerDiff(
        index=i,
        node=node,
        op=op,
        module=module,
        module_type=cls,
        source=src,
        code=code,
        where=where,
        shape=tuple(want.shape),
        dtype=want.dtype,
        max_abs_err=max_abs,
        rel_err=rel,
        cosine=cos,
        allowed=0.0 if integral else allowed,
        departs=bool(departs),
        note=note,
    )


def _op_of(n: torch.fx.Node) -> str:
    """The aten overload; an item of a tuple-returning op as "aten::max_pool2d_with_indices[0]"."""
    if n.target is operator.getitem and isinstance(n.args[0], torch.fx.Node):
        return f"{op_name_of(n.args[0].target)}[{n.args[1]}]"
    return op_name_of(n.target)


def _origins(probes: list[torch.fx.Node], layers: list[LayerDiff]) -> list[LayerDiff]:
    """Departing layers none of whose (transitive, through non-probe nodes) probe inputs depart."""
    diff = dict(zip(probes, layers))
    out = []
    for n, d in diff.items():
        if not d.departs:
            continue
        seen, stack, clean = set(), list(n.all_input_nodes), True
        while stack and clean:
            a = stack.pop()
            if a in seen:
                continue
            seen.add(a)
            if a in diff:
                clean = not diff[a].departs
            else:
                stack.extend(a.all_input_nodes)
        if clean:
            out.append(d)
    return out


def _is_input(x: Any) -> bool:
    return isinstance(x, Input)


def _static(x: Any) -> Any:
    return Input(shape=tuple(x.shape), dtype=x.dtype) if isinstance(x, torch.Tensor) else x


__all__ = ["CompareResult", "LayerDiff", "TOLERANCES", "compare"]
