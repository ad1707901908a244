"""Kiln: an ahead-of-time inference compiler for PyTorch.

    import kiln
    trt_model = kiln.compile(model, inputs=[kiln.Input((1, 3, 224, 224))])   # dynamo (torch.export)
    kiln.compile(model, inputs=[x], dry_run=True)                              # which ops run where
    kiln.save(trt_model, "model.ep"); kiln.load("model.ep").module()(x)
    torch.compile(model, backend="kiln")                                       # JIT
    kiln.convert(model, [x])                                                   # torch2trt-style, one engine
    kiln.fx.compile(model, [x])                                                # legacy FX API
    kiln.debug.compare(model, [x])                                             # first layer off from eager
    kiln.report(trt_model, "report.html", profile=True)                        # what was compiled, as a page

Torch-TensorRT and torch2trt programs run with only their import line changed (docs/migrating.md):
``import kiln as torch_tensorrt`` (``dynamo``, ``ts``, ``runtime``, ``logging``, ``Input``, ``Device``,
``dtype``, ``save``/``load``, ``torch.compile(backend="torch_tensorrt")``) and
``from kiln.torch2trt import torch2trt, TRTModule``.

Importing kiln loads libkiln_runtime (torch.classes.kiln.Engine, torch.ops.kiln.execute_engine) and the
bindings (kiln._C). ``KILN_BUILD_DIR=<cmake build dir>`` uses an in-tree CMake build instead of the
installed libraries.
"""

from __future__ import annotations

import torch  # noqa: F401 - must be loaded before the native parts

from kiln._native import C as _C, build_info  # noqa: E402 - loads the libraries
from kiln import logging  # noqa: E402

logging._install(_C)

from kiln import _fake  # noqa: E402

_fake.install()

from kiln._backend import register as _register_backend  # noqa: E402
from kiln._enums import Device, DeviceType, EngineCapability, dtype, memory_format  # noqa: E402
from kiln._keywords import CompatibilityWarning, MutableTorchTensorRTModule, UnsupportedOptionError  # noqa: E402
from kiln import ptq  # noqa: E402, F401 - kiln.ptq, the calibration API
from kiln._compile import (  # noqa: E402
    check_method_support,
    compile,
    convert_method_to_plan,
    convert_method_to_trt_engine,
    dry_run,
)
from kiln._errors import (  # noqa: E402
    BackendError,
    CompilationError,
    CorruptPlanError,
    DTypeError,
    ExportError,
    FileIOError,
    InternalError,
    InvalidArgumentError,
    KilnError,
    NotFoundError,
    OutOfMemoryError,
    ShapeError,
    UnsupportedError,
    UnsupportedOperatorError,
    VersionMismatchError,
)
from kiln._input import Input  # noqa: E402
from kiln._loader import NativeLibraryError, runtime_library_path  # noqa: E402
from kiln._report import LayerPrecision, OpSupport, SupportReport, precision_report, report  # noqa: E402
from kiln._save import load, save  # noqa: E402
from kiln._engine_module import EngineModule  # noqa: E402
from kiln._torch2trt import convert  # noqa: E402
from kiln import fx  # noqa: E402
from kiln import dynamo, runtime, torch2trt, ts  # noqa: E402
from kiln.runtime import (  # noqa: E402 - Torch-TensorRT exports these at the top level too
    enable_cudagraphs,
    get_cudagraphs_mode,
    set_cudagraphs_mode,
    set_multi_device_safe_mode,
)
from kiln import debug  # noqa: E402 - kiln.debug.compare
from kiln import llm  # noqa: E402, F401 - kiln.llm.compile, generation with a KV cache

_register_backend()

__version__ = _C.kiln_version


def available_backends() -> list[str]:
    """Backends compiled into this build ("cpu", and "cuda" when built with CUDA)."""
    return list(_C.available_backends())


def supported_ops() -> list[str]:
    """Overload names of every op with a converter or evaluator (e.g. "aten::convolution")."""
    return list(_C.converter_ops())


__all__ = [
    "BackendError",
    "CompatibilityWarning",
    "CompilationError",
    "CorruptPlanError",
    "DTypeError",
    "Device",
    "DeviceType",
    "EngineCapability",
    "EngineModule",
    "ExportError",
    "FileIOError",
    "Input",
    "InternalError",
    "InvalidArgumentError",
    "KilnError",
    "LayerPrecision",
    "MutableTorchTensorRTModule",
    "NativeLibraryError",
    "NotFoundError",
    "OpSupport",
    "OutOfMemoryError",
    "ShapeError",
    "SupportReport",
    "UnsupportedError",
    "UnsupportedOperatorError",
    "UnsupportedOptionError",
    "VersionMismatchError",
    "available_backends",
    "build_info",
    "check_method_support",
    "compile",
    "convert",
    "convert_method_to_plan",
    "convert_method_to_trt_engine",
    "debug",
    "dry_run",
    "dtype",
    "dynamo",
    "enable_cudagraphs",
    "fx",
    "get_cudagraphs_mode",
    "load",
    "logging",
    "memory_format",
    "ptq",
    "report",
    "runtime",
    "runtime_library_path",
    "save",
    "set_cudagraphs_mode",
    "set_multi_device_safe_mode",
    "supported_ops",
    "torch2trt",
    "ts",
    "precision_report",
]
