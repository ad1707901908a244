"""torch2trt-style conversion: the whole model as one engine in an nn.Module.

model_kiln = kiln.convert(model, [x], fp16_mode=False, max_batch_size=8)
y = model_kiln(x)
torch.save(model_kiln.state_dict(), "m_kiln.pth")
m2 = kiln.EngineModule(); m2.load_state_dict(torch.load("m_kiln.pth"))
"""

from __future__ import annotations

import contextlib
from typing import Any, Optional, Sequence

import torch
import torch.utils._pytree as pytree

from kiln import logging as klog
from kiln.ptq import CalibrationAlgo, DataLoaderCalibrator
from kiln._engine_module import EngineModule
from kiln._input import Input
from kiln._keywords import KEYWORDS, UnsupportedOptionError
from kiln._settings import make_settings
from kiln.dynamo._compiler import build_single_engine

__all__ = ["EngineModule", "convert"]  # EngineModule re-exported: pickles name kiln._torch2trt.EngineModule


def _shape_list(name: str, v: Any, n: int) -> Optional[list[tuple[int, ...]]]:
    if v is None:
        return None
    if not isinstance(v, (list, tuple)) or len(v) != n:
        raise ValueError(f"kiln.convert: {name} must be a list with one shape per input ({n}), got {v!r}")
    return [tuple(int(d) for d in s) for s in v]


def _calibration_batches(dataset: Any, inputs: list, batch_size: int) -> list:
    """torch2trt's calibration data as argument tuples of ``batch_size`` samples each."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"kiln.convert: int8_calib_batch_size must be a positive int, got {batch_size!r}")
    if dataset is None:
        return [tuple(inputs)]
    samples = []
    for i, item in enumerate(dataset):
        item = [item] if isinstance(item, torch.Tensor) else list(item)
        if len(item) < len(inputs) or not all(isinstance(t, torch.Tensor) for t in item[: len(inputs)]):
            raise TypeError(
                f"kiln.convert: int8_calib_dataset item {i} must hold {len(inputs)} tensor(s), one per input"
            )
        samples.append(
            [t.unsqueeze(0) if t.dim() == ex.dim() - 1 else t for t, ex in zip(item[: len(inputs)], inputs)]
        )
    if not samples:
        raise ValueError("kiln.convert: int8_calib_dataset is empty")
    return [
        tuple(
            torch.cat([s[k] for s in samples[b : b + batch_size]]).to(inputs[k].device)
            for k in range(len(inputs))
        )
        for b in range(0, len(samples), batch_size)
    ]


def convert(
    model: torch.nn.Module,
    inputs: Any,
    input_names: Optional[Sequence[str]] = None,
    output_names: Optional[Sequence[str]] = None,
    log_level: Any = None,
    fp16_mode: bool = False,
    max_workspace_size: int = 0,
    strict_type_constraints: bool = False,
    int8_mode: bool = False,
    int8_calib_dataset: Any = None,
    int8_calib_algorithm: Any = CalibrationAlgo.ENTROPY_CALIBRATION_2,
    int8_calib_batch_size: int = 1,
    max_batch_size: Optional[int] = 1,
    min_shapes: Optional[Sequence] = None,
    opt_shapes: Optional[Sequence] = None,
    max_shapes: Optional[Sequence] = None,
    device: Any = None,
    optimization_level: int = 3,
    timing_cache_path: Optional[str] = None,
) -> EngineModule:
    """torch2trt(model, [x], ...): converts the whole model (every op must convert) into one engine.

    Shapes: the example inputs' shapes, or per-input ``min_shapes`` / ``opt_shapes`` / ``max_shapes``; or, when
    ``max_batch_size`` exceeds the example batch, a dynamic batch dim 1..max_batch_size (opt: the example's).
    ``input_names`` / ``output_names`` only label the module's I/O (``EngineModule.input_names``).
    ``int8_mode``: int8 convolutions and weight GEMMs calibrated on ``int8_calib_dataset`` (items: a
    tensor or a list of tensors per sample, with or without the batch dim; default: the example inputs),
    ``int8_calib_batch_size`` samples per batch, ``int8_calib_algorithm`` a kiln.ptq.CalibrationAlgo.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"kiln.convert: model must be an nn.Module, got {type(model).__name__}")
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise TypeError("kiln.convert: inputs must be a non-empty list of example tensors")
    for i, t in enumerate(inputs):
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"kiln.convert: input {i} is a {type(t).__name__}; torch2trt-style conversion takes tensors"
            )
    if not isinstance(fp16_mode, bool):
        raise TypeError(f"fp16_mode must be a bool, got {fp16_mode!r}")
    calibrator = None
    if int8_mode:
        calibrator = DataLoaderCalibrator(
            _calibration_batches(int8_calib_dataset, inputs, int8_calib_batch_size),
            algo_type=int8_calib_algorithm,
        )
    if strict_type_constraints:
        raise UnsupportedOptionError(
            "kiln.convert: strict_type_constraints=True is not supported: "
            + KEYWORDS["strict_type_constraints"].note
        )
    if max_batch_size is None:  # torch2trt's newer default: the example's batch
        max_batch_size = 1
    if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or max_batch_size < 1:
        raise ValueError(f"kiln.convert: max_batch_size must be a positive int, got {max_batch_size!r}")
    n = len(inputs)
    mins, opts, maxs = (
        _shape_list("min_shapes", min_shapes, n),
        _shape_list("opt_shapes", opt_shapes, n),
        _shape_list("max_shapes", max_shapes, n),
    )
    if (mins is None) != (maxs is None):
        raise ValueError("kiln.convert: give both min_shapes and max_shapes (opt_shapes optional)")
    specs = []
    for i, t in enumerate(inputs):
        shape = tuple(t.shape)
        if mins is not None:
            specs.append(
                Input(
                    min_shape=mins[i], opt_shape=opts[i] if opts else shape, max_shape=maxs[i], dtype=t.dtype
                )
            )
        elif t.dim() > 0 and max_batch_size > shape[0]:
            specs.append(
                Input(
                    min_shape=(1,) + shape[1:],
                    opt_shape=shape,
                    max_shape=(max_batch_size,) + shape[1:],
                    dtype=t.dtype,
                )
            )
        else:
            specs.append(Input(shape=shape, dtype=t.dtype))
    dev = device if device is not None else ("cuda" if inputs[0].is_cuda else "cpu")
    settings = make_settings(
        enabled_precisions=({torch.float16} if fp16_mode else set()) | ({torch.int8} if int8_mode else set()),
        workspace_size=max_workspace_size,
        device=dev,
        optimization_level=optimization_level,
        timing_cache_path=timing_cache_path,
    )
    ctx = klog.level(log_level) if log_level is not None else contextlib.nullcontext()
    with ctx:
        single = build_single_engine(
            model, tuple(specs), {}, tuple(inputs), {}, settings, calibrator=calibrator
        )
    out_spec = None
    if single.out_spec is not None:
        out_spec = pytree.treespec_dumps(single.out_spec)
    mod = EngineModule(single.engine, single.input_names, single.output_names, out_spec)
    if input_names is not None:
        if len(input_names) != n:
            raise ValueError(f"kiln.convert: {len(input_names)} input_names for {n} inputs")
        mod.user_input_names = list(input_names)
    if output_names is not None:
        mod.user_output_names = list(output_names)
    return mod
