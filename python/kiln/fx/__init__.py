"""The legacy FX API, shaped like Torch-TensorRT's FX path (torch_tensorrt.fx).

    import kiln.fx as kfx
    mod = kfx.compile(model, [x], max_batch_size=64, explicit_batch_dimension=True,
                      lower_precision=kfx.LowerPrecision.FP32)

    specs = kfx.InputTensorSpec.from_tensors_with_dynamic_batch_size([x], (1, 8, 32))
    interp = kfx.KilnInterpreter(model, specs, explicit_batch_dimension=True)
    res = interp.run(max_workspace_size=1 << 25, lower_precision=kfx.LowerPrecision.FP32)
    trt_mod = kfx.KilnModule(res.engine, res.input_names, res.output_names)
    torch.save(trt_mod, "m.pt"); torch.load("m.pt", weights_only=False)

It runs on the same pipeline as kiln.compile (torch.export -> core aten -> the C++ converters and
partitioner). Differences from TensorRT's: there is only explicit batch (explicit_batch_dimension=False is
refused), lower_precision defaults to FP32 (the CPU backend is fp32 first), and cuda_graph_batch_size is
not supported (CUDA graphs are captured per shape by the runtime).
"""

import contextlib
import enum
import os
import shutil
import tempfile
from typing import Any, NamedTuple, Optional, Sequence

import torch

from kiln import logging as klog
from kiln._engine_module import EngineModule
from kiln._input import Input
from kiln._settings import debug_logging, make_settings
from kiln.dynamo._compiler import build_single_engine, compile_dynamo

__all__ = [
    "compile",
    "InputTensorSpec",
    "KilnInterpreter",
    "KilnInterpreterResult",
    "KilnModule",
    "LowerPrecision",
]


class LowerPrecision(enum.Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    INT8 = "int8"

    @classmethod
    def from_any(cls, v: Any) -> "LowerPrecision":
        if isinstance(v, cls):
            return v
        if isinstance(v, torch.dtype):
            m = {
                torch.float32: cls.FP32,
                torch.float16: cls.FP16,
                torch.bfloat16: cls.BF16,
                torch.int8: cls.INT8,
            }
            if v in m:
                return m[v]
        if isinstance(v, str):
            for p in cls:
                if p.value == v.lower() or p.name == v.upper():
                    return p
        raise ValueError(
            f"lower_precision: expected kiln.fx.LowerPrecision (FP32, FP16, BF16, INT8), got {v!r}"
        )

    def precisions(self) -> set:
        return {"fp32", self.value}


class InputTensorSpec(NamedTuple):
    """Shape (-1 for dynamic dims), dtype and device of one input, with one (min, opt, max) range per dynamic
    dim in ``shape_ranges`` (one profile)."""

    shape: Sequence[int]
    dtype: torch.dtype
    device: torch.device = torch.device("cpu")
    shape_ranges: list = []
    has_batch_dim: bool = True

    @classmethod
    def from_tensor(cls, tensor: torch.Tensor) -> "InputTensorSpec":
        return cls(tuple(tensor.shape), tensor.dtype, tensor.device)

    @classmethod
    def from_tensors(cls, tensors: Sequence[torch.Tensor]) -> list["InputTensorSpec"]:
        if isinstance(tensors, torch.Tensor):
            tensors = [tensors]
        for i, t in enumerate(tensors):
            if not isinstance(t, torch.Tensor):
                raise TypeError(
                    f"InputTensorSpec.from_tensors: item {i} is a {type(t).__name__}, not a tensor"
                )
        return [cls.from_tensor(t) for t in tensors]

    @classmethod
    def from_tensors_with_dynamic_batch_size(
        cls,
        tensors: Sequence[torch.Tensor],
        batch_size_range: tuple[int, int, int],
        opt_profile_replica: int = 1,
        batch_dim: int = 0,
    ) -> list["InputTensorSpec"]:
        """Every tensor's batch dim (``batch_dim``) becomes dynamic over ``batch_size_range`` = (min, opt, max)."""
        if len(batch_size_range) != 3 or not (
            0 < batch_size_range[0] <= batch_size_range[1] <= batch_size_range[2]
        ):
            raise ValueError(
                f"batch_size_range must be (min, opt, max) with 0 < min <= opt <= max, got {batch_size_range}"
            )
        if opt_profile_replica != 1:
            raise ValueError("opt_profile_replica: Kiln engines have one optimization profile; use 1")
        specs = []
        for t in tensors:
            shape = list(t.shape)
            if not shape:
                raise ValueError("from_tensors_with_dynamic_batch_size: a scalar tensor has no batch dim")
            shape[batch_dim] = -1
            full = []
            for which in range(3):
                full.append(
                    tuple(batch_size_range[which] if d == batch_dim else s for d, s in enumerate(t.shape))
                )
            specs.append(cls(tuple(shape), t.dtype, t.device, [tuple(full)]))
        return specs

    def to_input(self) -> Input:
        if any(d == -1 for d in self.shape):
            if not self.shape_ranges:
                raise ValueError(f"InputTensorSpec {tuple(self.shape)}: dynamic dims (-1) need shape_ranges")
            if len(self.shape_ranges) != 1:
                raise ValueError(
                    "InputTensorSpec: Kiln engines have one optimization profile; give one (min, opt, max)"
                )
            lo, opt, hi = self.shape_ranges[0]
            for d, s in enumerate(self.shape):
                if s != -1 and not (lo[d] == opt[d] == hi[d] == s):
                    raise ValueError(
                        f"InputTensorSpec: static dim {d} ({s}) disagrees with shape_ranges {self.shape_ranges[0]}"
                    )
            return Input(min_shape=tuple(lo), opt_shape=tuple(opt), max_shape=tuple(hi), dtype=self.dtype)
        return Input(shape=tuple(self.shape), dtype=self.dtype)


class KilnInterpreterResult(NamedTuple):
    engine: Any
    input_names: Sequence[str]
    output_names: Sequence[str]
    serialized_cache: bytes


# TRTModule's counterpart: the one engine-module class under its FX API name (forward(*inputs) in
# input_names order; old pickles of kiln.fx.KilnModule load as it).
KilnModule = EngineModule


def _timing_cache(prefix: Optional[str], save: bool) -> tuple[Optional[str], Optional[str]]:
    """(path the builder uses, temp dir to remove)."""
    if not prefix:
        if save:
            raise ValueError("save_timing_cache=True needs timing_cache_prefix")
        return None, None
    path = prefix if prefix.endswith(".cache") else prefix + ".kiln_timing.cache"
    if save:
        return path, None
    tmp = tempfile.mkdtemp(prefix="kiln_tc_")
    work = os.path.join(tmp, "timing.cache")
    if os.path.exists(path):
        shutil.copyfile(path, work)
    return work, tmp


class KilnInterpreter:
    """Converts a whole module into ONE engine (every op must have a converter), like TRTInterpreter."""

    def __init__(
        self,
        module: torch.nn.Module,
        input_specs: Sequence[Any],
        explicit_batch_dimension: bool = True,
        explicit_precision: bool = False,
        logger_level: Any = None,
    ):
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"KilnInterpreter: module must be an nn.Module, got {type(module).__name__}")
        if explicit_batch_dimension is not True:
            raise ValueError(
                "KilnInterpreter: explicit_batch_dimension=False (implicit batch) is not supported; Kiln "
                "networks always have an explicit batch dim"
            )
        if explicit_precision:
            raise ValueError("KilnInterpreter: explicit_precision (Q/DQ networks) is not supported")
        self.module = module
        self.input_specs = [_as_spec(s, i) for i, s in enumerate(input_specs)]
        self.logger_level = logger_level

    def run(
        self,
        max_batch_size: int = 2048,
        max_workspace_size: int = 1 << 25,
        lower_precision: Any = LowerPrecision.FP32,
        sparse_weights: bool = False,
        force_fp32_output: bool = False,
        strict_type_constraints: bool = False,
        algorithm_selector: Any = None,
        timing_cache: Any = None,
        profiling_verbosity: Any = None,
        tactic_sources: Any = None,
        optimization_level: int = 3,
        device: Any = None,
    ) -> KilnInterpreterResult:
        for name, val, ok in (
            ("sparse_weights", sparse_weights, False),
            ("strict_type_constraints", strict_type_constraints, False),
            ("algorithm_selector", algorithm_selector, None),
            ("profiling_verbosity", profiling_verbosity, None),
            ("tactic_sources", tactic_sources, None),
        ):
            if val != ok and val is not ok:
                raise ValueError(f"KilnInterpreter.run: {name}={val!r} is not supported by Kiln")
        if force_fp32_output:
            raise ValueError(
                "KilnInterpreter.run: force_fp32_output is not supported (outputs keep the module's dtypes)"
            )
        if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or max_batch_size < 1:
            raise ValueError(
                f"KilnInterpreter.run: max_batch_size must be a positive int, got {max_batch_size!r}"
            )
        specs = tuple(s.to_input() for s in self.input_specs)
        # Explicit batch: the batch range comes from the input specs; max_batch_size only bounds it.
        too_big = [s.max_shape[0] for s in specs if s.max_shape and s.max_shape[0] > max_batch_size]
        if too_big:
            raise ValueError(
                f"KilnInterpreter.run: the input specs allow batch {max(too_big)} > max_batch_size "
                f"{max_batch_size}"
            )
        prec = LowerPrecision.from_any(lower_precision)
        tc_path, tmp = None, None
        if timing_cache is not None:
            if isinstance(timing_cache, (bytes, bytearray)):
                tmp = tempfile.mkdtemp(prefix="kiln_tc_")
                tc_path = os.path.join(tmp, "timing.cache")
                with open(tc_path, "wb") as f:
                    f.write(timing_cache)
            elif isinstance(timing_cache, (str, os.PathLike)):
                tc_path = os.fspath(timing_cache)
            else:
                raise TypeError(
                    "KilnInterpreter.run: timing_cache must be bytes (a serialized cache) or a path"
                )
        try:
            settings = make_settings(
                enabled_precisions=prec.precisions(),
                workspace_size=max_workspace_size,
                device=device if device is not None else _spec_device(self.input_specs),
                optimization_level=optimization_level,
                timing_cache_path=tc_path,
            )
            with _log_level(self.logger_level):
                single = build_single_engine(self.module, specs, {}, specs, {}, settings)
            cache = b""
            if tc_path and os.path.exists(tc_path):
                with open(tc_path, "rb") as f:
                    cache = f.read()
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
        return KilnInterpreterResult(single.engine, single.input_names, single.output_names, cache)


def _log_level(level: Any):
    if level is None:
        return contextlib.nullcontext()
    return klog.level(level)


def _spec_device(specs: Sequence[InputTensorSpec]) -> Any:
    devs = {torch.device(s.device).type for s in specs}
    return "cuda" if devs == {"cuda"} else "cpu"


def _as_spec(s: Any, i: int) -> InputTensorSpec:
    if isinstance(s, InputTensorSpec):
        return s
    if isinstance(s, torch.Tensor):
        return InputTensorSpec.from_tensor(s)
    if isinstance(s, Input):
        if s.is_dynamic():
            shape = tuple(-1 if a != c else a for a, c in zip(s.min_shape, s.max_shape))
            return InputTensorSpec(
                shape, s.dtype, torch.device("cpu"), [(s.min_shape, s.opt_shape, s.max_shape)]
            )
        return InputTensorSpec(s.opt_shape, s.dtype)
    raise TypeError(
        f"input spec {i}: expected InputTensorSpec, kiln.Input or a tensor, got {type(s).__name__}"
    )


def compile(
    module: torch.nn.Module,
    input: Sequence[Any],
    min_acc_module_size: int = 10,
    max_batch_size: int = 2048,
    max_workspace_size: int = 1 << 25,
    explicit_batch_dimension: bool = True,
    lower_precision: Any = LowerPrecision.FP32,
    verbose_log: bool = False,
    timing_cache_prefix: str = "",
    save_timing_cache: bool = False,
    cuda_graph_batch_size: int = -1,
    dynamic_batch: bool = True,
    is_aten: bool = False,
    use_experimental_fx_rt: bool = False,
    device: Any = None,
) -> torch.fx.GraphModule:
    """Lowers `module` for the inputs `input` (tensors): supported parts become KilnModule submodules
    (``_run_on_acc_N``... named ``kiln_engine_N``), the rest stays PyTorch. With ``dynamic_batch`` the batch dim
    (dim 0) ranges over (1, opt = the example's batch, max_batch_size). ``is_aten`` is accepted for compatibility:
    either way the graph is captured as aten ops with torch.export."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"kiln.fx.compile: module must be an nn.Module, got {type(module).__name__}")
    if explicit_batch_dimension is not True:
        raise ValueError("kiln.fx.compile: explicit_batch_dimension=False (implicit batch) is not supported")
    if cuda_graph_batch_size != -1:
        raise ValueError(
            "kiln.fx.compile: cuda_graph_batch_size is not supported (the runtime captures CUDA graphs "
            "per input shape by itself); leave it at -1"
        )
    if use_experimental_fx_rt:
        raise ValueError("kiln.fx.compile: use_experimental_fx_rt does not apply (Kiln has one runtime)")
    if not isinstance(max_batch_size, int) or max_batch_size < 1:
        raise ValueError(f"kiln.fx.compile: max_batch_size must be a positive int, got {max_batch_size!r}")
    if not isinstance(is_aten, bool):
        raise TypeError("kiln.fx.compile: is_aten must be a bool")
    # Either value: Kiln captures aten graphs with torch.export (it has no acc tracer).
    if isinstance(input, torch.Tensor):
        input = [input]
    tensors = list(input)
    if dynamic_batch:
        specs = []
        for t in tensors:
            if not isinstance(t, torch.Tensor) or t.dim() == 0:
                raise TypeError("kiln.fx.compile: inputs must be tensors with a batch dim")
            if t.shape[0] > max_batch_size:
                raise ValueError(
                    f"kiln.fx.compile: an input has batch {t.shape[0]} > max_batch_size {max_batch_size}"
                )
            rest = tuple(t.shape[1:])
            specs.append(
                Input(
                    min_shape=(1,) + rest,
                    opt_shape=tuple(t.shape),
                    max_shape=(max_batch_size,) + rest,
                    dtype=t.dtype,
                )
            )
    else:
        specs = [Input.from_tensor(t) for t in tensors]
    tc_path, tmp = _timing_cache(timing_cache_prefix, save_timing_cache)
    settings = make_settings(
        enabled_precisions=LowerPrecision.from_any(lower_precision).precisions(),
        min_block_size=min_acc_module_size,
        workspace_size=max_workspace_size,
        device=device
        if device is not None
        else _spec_device([InputTensorSpec.from_tensor(t) for t in tensors]),
        timing_cache_path=tc_path,
        debug=bool(verbose_log),
    )
    try:
        with debug_logging(settings):
            return compile_dynamo(module, tuple(specs), {}, tuple(tensors), {}, settings, engine_modules=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
