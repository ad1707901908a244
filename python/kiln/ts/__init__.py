"""The TorchScript frontend with Torch-TensorRT's names (``torch_tensorrt.ts``).

    trt_ts = kiln.ts.compile(torch.jit.script(model), inputs=[kiln.Input((1, 3, 224, 224))])
    plan = kiln.ts.convert_method_to_trt_engine(script_model, "forward", inputs=[...])   # bytes
    trt_mod = kiln.ts.embed_engine_in_new_module(plan)                                  # a ScriptModule

The compiled modules are ScriptModules whose engines are ``kiln::execute_engine`` calls: ``torch.jit.save``
them and load them from Python (``import kiln``) or C++ (libkiln_runtime).
"""

from __future__ import annotations

import builtins
import linecache
from typing import Any, Optional, Sequence

import torch

from kiln import logging  # kiln.ts.logging, as torch_tensorrt.ts.logging
from kiln._compile import (
    check_method_support,
    compile as _kiln_compile,
    convert_method_to_trt_engine as _convert,
)
from kiln._engine_module import PlanBytes, make_engine, single_engine_io_names
from kiln._enums import to_torch_device
from kiln._input import Input

__all__ = [
    "PlanBytes",
    "TorchScriptInput",
    "check_method_op_support",
    "compile",
    "convert_method_to_trt_engine",
    "embed_engine_in_new_module",
]

TorchScriptInput = Input


def _no_signature(input_signature: Any, where: str) -> None:
    if input_signature is not None:
        raise ValueError(
            f"{where}: input_signature (nested tuple/list inputs) is not supported by Kiln's TorchScript "
            "frontend; pass a flat inputs=[...] list, or use ir='dynamo' (torch.export takes nested inputs)"
        )


def compile(
    module: Any,
    inputs: Optional[Sequence[Any]] = None,
    input_signature: Any = None,
    **kwargs: Any,
) -> torch.jit.ScriptModule:
    """kiln.compile(module, ir="ts", ...): an nn.Module is scripted (traced when scripting fails), then its
    supported parts become engines. Keywords: kiln.compile's and Torch-TensorRT's (kiln._keywords)."""
    _no_signature(input_signature, "kiln.ts.compile")
    return _kiln_compile(module, ir="ts", inputs=inputs, **kwargs)


def check_method_op_support(
    module: Any, method_name: str = "forward", inputs: Any = None, **kwargs: Any
) -> bool:
    """True when every op of the method converts (the report is logged at INFO)."""
    if inputs is None:
        raise ValueError(
            "kiln.ts.check_method_op_support: Kiln specializes the graph to its inputs; pass inputs=[...]"
        )
    report = check_method_support(module, method_name, inputs=inputs, **kwargs)
    logging.logger.info("%s", report.text.rstrip())
    return report.fully_supported


def convert_method_to_trt_engine(
    module: Any,
    method_name: str = "forward",
    inputs: Optional[Sequence[Any]] = None,
    input_signature: Any = None,
    **kwargs: Any,
) -> bytes:
    """The whole method as one engine (every op must convert): the plan bytes, which
    ``embed_engine_in_new_module`` (or ``torch.classes.kiln.Engine``) turns back into something that runs."""
    _no_signature(input_signature, "kiln.ts.convert_method_to_trt_engine")
    if inputs is None:
        raise ValueError("kiln.ts.convert_method_to_trt_engine: inputs=[...] are required")
    return _convert(module, method_name, ir="ts", inputs=inputs, **kwargs)


_MODULE_COUNTER = [0]


def _embedded_class(n_in: int, n_out: int) -> type:
    """An nn.Module class with forward(self, input_0, ..., input_{n-1}) that runs self.engine, written as source
    so torch.jit.script can compile it (TorchScript has no *args)."""
    args = ", ".join(f"input_{i}: torch.Tensor" for i in range(n_in))
    names = ", ".join(f"input_{i}" for i in range(n_in))
    ret = "outs[0]" if n_out == 1 else "(" + ", ".join(f"outs[{i}]" for i in range(n_out)) + ",)"
    ret_type = "torch.Tensor" if n_out == 1 else "Tuple[" + ", ".join(["torch.Tensor"] * n_out) + "]"
    _MODULE_COUNTER[0] += 1
    src = (
        "import torch\n"
        "from typing import Tuple\n\n"
        "class KilnEmbeddedEngine(torch.nn.Module):\n"
        "    def __init__(self, engine):\n"
        "        super().__init__()\n"
        "        self.engine = engine\n\n"
        f"    def forward(self, {args}) -> {ret_type}:\n"
        f"        outs = torch.ops.kiln.execute_engine([{names}], self.engine)\n"
        f"        return {ret}\n"
    )
    filename = f"<kiln.ts embedded engine {_MODULE_COUNTER[0]}>"
    linecache.cache[filename] = (
        len(src),
        None,
        src.splitlines(True),
        filename,
    )  # inspect.getsource for script
    scope: dict = {}
    exec(builtins.compile(src, filename, "exec"), scope)  # our own generated source
    return scope["KilnEmbeddedEngine"]


def embed_engine_in_new_module(
    serialized_engine: bytes,
    input_binding_names: Optional[Sequence[str]] = None,
    output_binding_names: Optional[Sequence[str]] = None,
    device: Any = None,
) -> torch.jit.ScriptModule:
    """A ScriptModule whose forward(*inputs) runs the plan: a tensor for one output, a tuple for several. Names
    default to the ones convert_method_to_trt_engine recorded (or that the plan answers to)."""
    if not isinstance(serialized_engine, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"kiln.ts.embed_engine_in_new_module: expected plan bytes, got {type(serialized_engine).__name__}"
        )
    to_torch_device(
        device
    )  # validated; the plan already names its backend and engines run on their inputs' device
    plan = bytes(serialized_engine)
    if input_binding_names is None or output_binding_names is None:
        rec_in = getattr(serialized_engine, "input_names", None)
        rec_out = getattr(serialized_engine, "output_names", None)
        if rec_in is None or rec_out is None:
            rec_in, rec_out = single_engine_io_names(
                plan, len(input_binding_names) if input_binding_names else None
            )
        input_binding_names = input_binding_names or rec_in
        output_binding_names = output_binding_names or rec_out
    engine = make_engine(plan, list(input_binding_names), list(output_binding_names), "kiln_embedded_engine")
    cls = _embedded_class(len(input_binding_names), len(output_binding_names))
    return torch.jit.script(cls(engine))
