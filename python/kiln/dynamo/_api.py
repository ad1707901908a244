"""kiln.dynamo.compile / trace / export: Torch-TensorRT's ``torch_tensorrt.dynamo`` functions on Kiln."""

from __future__ import annotations

from typing import Any, Optional

import torch

from kiln._modes import eval_mode
from kiln._input import normalize_inputs
from kiln._keywords import NO_REFIT, UnsupportedOptionError, translate_keywords
from kiln._settings import OPTION_NAMES, debug_logging, make_settings
from kiln.dynamo._compiler import compile_dynamo
from kiln.dynamo._export import export_module
from kiln.dynamo._reexport import export_compiled, trace_compiled

_OUTPUT_FORMATS = {
    "graph_module": "graph_module",
    "fx": "graph_module",
    "exported_program": "exported_program",
    "ep": "exported_program",
    "torchscript": "torchscript",
    "ts": "torchscript",
}


def compile(
    exported_program: Any,
    inputs: Any = None,
    *,
    arg_inputs: Any = None,
    kwarg_inputs: Optional[dict] = None,
    output_format: str = "graph_module",
    **kwargs: Any,
) -> Any:
    """Compiles an ExportedProgram (or an nn.Module, which is exported first) with the dynamo frontend, as
    kiln.compile(ir="dynamo") does.

    ``inputs`` / ``arg_inputs`` / ``kwarg_inputs``: kiln.Input or example tensors (for an ExportedProgram they
    default to its example inputs, with its dynamic dims' ranges). Keywords: kiln.compile's (``dry_run``,
    ``calibrator`` and the settings), and Torch-TensorRT's through the table in kiln._keywords.
    ``output_format`` (Torch-TensorRT 2.3): "graph_module" (default), "exported_program" or "torchscript".
    """
    fmt = _OUTPUT_FORMATS.get(output_format)
    if fmt is None:
        raise ValueError(
            f"kiln.dynamo.compile: output_format must be one of {', '.join(map(repr, _OUTPUT_FORMATS))}, "
            f"got {output_format!r}"
        )
    if isinstance(exported_program, (torch.jit.ScriptModule, torch.jit.ScriptFunction)) or not isinstance(
        exported_program, (torch.export.ExportedProgram, torch.nn.Module)
    ):
        raise TypeError(
            "kiln.dynamo.compile: expected an ExportedProgram or an nn.Module, got "
            f"{type(exported_program).__name__} (TorchScript modules go through kiln.ts.compile)"
        )
    opts = translate_keywords(kwargs, "kiln.dynamo.compile", native=OPTION_NAMES + ("dry_run", "calibrator"))
    dry_run, calibrator = opts.pop("dry_run", False), opts.pop("calibrator", None)
    settings = make_settings(**opts)
    arg_specs, kw_specs, arg_ex, kw_ex = normalize_inputs(inputs, arg_inputs, kwarg_inputs)
    with debug_logging(settings):
        gm = compile_dynamo(
            exported_program,
            arg_specs,
            kw_specs,
            arg_ex,
            kw_ex,
            settings,
            dry_run=dry_run,
            calibrator=calibrator,
        )
    if dry_run:
        print(gm.text, end="" if gm.text.endswith("\n") else "\n")
        return gm
    if fmt == "graph_module":
        return gm
    return export(gm, output_format=fmt)


def trace(
    mod: Any,
    inputs: Any = None,
    *,
    arg_inputs: Any = None,
    kwarg_inputs: Optional[dict] = None,
    **kwargs: Any,
) -> torch.export.ExportedProgram:
    """torch.export of ``mod`` for compiling with Kiln: dims that differ between a kiln.Input's min_shape and
    max_shape are exported as dynamic dims with that range. Keywords: ``device`` (where the example inputs
    are made), and compile keywords, which are checked (kiln._keywords) but not used here."""
    if not isinstance(mod, torch.nn.Module):
        raise TypeError(f"kiln.dynamo.trace: expected an nn.Module, got {type(mod).__name__}")
    opts = translate_keywords(
        kwargs, "kiln.dynamo.trace", native=OPTION_NAMES + ("strict", "dry_run", "calibrator")
    )
    for unused in ("strict", "dry_run", "calibrator"):  # Kiln exports with strict=False (and its dim modes)
        opts.pop(unused, None)
    settings = make_settings(**opts)
    arg_specs, kw_specs, arg_ex, kw_ex = normalize_inputs(inputs, arg_inputs, kwarg_inputs)
    with eval_mode(mod):
        return export_module(
            mod, arg_specs, kw_specs, arg_ex or arg_specs, kw_ex or kw_specs, settings.device
        )


def export(
    gm: torch.nn.Module,
    inputs: Any = None,
    *,
    arg_inputs: Any = None,
    kwarg_inputs: Optional[dict] = None,
    output_format: str = "exported_program",
    dynamic_shapes: Any = None,
) -> Any:
    """A compiled module (from kiln.compile / kiln.dynamo.compile) as an ExportedProgram (its engines stay
    kiln::execute_engine calls; its inputs' ranges become dynamic dims), or with ``output_format="torchscript"``
    as a traced ScriptModule. Inputs default to the ones the module was compiled with."""
    fmt = _OUTPUT_FORMATS.get(output_format)
    if fmt == "exported_program":
        return export_compiled(gm, inputs, arg_inputs, kwarg_inputs, dynamic_shapes=dynamic_shapes)
    if fmt == "torchscript":
        return trace_compiled(gm, inputs, arg_inputs, kwarg_inputs)
    raise ValueError(
        f"kiln.dynamo.export: output_format must be 'exported_program' or 'torchscript', got {output_format!r}"
    )


def refit_module_weights(compiled_module: Any, new_weight_module: Any, *args: Any, **kwargs: Any) -> Any:
    """Torch-TensorRT's weight refit: not available in Kiln."""
    raise UnsupportedOptionError(f"kiln.dynamo.refit_module_weights is not supported: {NO_REFIT}")
