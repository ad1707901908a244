"""CompileSettings: the validated options shared by kiln.compile, the torch.compile backend and the FX API.

Every option is checked here: a wrong type or value raises TypeError / ValueError naming the option;
an option that this build cannot honour raises too (nothing is silently ignored).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any, Iterable, Iterator, Optional

import torch

from kiln import logging as klog
from kiln._native import C

_PRECISIONS = {
    torch.float32: "fp32",
    torch.float: "fp32",
    torch.float16: "fp16",
    torch.half: "fp16",
    torch.bfloat16: "bf16",
    torch.int8: "int8",
    torch.float8_e4m3fn: "fp8",
}
_PRECISION_NAMES = {
    "fp32": "fp32",
    "float32": "fp32",
    "float": "fp32",
    "f32": "fp32",
    "tf32": "tf32",
    "fp16": "fp16",
    "float16": "fp16",
    "half": "fp16",
    "f16": "fp16",
    "bf16": "bf16",
    "bfloat16": "bf16",
    "int8": "int8",
    "i8": "int8",
    "fp8": "fp8",
    "float8_e4m3fn": "fp8",
}


def _check_bool(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"{name} must be a bool, got {v!r}")
    return v


def _check_int(name: str, v: Any, lo: Optional[int] = None, hi: Optional[int] = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, got {v!r}")
    if lo is not None and v < lo:
        raise ValueError(f"{name} must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise ValueError(f"{name} must be <= {hi}, got {v}")
    return v


def _check_path(name: str, v: Any) -> Optional[str]:
    if v is None:
        return None
    if isinstance(v, os.PathLike):
        v = os.fspath(v)
    if not isinstance(v, str) or not v:
        raise TypeError(f"{name} must be a path (str) or None, got {v!r}")
    return v


def normalize_precisions(v: Any) -> tuple[str, ...]:
    if v is None:
        return ("fp32",)
    if isinstance(v, (torch.dtype, str)):
        v = {v}
    if not isinstance(v, Iterable):
        raise TypeError(f"enabled_precisions must be a set of torch dtypes or names, got {v!r}")
    out = {"fp32"}
    for p in v:
        if isinstance(p, torch.dtype):
            if p not in _PRECISIONS:
                raise ValueError(
                    f"enabled_precisions: {p} is not a precision Kiln builds for "
                    "(torch.float32, torch.float16, torch.bfloat16, torch.int8, torch.float8_e4m3fn, 'tf32')"
                )
            out.add(_PRECISIONS[p])
        elif isinstance(p, str) and p.lower() in _PRECISION_NAMES:
            out.add(_PRECISION_NAMES[p.lower()])
        else:
            raise ValueError(
                f"enabled_precisions: unknown precision {p!r} (torch.float32, torch.float16, "
                "torch.bfloat16, torch.int8, torch.float8_e4m3fn, 'tf32')"
            )
    return tuple(sorted(out))


def op_name(op: Any) -> str:
    """torch.ops.aten.relu.default -> 'aten::relu'; an OpOverloadPacket or 'aten::relu' -> 'aten::relu' (all
    overloads); 'aten.add.Tensor' / 'torch.ops.aten.add.Tensor' -> 'aten::add.Tensor'."""
    if isinstance(op, torch._ops.OpOverload):
        s = op._schema
        return s.name + (f".{s.overload_name}" if s.overload_name else "")
    if isinstance(op, torch._ops.OpOverloadPacket):
        return op._qualified_op_name
    if isinstance(op, str):
        s = op.strip()
        if s.startswith("torch.ops."):
            s = s[len("torch.ops.") :]
        if "::" in s:
            return s
        parts = s.split(".")
        if len(parts) >= 2:
            ns, name, rest = parts[0], parts[1], parts[2:]
            if rest and rest[0] == "default":
                return f"{ns}::{name}"
            return f"{ns}::{name}" + ("." + ".".join(rest) if rest else "")
        raise ValueError(
            f"torch_executed_ops: cannot read op name {op!r} (use 'aten::relu' or torch.ops.aten.relu)"
        )
    raise TypeError(f"torch_executed_ops: expected op names or torch.ops overloads, got {op!r}")


def _device(v: Any) -> torch.device:
    if v is None:
        if torch.cuda.is_available() and "cuda" in C.available_backends():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    if isinstance(v, str):
        try:
            v = torch.device(v)
        except RuntimeError as e:
            raise ValueError(f"device: {e}") from e
    if not isinstance(v, torch.device):
        raise TypeError(f"device must be a torch.device, a string like 'cuda:0' / 'cpu', or None; got {v!r}")
    if v.type == "cuda":
        if "cuda" not in C.available_backends():
            raise ValueError(
                "device: this Kiln build has no CUDA backend (built without CUDA); use device='cpu'"
            )
        if not torch.cuda.is_available():
            raise ValueError("device: CUDA was requested but torch sees no GPU")
        return torch.device("cuda", v.index if v.index is not None else torch.cuda.current_device())
    if v.type == "cpu":
        return torch.device("cpu")
    raise ValueError(f"device: Kiln runs on 'cuda' or 'cpu', not {v.type!r}")


@dataclasses.dataclass
class CompileSettings:
    enabled_precisions: tuple[str, ...] = ("fp32",)
    min_block_size: int = 3
    torch_executed_ops: tuple[str, ...] = ()
    require_full_compilation: bool = False
    workspace_size: int = 0
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))
    optimization_level: int = 3
    timing_cache_path: Optional[str] = None
    kernel_cache_dir: Optional[str] = None
    engine_cache_dir: Optional[str] = None
    use_cuda_graphs: bool = True
    debug: bool = False

    @property
    def backend(self) -> str:
        return "cuda" if self.device.type == "cuda" else "cpu"

    def partition_options(self) -> dict:
        return {
            "min_block_size": self.min_block_size,
            "torch_executed_ops": list(self.torch_executed_ops),
            "require_full_compilation": self.require_full_compilation,
            "backend": self.backend,
            "device": self.device.index or 0,
            "precisions": list(self.enabled_precisions),
            "workspace_size": self.workspace_size,
            "optimization_level": self.optimization_level,
            "timing_cache_path": self.timing_cache_path,
            "kernel_cache_dir": self.kernel_cache_dir,
        }

    def cache_key_fields(self) -> dict:
        d = self.partition_options()
        d.pop("timing_cache_path")
        d.pop("kernel_cache_dir")
        return d


OPTION_NAMES = tuple(f.name for f in dataclasses.fields(CompileSettings))


def make_settings(
    *,
    enabled_precisions: Any = None,
    min_block_size: Any = 3,
    torch_executed_ops: Any = None,
    require_full_compilation: Any = False,
    workspace_size: Any = 0,
    device: Any = None,
    optimization_level: Any = 3,
    timing_cache_path: Any = None,
    kernel_cache_dir: Any = None,
    engine_cache_dir: Any = None,
    use_cuda_graphs: Any = True,
    debug: Any = False,
) -> CompileSettings:
    dev = _device(device)
    ops: list[str] = []
    if torch_executed_ops is not None:
        if isinstance(torch_executed_ops, (str, torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
            torch_executed_ops = [torch_executed_ops]
        if not isinstance(torch_executed_ops, Iterable):
            raise TypeError(
                f"torch_executed_ops must be a collection of op names, got {torch_executed_ops!r}"
            )
        ops = sorted({op_name(o) for o in torch_executed_ops})
    s = CompileSettings(
        enabled_precisions=normalize_precisions(enabled_precisions),
        min_block_size=_check_int("min_block_size", min_block_size, lo=1),
        torch_executed_ops=tuple(ops),
        require_full_compilation=_check_bool("require_full_compilation", require_full_compilation),
        workspace_size=_check_int("workspace_size", 0 if workspace_size is None else workspace_size, lo=0),
        device=dev,
        optimization_level=_check_int(
            "optimization_level", 3 if optimization_level is None else optimization_level, lo=0, hi=5
        ),
        timing_cache_path=_check_path("timing_cache_path", timing_cache_path),
        kernel_cache_dir=_check_path("kernel_cache_dir", kernel_cache_dir),
        engine_cache_dir=_check_path("engine_cache_dir", engine_cache_dir),
        use_cuda_graphs=_check_bool("use_cuda_graphs", use_cuda_graphs),
        debug=_check_bool("debug", debug),
    )
    if dev.type == "cuda" and not s.use_cuda_graphs:
        # Replay is a process-wide run-time switch of the runtime library, not a property of the compiled module.
        raise ValueError(
            "use_cuda_graphs=False is not a compile setting in Kiln: CUDA-graph replay is switched at run time, "
            "for every engine in the process, with kiln.runtime.set_cudagraphs_mode(False)"
        )
    # On the CPU backend use_cuda_graphs has nothing to act on: either value is accepted.
    return s


def settings_from_options(options: Optional[dict], where: str) -> CompileSettings:
    """For torch.compile(backend="kiln", options={...}): unknown keys raise."""
    options = dict(options or {})
    unknown = sorted(k for k in options if k not in OPTION_NAMES)
    if unknown:
        raise TypeError(
            f"{where}: unknown option(s) {', '.join(map(repr, unknown))}; known: {', '.join(OPTION_NAMES)}"
        )
    return make_settings(**options)


def settings_to_options(s: CompileSettings) -> dict:
    """The torch.compile options={...} that settings_from_options turns back into `s`."""
    d = {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}
    d["device"] = str(s.device)
    d["enabled_precisions"] = set(s.enabled_precisions)
    d["torch_executed_ops"] = list(s.torch_executed_ops)
    return d


@contextlib.contextmanager
def debug_logging(settings: CompileSettings) -> Iterator[None]:
    """DEBUG logging while compiling when settings.debug is set."""
    if settings.debug:
        with klog.level(klog.DEBUG):
            yield
    else:
        yield
