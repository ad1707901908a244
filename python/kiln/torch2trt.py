"""torch2trt's names on Kiln: ``from kiln.torch2trt import torch2trt, TRTModule``.

    model_trt = torch2trt(model, [x], fp16_mode=True, max_batch_size=8)
    torch.save(model_trt.state_dict(), "model_trt.pth")
    model_trt = TRTModule(); model_trt.load_state_dict(torch.load("model_trt.pth"))

``torch2trt`` is kiln.convert (the whole model as one engine, every op must convert); its keywords that do
not apply to Kiln go through the table in kiln._keywords (no-ops warn, unsupported ones raise).
``TRTModule`` is kiln.EngineModule. torch2trt's Python converter registry (``tensorrt_converter``) has no
Kiln equivalent: Kiln's converters are C++ (see kiln_torch/converters).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from kiln._engine_module import EngineModule
from kiln._keywords import translate_keywords
from kiln._torch2trt import convert

__all__ = ["TRTModule", "torch2trt"]

TRTModule = EngineModule

_NATIVE = tuple(p for p in inspect.signature(convert).parameters if p not in ("model", "inputs"))


def torch2trt(module: torch.nn.Module, inputs: Any, **kwargs: Any) -> EngineModule:
    """torch2trt(module, inputs, ...) -> a TRTModule (kiln.EngineModule) holding one engine."""
    opts = translate_keywords(kwargs, "kiln.torch2trt", native=_NATIVE, scope="torch2trt")
    lv = opts.get("log_level")
    if lv is not None and not isinstance(lv, (int, str)):
        # tensorrt.Logger.Severity-like objects: by name (INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE)
        opts["log_level"] = str(getattr(lv, "name", lv)).split(".")[-1].lower()
    return convert(module, inputs, **opts)
