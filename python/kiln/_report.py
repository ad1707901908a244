"""What was compiled: the SupportReport (which ops run in Kiln and which fall back to PyTorch, the dry run)
and kiln.report (the same, each engine's kernels after fusion and their times, as one HTML page);
precision_report: what ran in 8 bits.

The per-node facts come from the C++ partitioner in one place (kiln_torch/partition: support_report,
fallback_summary, node_origin; kiln_torch/report: the page and its data): this module adds what only the
live module knows, its engines (kernels, tactics, precisions) and, when profiled, their kernels' times.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any, Optional

import torch

from kiln._input import Input
from kiln._native import C  # the page is drawn by the C++ renderer kilnc uses too (kiln_torch/report)


@dataclasses.dataclass
class OpSupport:
    kiln: int = 0
    torch: int = 0
    evaluated: int = 0
    reason: str = ""  # why the PyTorch ones are not in Kiln (the first reason seen)


@dataclasses.dataclass
class SupportReport:
    """The partitioner's verdict. ``str(report)`` is the C++ support_report text."""

    text: str
    num_engines: int
    kiln_nodes: int
    torch_nodes: int
    ops: dict[str, OpSupport]
    #: Every op left to PyTorch, one line each with where it sits in the model and why ("" when none).
    fallback_summary: str = ""

    @property
    def fully_supported(self) -> bool:
        """True when every compute node runs in Kiln."""
        return self.torch_nodes == 0

    @property
    def fallback_ops(self) -> dict[str, OpSupport]:
        return {k: v for k, v in self.ops.items() if v.torch}

    def __str__(self) -> str:
        return self.text

    @classmethod
    def from_result(cls, res: dict) -> "SupportReport":
        ops: dict[str, OpSupport] = {}
        kiln = torch_n = 0
        for _node, op, is_kiln, is_eval, reason in res["support"]:
            s = ops.setdefault(op, OpSupport())
            if is_eval:
                s.evaluated += 1
            elif is_kiln:
                s.kiln += 1
                kiln += 1
            else:
                s.torch += 1
                torch_n += 1
                if not s.reason:
                    s.reason = reason
        return cls(
            res["report"], int(res["num_engines"]), kiln, torch_n, ops, res.get("fallback_summary", "")
        )

    @classmethod
    def from_text(cls, text: str) -> "SupportReport":
        """Parses the C++ support_report text (the TorchScript path returns only the text)."""
        m = re.match(r"Kiln: (\d+) nodes in (\d+) engine\(s\); PyTorch: (\d+) nodes", text)
        kiln, engines, torch_n = (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (0, 0, 0)
        ops: dict[str, OpSupport] = {}
        for line in text.splitlines()[1:]:
            lm = re.match(r"\s+(\S+): (.*)$", line)
            if not lm:
                continue
            s = ops.setdefault(lm.group(1), OpSupport())
            rest = lm.group(2)
            for num, what in re.findall(r"(\d+) (evaluated|in Kiln|in PyTorch)", rest):
                if what == "evaluated":
                    s.evaluated = int(num)
                elif what == "in Kiln":
                    s.kiln = int(num)
                else:
                    s.torch = int(num)
            rm = re.search(r"in PyTorch \((.*)\)$", rest)
            if rm:
                s.reason = rm.group(1)
        return cls(text, engines, kiln, torch_n, ops)

    def summary(self, max_reasons: Optional[int] = 10) -> str:
        lines = [
            f"{self.kiln_nodes} nodes in Kiln ({self.num_engines} engines), {self.torch_nodes} in PyTorch"
        ]
        fb = sorted(self.fallback_ops.items(), key=lambda kv: -kv[1].torch)
        for op, s in fb[:max_reasons]:
            lines.append(f"  {op} x{s.torch}: {s.reason}")
        return "\n".join(lines)


# ---- kiln.report ---------------------------------------------------------------------------------------
def report(
    compiled: Any,
    path: Any,
    *,
    profile: bool = False,
    inputs: Any = None,
    kwarg_inputs: Optional[dict] = None,
    runs: int = 10,
    title: Optional[str] = None,
) -> str:
    """Writes the compile report of ``compiled`` to ``path``: one self-contained HTML page (inline CSS,
    JavaScript and SVG; it loads nothing from the network) with

    - the partitioned graph: the model's ops in execution order, which run in which Kiln engine and which
      stay in PyTorch, where each sits in the model (module path and source line) and why it is not in Kiln;
    - the ops left to PyTorch, with the converter's reason;
    - each engine's kernels after fusion: kernel and tactic, the layers each runs, with op and precision;
    - with ``profile=True``, each kernel's time: the module runs ``runs`` times (after one warm-up) on
      ``inputs`` / ``kwarg_inputs`` (default: random tensors at the opt shapes it was compiled for), every
      kernel synchronized, and the page shows the mean.

    ``compiled``: what ``kiln.compile`` returned (``ir="dynamo"``, ``"fx"`` or ``"ts"``). Returns the path
    written. ``kilnc --report FILE`` writes the same page for a TorchScript file.
    """
    if not isinstance(profile, bool):
        raise TypeError(f"kiln.report: profile must be a bool, got {profile!r}")
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"kiln.report: runs must be an int >= 1, got {runs!r}")
    path = os.fspath(path)
    data = report_data(compiled, profile=profile, inputs=inputs, kwarg_inputs=kwarg_inputs, runs=runs)
    if title is not None:
        data["title"] = str(title)
    page = C.report_html(_script_safe_json(data))
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path


def report_data(
    compiled: Any,
    *,
    profile: bool = False,
    inputs: Any = None,
    kwarg_inputs: Optional[dict] = None,
    runs: int = 10,
) -> dict:
    """The data kiln.report draws (its schema: kiln_torch/report/README.md) as a dict."""
    source, arg_specs, kw_specs, backend = _report_source(compiled)
    data = json.loads(source)
    data.setdefault("nodes", [])
    data.setdefault("segments", [])
    data["title"] = data.get("title") or type(compiled).__name__
    if backend:
        data["backend"] = backend
    where_of = {n["name"]: n.get("where", "") for n in data["nodes"]}
    ops_of = {s["name"]: len(s["nodes"]) for s in data["segments"] if s["kind"] == "kiln"}
    live = _live_engines(compiled, list(ops_of))
    given = {e["name"]: e for e in data.get("engines", [])}  # kilnc / ir='ts': read from the plans
    data["engines"] = [
        _engine_data(name, live[name], ops_of[name], where_of) if name in live else given[name]
        for name in ops_of
        if name in live or name in given
    ]
    data["profiled"] = False
    if profile:
        args, kwargs = _profile_inputs(inputs, kwarg_inputs, arg_specs, kw_specs, backend)
        _profile(compiled, live, data, args, kwargs, runs)
    return data


def _script_safe_json(data: dict) -> str:
    """JSON that cannot end the <script> element it sits in."""
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _report_source(compiled: Any) -> tuple[str, tuple, dict, str]:
    """(report JSON of the partition, arg specs, kwarg specs, backend) recorded by kiln.compile."""
    meta = getattr(compiled, "meta", None)
    info = meta.get("kiln") if isinstance(meta, dict) else None
    if isinstance(info, dict) and info.get("report_data"):
        return (
            info["report_data"],
            tuple(info.get("arg_inputs") or ()),
            dict(info.get("kwarg_inputs") or {}),
            info.get("backend", ""),
        )
    ts = getattr(compiled, "_kiln_report", None)
    if isinstance(ts, dict) and ts.get("data"):
        return ts["data"], tuple(ts.get("arg_inputs") or ()), {}, ""
    raise TypeError(
        "kiln.report: expected a module returned by kiln.compile (ir='dynamo', 'fx' or 'ts') in this process, "
        f"got {type(compiled).__name__}; a loaded module no longer carries its partition (compile it again, "
        "or use kilnc --report for a TorchScript file)"
    )


def engines_of(compiled: Any) -> tuple[dict[str, Any], int]:
    """(the compiled module's engines by name, how many ops it leaves to PyTorch), from what kiln.compile
    recorded."""
    data = json.loads(_report_source(compiled)[0])
    names = [s["name"] for s in data.get("segments", []) if s["kind"] == "kiln"]
    return _live_engines(compiled, names), sum(n["place"] == "torch" for n in data.get("nodes", []))


def _live_engines(compiled: Any, names: list[str]) -> dict[str, Any]:
    """The torch.classes.kiln.Engine objects of the compiled module, by segment name."""
    out = {}
    for name in names:
        obj = getattr(compiled, name, None)
        if obj is None:
            obj = getattr(compiled, "__" + name, None)  # the TorchScript stitcher's attribute name
        obj = getattr(obj, "engine", obj)  # kiln.EngineModule (ir='fx') holds it as .engine
        if obj is not None and hasattr(obj, "kernel_groups"):
            out[name] = obj
    return out


def _engine_data(name: str, engine: Any, num_ops: int, where_of: dict[str, str]) -> dict:
    kernels, group_of, names, ops, precisions, dtypes = engine.kernel_groups()
    groups = [{"kernel": k, "ms": None, "layers": []} for k in kernels]
    for g, n, op, prec, dt in zip(group_of, names, ops, precisions, dtypes):
        # Layer names start with the model value they compute ("convolution_3/12").
        where = where_of.get(n.rsplit("/", 1)[0], "")
        groups[g]["layers"].append({"name": n, "op": op, "precision": prec, "dtype": dt, "where": where})
    return {
        "name": name,
        "backend": engine.backend(),
        "ops": num_ops,
        "settings": list(engine.build_settings()),
        "groups": groups,
    }


def _profile_inputs(inputs: Any, kwarg_inputs: Any, arg_specs: tuple, kw_specs: dict, backend: str) -> tuple:
    device = torch.device("cuda") if backend == "cuda" else torch.device("cpu")

    def example(x: Any) -> Any:
        return x.example_tensor("opt", device) if isinstance(x, Input) else x

    if inputs is None and kwarg_inputs is None:
        if not arg_specs and not kw_specs:
            raise ValueError(
                "kiln.report: profile=True needs inputs=[...] (the module's compile inputs are unknown)"
            )
        return tuple(torch.utils._pytree.tree_map(example, list(arg_specs))), {
            k: torch.utils._pytree.tree_map(example, v) for k, v in kw_specs.items()
        }
    args = inputs if isinstance(inputs, (list, tuple)) else (inputs,) if inputs is not None else ()
    return tuple(example(a) for a in args), {k: example(v) for k, v in (kwarg_inputs or {}).items()}


def _profile(
    compiled: Any, engines: dict[str, Any], data: dict, args: tuple, kwargs: dict, runs: int
) -> None:
    """Runs the module with every engine timing its kernels; the mean per kernel goes into data."""
    totals: dict[str, list[float]] = {}
    for e in engines.values():
        e.set_profiling(True)
    try:
        with torch.no_grad():
            compiled(*args, **kwargs)  # warm-up: first-run allocations
            for _ in range(runs):
                compiled(*args, **kwargs)
                for name, e in engines.items():
                    _names, _kernels, ms = e.last_timings()
                    acc = totals.setdefault(name, [0.0] * len(ms))
                    for k, t in enumerate(ms[: len(acc)]):
                        acc[k] += t
    finally:
        for e in engines.values():
            e.set_profiling(False)
    for eng in data["engines"]:
        acc = totals.get(eng["name"])
        if acc is None:
            continue
        for k, g in enumerate(eng["groups"]):
            g["ms"] = acc[k] / runs if k < len(acc) else None
    shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
    data["profiled"] = True
    data["profile_note"] = (
        f"mean of {runs} runs at input shapes {', '.join(map(str, shapes)) or '()'}, each kernel synchronized"
    )


@dataclasses.dataclass
class LayerPrecision:
    """One convolution / GEMM of a quantized network: the precision it runs in and why."""

    engine: str
    layer: str
    precision: str  # "int8", "fp8" or "float"
    reason: str


def _engines(module) -> list:
    """Every Kiln engine (torch.classes.kiln.Engine) reachable from ``module``, in module order."""
    found: list = []
    seen: set[int] = set()

    def add(obj) -> None:
        if isinstance(obj, torch.ScriptObject) and hasattr(obj, "precision_report") and id(obj) not in seen:
            seen.add(id(obj))
            found.append(obj)

    if isinstance(module, torch.ScriptObject):
        add(module)
        return found
    for sub in module.modules() if isinstance(module, torch.nn.Module) else []:
        for value in list(vars(sub).values()) + list(getattr(sub, "_buffers", {}).values()):
            add(value)
        if isinstance(sub, torch.jit.ScriptModule):
            for name in dir(sub):
                try:
                    add(getattr(sub, name))
                except Exception:  # noqa: BLE001 - TorchScript attributes that do not convert
                    pass
    return found


def precision_report(module) -> list[LayerPrecision]:
    """What ran in 8 bits and why not: per convolution / GEMM of every Kiln engine in a compiled
    module (or one engine), the precision the Q/DQ fusion pass chose and its reason. Empty when the
    network has no quantize/dequantize layers."""
    rows: list[LayerPrecision] = []
    for eng in _engines(module):
        for layer, precision, reason in eng.precision_report():
            rows.append(LayerPrecision(eng.name(), layer, precision, reason))
    return rows
