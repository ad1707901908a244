"""Run-time switches with Torch-TensorRT's names (``torch_tensorrt.runtime``).

Kiln's CUDA runtime captures a CUDA graph per engine, execution context and input shape and replays it; that
is its default. ``set_cudagraphs_mode(False)`` turns replay off for every Kiln engine in the process (engines
then launch their kernels one by one: what a caller needs who captures the whole module in its own
``torch.cuda.graph``); ``set_cudagraphs_mode(True)`` and ``enable_cudagraphs(module)`` turn it back on.
``get_cudagraphs_mode()`` reports the state (True by default, where Torch-TensorRT starts with False). The
switch is the ``kiln::set_cuda_graphs`` op of the runtime library, so TorchScript and C++ deployments have it
too. The CPU backend has no CUDA graphs: there the mode changes nothing.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

from kiln._native import C  # noqa: F401 - loads the runtime library that registers the kiln ops


def set_cudagraphs_mode(mode: bool) -> None:
    """Torch-TensorRT's switch for CUDA-graph replay: on (Kiln's default) each engine replays a captured CUDA
    graph per input shape; off, engines launch kernels one by one (e.g. inside the caller's own capture)."""
    if not isinstance(mode, bool):
        raise TypeError(f"kiln.runtime.set_cudagraphs_mode: expected a bool, got {mode!r}")
    torch.ops.kiln.set_cuda_graphs(mode)


def get_cudagraphs_mode() -> bool:
    """Whether Kiln's CUDA engines replay CUDA graphs (True unless set_cudagraphs_mode(False) was called)."""
    return bool(torch.ops.kiln.cuda_graphs_enabled())


def get_whole_cudagraphs_mode() -> bool:
    """Torch-TensorRT captures whole modules with PyTorch fallbacks in one graph; Kiln captures per engine."""
    return False


@contextlib.contextmanager
def enable_cudagraphs(compiled_module: Any) -> Iterator[Any]:
    """``with kiln.runtime.enable_cudagraphs(trt_module) as m: m(x)``: yields the module itself with CUDA-graph
    replay on inside the block (the mode before it is restored after)."""
    old = get_cudagraphs_mode()
    set_cudagraphs_mode(True)
    try:
        yield compiled_module
    finally:
        set_cudagraphs_mode(old)


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
