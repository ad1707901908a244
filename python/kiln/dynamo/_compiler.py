"""The dynamo / torch.export frontend: export -> core aten -> OpGraph -> partition_and_build -> stitch."""

from __future__ import annotations

import copy
import hashlib
import inspect
import logging as _pylogging
import os
import tempfile
import warnings
from typing import Any, Optional

import torch
import torch.fx
import torch.utils._pytree as pytree
from torch.fx import _pytree as fx_pytree

from kiln import _progress
from kiln._modes import eval_mode
from kiln.ptq import quantize_graph
from kiln._errors import ExportError, UnsupportedOperatorError, raise_status
from kiln._engine_module import EngineModule
from kiln._input import Input
from kiln._input_check import install as install_input_check
from kiln._native import C, build_info
from kiln._report import SupportReport
from kiln._settings import CompileSettings
from kiln.dynamo._export import example_value, export_module
from kiln.dynamo._graph import ImportedGraph, record_shapes
from kiln.dynamo._stitch import stitch

_log = _pylogging.getLogger("kiln")


def _inputs_from_exported(ep: torch.export.ExportedProgram) -> tuple[tuple, dict]:
    """Inputs for an ExportedProgram given without any: its example inputs, with the ranges of its
    dynamic dims (which must be bounded)."""
    ex = getattr(ep, "example_inputs", None)
    if not ex:
        raise ValueError(
            "kiln.compile: this ExportedProgram has no example inputs; pass arg_inputs=[kiln.Input(...)]"
        )
    args, kwargs = ex
    ranges = ep.range_constraints

    def spec(node_val: Any, example: Any) -> Any:
        if not isinstance(example, torch.Tensor):
            return example
        lo, opt, hi = [], [], []
        for d, s in enumerate(node_val.shape if node_val is not None else example.shape):
            size = int(example.shape[d])
            if isinstance(s, torch.SymInt):
                r = ranges.get(s.node.expr)
                upper = getattr(r, "upper", None) if r is not None else None
                lower = getattr(r, "lower", None) if r is not None else None
                try:
                    upper_i, lower_i = int(upper), int(lower)
                except Exception:  # noqa: BLE001 - sympy oo / int_oo: unbounded
                    raise ValueError(
                        f"kiln.compile: dim {d} of an input of the ExportedProgram is dynamic without an "
                        "upper bound; pass arg_inputs=[kiln.Input(min_shape=..., opt_shape=..., "
                        "max_shape=...)]"
                    ) from None
                lo.append(max(lower_i, 1))
                opt.append(size)
                hi.append(upper_i)
            else:
                lo.append(size)
                opt.append(size)
                hi.append(size)
        return Input(min_shape=lo, opt_shape=opt, max_shape=hi, dtype=example.dtype)

    placeholders = [n for n in ep.graph.nodes if n.op == "placeholder"]
    user = [n for n, s in zip(placeholders, ep.graph_signature.input_specs) if s.kind.name == "USER_INPUT"]
    flat_ex, tree = pytree.tree_flatten((args, kwargs))
    vals = [n.meta.get("val") for n in user]
    tensor_vals = iter(v for v in vals)
    specs = []
    for e in flat_ex:
        v = next(tensor_vals, None) if isinstance(e, torch.Tensor) else None
        specs.append(spec(v, e))
    a, k = pytree.tree_unflatten(specs, tree)
    return tuple(a), dict(k)


def _widen_to_program(
    ep: torch.export.ExportedProgram, arg_specs: tuple, kwarg_specs: dict, arg_ex: Any, kw_ex: Any
):
    """Example tensors given for an ExportedProgram take the program's own ranges for its dynamic dims
    (bounded ones; an unbounded dim stays at the example's size), so the engines are as dynamic as the program.
    kiln.Input specs are kept as given."""
    ranges = ep.range_constraints
    placeholders = [n for n in ep.graph.nodes if n.op == "placeholder"]
    user = [n for n, s in zip(placeholders, ep.graph_signature.input_specs) if s.kind.name == "USER_INPUT"]
    vals = iter(n.meta.get("val") for n in user)
    flat_specs, tree = pytree.tree_flatten((arg_specs, kwarg_specs), is_leaf=lambda x: isinstance(x, Input))
    flat_ex = pytree.tree_leaves((arg_ex, kw_ex), is_leaf=lambda x: isinstance(x, Input))
    if len(flat_ex) != len(flat_specs):
        return arg_specs, kwarg_specs
    out = []
    for spec, ex in zip(flat_specs, flat_ex):
        val = next(vals, None) if isinstance(spec, Input) else None
        if not (isinstance(ex, torch.Tensor) and isinstance(spec, Input) and val is not None):
            out.append(spec)
            continue
        lo, hi = list(spec.min_shape), list(spec.max_shape)
        for d, s in enumerate(getattr(val, "shape", ())):
            r = ranges.get(s.node.expr) if isinstance(s, torch.SymInt) else None
            try:
                lower, upper = int(r.lower), int(r.upper)
            except Exception:  # noqa: BLE001 - static, or unbounded (sympy oo): the example's size
                continue
            if d < len(lo) and lower <= lo[d] <= upper:
                lo[d], hi[d] = max(lower, 1), upper
        out.append(
            Input(min_shape=lo, opt_shape=spec.opt_shape, max_shape=hi, dtype=spec.dtype, format=spec.format)
        )
    a, k = pytree.tree_unflatten(out, tree)
    return tuple(a), dict(k)


def _needs_inputs(module: torch.nn.Module) -> bool:
    """Whether forward() has a parameter without a default (a module with none compiles with inputs=[])."""
    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in params
    )


def _flat_for_graph(gm: torch.fx.GraphModule, arg_tree: tuple, kwarg_tree: dict) -> list:
    in_spec = getattr(gm, "_in_spec", None)
    if in_spec is not None:
        return list(fx_pytree.tree_flatten_spec((list(arg_tree), dict(kwarg_tree)), in_spec))
    return pytree.tree_leaves((arg_tree, kwarg_tree))


def _in_spec_of(gm: torch.fx.GraphModule) -> Any:
    in_spec = getattr(gm, "_in_spec", None)
    if in_spec is None:
        in_spec = getattr(getattr(gm.graph._codegen, "pytree_info", None), "in_spec", None)
    return in_spec


def _cache_key(gm: torch.fx.GraphModule, flat_specs: list, settings: CompileSettings) -> str:
    h = hashlib.sha256()
    h.update(f"kiln {C.kiln_version} torch {torch.__version__} {build_info.built_at}\n".encode())
    h.update(repr(sorted(settings.cache_key_fields().items())).encode())
    h.update(repr([repr(s) for s in flat_specs]).encode())
    h.update(gm.code.encode())
    for n in gm.graph.nodes:
        if n.op == "get_attr":
            obj = gm
            for a in n.target.split("."):
                obj = getattr(obj, a)
            if isinstance(obj, torch.Tensor):
                t = obj.detach().cpu().contiguous()
                h.update(f"{n.target}:{t.dtype}:{tuple(t.shape)}".encode())
                h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:32]


def _load_cached(path: str) -> Optional[dict]:
    try:
        return torch.load(path, weights_only=True)
    except Exception:  # noqa: BLE001 - a damaged cache entry is rebuilt
        return None


def _store_cached(path: str, result: dict) -> None:
    data = {
        seg["name"]: {
            "plan": seg["plan"],
            "input_names": seg["input_names"],
            "output_names": seg["output_names"],
        }
        for seg in result["segments"]
        if seg["kiln"]
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    os.close(fd)
    torch.save(data, tmp)
    os.replace(tmp, path)


def partition(
    imp: ImportedGraph, settings: CompileSettings, build: bool, cache_key: Optional[str] = None
) -> dict:
    options = settings.partition_options()
    cache_path = None
    if build and settings.engine_cache_dir and cache_key:
        cache_path = os.path.join(settings.engine_cache_dir, f"{cache_key}.kiln")
        cached = _load_cached(cache_path) if os.path.exists(cache_path) else None
        if cached is not None:
            res = C.partition(imp.og, False, options)
            if "error" in res:
                raise_status(*res["error"], context="kiln.compile")
            kiln_segs = [s for s in res["segments"] if s["kiln"]]
            if all(s["name"] in cached for s in kiln_segs) and len(kiln_segs) == len(cached):
                for s in kiln_segs:
                    s.update(cached[s["name"]])
                _log.info("engine cache hit: %s", cache_path)
                return res
    _progress.stage("partition" + (", build engines" if build else ""))
    with _progress.engine_builds() as cb:
        res = C.partition(imp.og, build, options, cb)
    if "error" in res:
        raise_status(*res["error"], context="kiln.compile")
    if cache_path:
        _store_cached(cache_path, res)
    return res


def make_engines(result: dict) -> dict[str, Any]:
    engines = {}
    for seg in result["segments"]:
        if seg["kiln"]:
            engines[seg["name"]] = torch.classes.kiln.Engine(
                seg["plan"], seg["input_names"], seg["output_names"], seg["name"]
            )
    return engines


def _move(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    for t in list(module.parameters()) + list(module.buffers()):
        if t.device != device:
            return copy.deepcopy(module).to(device)
    return module


def lower_exported(ep: torch.export.ExportedProgram) -> torch.fx.GraphModule:
    """Core aten (run_decompositions) and the unlifted GraphModule (parameters as get_attr)."""
    with warnings.catch_warnings():
        # torch's own deepcopy of tree specs inside run_decompositions (torch 2.11)
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        try:
            ep = ep.run_decompositions()
        except Exception as e:
            resized = _resizes(ep)
            if not resized:
                raise
            raise ExportError(
                f"kiln: torch.export cannot functionalize the in-place resize of {', '.join(resized)} "
                "(Tensor.resize_ / resize_as_ of a forward() input): resize a new tensor instead, e.g. "
                "y = x.clone(); y.resize_(...), or x.new_empty(shape) / x.reshape(shape), and use y from there on.",
                "InvalidArgument",
            ) from e
        return ep.module()


def _resizes(ep: torch.export.ExportedProgram) -> list[str]:
    """Inputs of the program that it resizes in place (aten.resize_ / resize_as_), by name."""
    ops = (torch.ops.aten.resize_.default, torch.ops.aten.resize_as_.default)
    user = {s.arg.name for s in ep.graph_signature.input_specs if s.kind.name == "USER_INPUT"}
    out = []
    for n in ep.graph.nodes:
        if n.op == "call_function" and n.target in ops and n.args:
            a = n.args[0]
            if isinstance(a, torch.fx.Node) and a.name in user:
                out.append(f"input '{a.name}'")
    return out


def _narrow_to_export_range(node: torch.fx.Node, spec: Any) -> Any:
    """The input's dynamic dims narrowed to the range torch.export found the model needs (a select at
    index 3 needs size >= 4, a 3-D pooling of kernel 3 needs >= 3), so shapes are analysed and engines built
    only where eager runs. Export's own floor of 2 (it specializes sizes 0 and 1) is not a model's need."""
    val = node.meta.get("val")
    if not isinstance(spec, Input) or not spec.is_dynamic() or not isinstance(val, torch.Tensor):
        return spec
    lo, opt, hi = list(spec.min_shape), list(spec.opt_shape), list(spec.max_shape)
    changed = []
    for d in spec.dynamic_dims():
        s = val.shape[d] if d < val.dim() else None
        expr = getattr(getattr(s, "node", None), "expr", None)
        if expr is None or not expr.is_Symbol:
            continue
        vr = s.node.shape_env.var_to_range.get(expr)
        if vr is None:
            continue
        try:
            need_lo, need_hi = int(vr.lower), int(vr.upper) if vr.upper.is_finite else None
        except (TypeError, ValueError):
            continue
        new_lo = max(lo[d], need_lo) if need_lo > 2 else lo[d]
        new_hi = min(hi[d], need_hi) if need_hi is not None else hi[d]
        if (new_lo, new_hi) != (lo[d], hi[d]) and new_lo <= new_hi:
            changed.append(f"dim {d}: [{lo[d]}, {hi[d]}] -> [{new_lo}, {new_hi}]")
            lo[d], hi[d] = new_lo, new_hi
            opt[d] = min(max(opt[d], new_lo), new_hi)
    if not changed:
        return spec
    _log.warning(
        "kiln: input '%s' narrowed to the sizes the model accepts (torch.export's range): %s",
        node.name,
        "; ".join(changed),
    )
    return Input(min_shape=lo, opt_shape=opt, max_shape=hi, dtype=spec.dtype, format=spec.format)


def import_graph(
    gm: torch.fx.GraphModule,
    arg_specs: tuple,
    kwarg_specs: dict,
    arg_examples: tuple,
    kwarg_examples: dict,
    device: torch.device,
    narrow: bool = False,
) -> tuple[ImportedGraph, list]:
    """The graph with the shapes of every value at the min / opt / max input shapes; `narrow`: dynamic dims
    narrowed to the range torch.export found (see _narrow_to_export_range), None when that changes nothing."""
    flat_specs = _flat_for_graph(gm, arg_specs, kwarg_specs)
    flat_examples = (
        _flat_for_graph(gm, arg_examples, kwarg_examples) if arg_examples or kwarg_examples else flat_specs
    )
    imp = ImportedGraph(gm)
    if len(flat_specs) != len(imp.placeholders):
        raise ValueError(
            f"kiln.compile: the graph takes {len(imp.placeholders)} inputs but {len(flat_specs)} were given"
        )
    if narrow:
        narrowed = [_narrow_to_export_range(n, s) for n, s in zip(imp.placeholders, flat_specs)]
        if all(a is b for a, b in zip(narrowed, flat_specs)):
            return None
        flat_specs = narrowed
    per_bound = [
        [example_value(s, e, which, device) for s, e in zip(flat_specs, flat_examples)]
        for which in ("min", "opt", "max")
    ]
    record_shapes(imp, per_bound)
    imp.input_specs = list(flat_specs)
    return imp, flat_specs


def _import_and_partition(
    gm: torch.fx.GraphModule,
    arg_specs: tuple,
    kwarg_specs: dict,
    arg_examples: tuple,
    kwarg_examples: dict,
    settings: CompileSettings,
    dry_run: bool,
    narrow: bool,
) -> Optional[tuple]:
    got = import_graph(gm, arg_specs, kwarg_specs, arg_examples, kwarg_examples, settings.device, narrow)
    if got is None:
        return None
    imp, flat_specs = got
    key = _cache_key(gm, flat_specs, settings) if settings.engine_cache_dir and not dry_run else None
    return imp, partition(imp, settings, build=not dry_run, cache_key=key)


def compile_graph(
    gm: torch.fx.GraphModule,
    arg_specs: tuple,
    kwarg_specs: dict,
    arg_examples: tuple,
    kwarg_examples: dict,
    settings: CompileSettings,
    dry_run: bool = False,
    engine_modules: bool = False,
) -> Any:
    try:
        imp, res = _import_and_partition(
            gm, arg_specs, kwarg_specs, arg_examples, kwarg_examples, settings, dry_run, False
        )
    except UnsupportedOperatorError:
        raise
    except Exception as e:
        # Shape analysis or the build rejected the inputs' min / max shapes: again within the range
        # torch.export found the model accepts, when that is narrower.
        try:
            got = _import_and_partition(
                gm, arg_specs, kwarg_specs, arg_examples, kwarg_examples, settings, dry_run, True
            )
        except Exception:  # noqa: BLE001 - the first attempt's error says what the user gave
            got = None
        if got is None:
            raise e from None
        imp, res = got
    report = SupportReport.from_result(res)
    if dry_run:
        return report
    _log.info("%s", report.text.rstrip())
    if report.fallback_summary:  # each op left to PyTorch, where it sits in the model and why
        _log.warning("%s", report.fallback_summary)
    engines = make_engines(res)
    _progress.engines_built(engines, report.torch_nodes)
    _progress.stage("stitch")
    mods = None
    if engine_modules:
        mods = {}
        for seg in res["segments"]:
            if seg["kiln"]:
                mods[seg["name"]] = EngineModule(
                    engines[seg["name"]], seg["input_names"], seg["output_names"]
                )
        engines = {}
    out = stitch(imp, res, engines, engine_modules=mods)
    out.eval()  # engines compute inference: the compiled module says so (a new GraphModule starts in train mode)
    # Inputs outside the compiled ranges are reported by forward()'s argument names before any engine runs.
    install_input_check(out, [p.name for p in imp.placeholders], imp.input_specs, _in_spec_of(gm))
    out.meta["kiln"] = {
        "report": report,
        "arg_inputs": arg_specs,
        "kwarg_inputs": kwarg_specs,
        "report_data": res.get("report_json", ""),  # nodes and segments, for kiln.report
        "backend": settings.backend,
    }
    return out


def compile_dynamo(
    module: Any,
    arg_specs: tuple,
    kwarg_specs: dict,
    arg_examples: tuple,
    kwarg_examples: dict,
    settings: CompileSettings,
    dry_run: bool = False,
    engine_modules: bool = False,
    calibrator: Any = None,
) -> Any:
    device = settings.device
    if isinstance(module, torch.export.ExportedProgram):
        ep = module
        if not arg_specs and not kwarg_specs:
            arg_specs, kwarg_specs = _inputs_from_exported(ep)
            arg_examples, kwarg_examples = arg_specs, kwarg_specs
        else:
            arg_specs, kwarg_specs = _widen_to_program(
                ep, arg_specs, kwarg_specs, arg_examples, kwarg_examples
            )
    else:
        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                f"kiln.compile: expected an nn.Module or ExportedProgram, got {type(module).__name__}"
            )
        if not arg_specs and not kwarg_specs and _needs_inputs(module):
            raise ValueError(
                "kiln.compile: inputs (or arg_inputs / kwarg_inputs) are required to compile an nn.Module"
            )
        module = _move(module, device)
        _progress.stage("export (torch.export)")
        with eval_mode(module):
            ep = export_module(
                module,
                arg_specs,
                kwarg_specs,
                arg_examples or arg_specs,
                kwarg_examples or kwarg_specs,
                device,
            )
    _progress.stage("lower to core aten")
    gm = lower_exported(ep)
    if calibrator is not None:
        _progress.stage("calibrate")
        gm = quantize_graph(gm, calibrator, device)
    _progress.stage("import graph, shapes at min/opt/max")
    return compile_graph(
        gm,
        arg_specs,
        kwarg_specs,
        arg_examples or arg_specs,
        kwarg_examples or kwarg_specs,
        settings,
        dry_run=dry_run,
        engine_modules=engine_modules,
    )


class SingleEngine:
    """The whole module as one engine (torch2trt / the FX interpreter): which flat inputs feed which engine
    input, and which engine output is each flat output."""

    def __init__(
        self,
        engine: Any,
        input_names: list[str],
        output_names: list[str],
        in_spec: Any,
        out_spec: Any,
        report: SupportReport,
    ):
        self.engine = engine
        self.input_names = input_names  # engine input name per flat module input
        self.output_names = output_names  # engine output name per flat module output
        self.in_spec = in_spec
        self.out_spec = out_spec
        self.report = report


def build_single_engine(
    module: Any,
    arg_specs: tuple,
    kwarg_specs: dict,
    arg_examples: tuple,
    kwarg_examples: dict,
    settings: CompileSettings,
    calibrator: Any = None,
) -> SingleEngine:
    settings = copy.copy(settings)
    settings.require_full_compilation = True
    settings.min_block_size = 1
    if isinstance(module, torch.export.ExportedProgram):
        ep = module
    else:
        module = _move(module, settings.device)
        with eval_mode(module):
            ep = export_module(
                module,
                arg_specs,
                kwarg_specs,
                arg_examples or arg_specs,
                kwarg_examples or kwarg_specs,
                settings.device,
            )
    gm = lower_exported(ep)
    if calibrator is not None:
        gm = quantize_graph(gm, calibrator, settings.device)
    imp, _ = import_graph(
        gm, arg_specs, kwarg_specs, arg_examples or arg_specs, kwarg_examples or kwarg_specs, settings.device
    )
    res = partition(imp, settings, build=True)
    report = SupportReport.from_result(res)
    segs = [s for s in res["segments"] if s["kiln"]]
    if len(segs) != 1 or len(res["segments"]) != 1:
        raise_status(
            "Unsupported",
            f"the module does not convert to a single engine:\n{report.text}",
            "kiln (single engine)",
        )
    seg = segs[0]
    in_names = []
    for k, vid in enumerate(imp.inputs):
        if vid in seg["inputs"]:
            in_names.append(seg["input_names"][seg["inputs"].index(vid)])
        elif imp.values[vid].kind == "tensor":
            raise ValueError(
                f"kiln: input {k} ({imp.placeholders[k].name}) is not used by the module; a single "
                "engine needs every tensor input"
            )
        else:
            raise ValueError(
                f"kiln: input {k} ({imp.placeholders[k].name}) is not a tensor; a single engine takes "
                "tensors only"
            )
    out_names = []
    for k, vid in enumerate(imp.outputs):
        if vid not in seg["outputs"]:
            raise ValueError(
                f"kiln: output {k} of the module is not computed by the engine (an input or constant "
                "returned as is); a single engine cannot return it"
            )
        out_names.append(seg["output_names"][seg["outputs"].index(vid)])
    if len(seg["inputs"]) != len(in_names):
        raise ValueError("kiln: the engine reads values that are not module inputs")
    engine = make_engines(res)[seg["name"]]
    return SingleEngine(
        engine, in_names, out_names, getattr(gm, "_in_spec", None), getattr(gm, "_out_spec", None), report
    )
