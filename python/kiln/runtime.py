"""Run-time switches with Torch-TensorRT's names (``torch_tensorrt.runtime``).

Kiln's CUDA runtime captures a CUDA graph per engine and input shape and replays it: that is its normal
mode, not a switch. ``set_cudagraphs_mode(True)`` and ``enable_cudagraphs(module)`` therefore ask for what
Kiln does anyway; ``set_cudagraphs_mode(False)`` is recorded (``get_cudagraphs_mode`` reports it) but, with a
GPU, engines keep replaying their graphs (same results) and a ``kiln.CompatibilityWarning`` says so. The CPU
backend has no CUDA graphs: there the mode changes nothing.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator

import torch

from kiln._keywords import CompatibilityWarning
from kiln._native import C

_cudagraphs_mode = False  # Torch-TensorRT's default; Kiln's CUDA engines replay graphs regardless


def _cuda_in_use() -> bool:
    return torch.cuda.is_available() and "cuda" in C.available_backends()


def set_cudagraphs_mode(mode: bool) -> None:
    """Torch-TensorRT's switch for CUDA-graph replay. Kiln's CUDA engines always capture and replay a CUDA
    graph per input shape, so the mode is only recorded (False warns that it changes nothing)."""
    global _cudagraphs_mode
    if not isinstance(mode, bool):
        raise TypeError(f"kiln.runtime.set_cudagraphs_mode: expected a bool, got {mode!r}")
    if not mode and _cuda_in_use():
        warnings.warn(
            "kiln.runtime.set_cudagraphs_mode(False) has no effect in Kiln (its CUDA engines always replay a "
            "CUDA graph per input shape)",
            CompatibilityWarning,
            stacklevel=2,
        )
    _cudagraphs_mode = mode


def get_cudagraphs_mode() -> bool:
    """The mode last given to set_cudagraphs_mode (False until then, as in Torch-TensorRT)."""
    return _cudagraphs_mode


def get_whole_cudagraphs_mode() -> bool:
    """Torch-TensorRT captures whole modules with PyTorch fallbacks in one graph; Kiln captures per engine."""
    return False


@contextlib.contextmanager
def enable_cudagraphs(compiled_module: Any) -> Iterator[Any]:
    """``with kiln.runtime.enable_cudagraphs(trt_module) as m: m(x)``: yields the module itself (its CUDA
    engines replay CUDA graphs per input shape)."""
    global _cudagraphs_mode
    old = _cudagraphs_mode
    _cudagraphs_mode = True
    try:
        yield compiled_module
    finally:
        _cudagraphs_mode = old


class _MultiDeviceSafeMode:
    def __init__(self, old: bool):
        self.old = old

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        global _multi_device_safe_mode
        _multi_device_safe_mode = self.old


_multi_device_safe_mode = False


def set_multi_device_safe_mode(mode: bool) -> _MultiDeviceSafeMode:
    """Kiln's engines always run on the device of their inputs (under a device guard), so this safety check
    is built in; the mode is recorded, and the returned object restores it when used as a context manager."""
    global _multi_device_safe_mode
    old = _multi_device_safe_mode
    _multi_device_safe_mode = bool(mode)
    return _MultiDeviceSafeMode(old)


__all__ = [
    "enable_cudagraphs",
    "get_cudagraphs_mode",
    "get_whole_cudagraphs_mode",
    "set_cudagraphs_mode",
    "set_multi_device_safe_mode",
]
