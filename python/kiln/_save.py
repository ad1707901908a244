"""kiln.save / kiln.load.

Formats:
  "exported_program" (default for modules from the dynamo frontend): the compiled module is exported again
      with torch.export (engines stay kiln::execute_engine calls, their plans ride along as the TorchBind
      objects' pickled state) and written with torch.export.save. kiln.load returns the ExportedProgram;
      call ``.module()`` to run it.
  "torchscript" (default for ScriptModules from ir="ts"): torch.jit.save; a compiled GraphModule is first
      traced with torch.jit.trace. kiln.load returns the ScriptModule. A C++ program can run it with
      libkiln_runtime loaded (see examples/cpp).
  "pickle": torch.save of the module object (KilnModule / EngineModule / GraphModule).

Loading needs only the runtime op: ``import kiln`` (or, from C++, libkiln_runtime). All of these
formats unpickle data: like any torch.load, never load files from sources you do not trust.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any, Optional

import torch

from kiln._errors import KilnError, UnsupportedError
from kiln._load_checks import load_exported, refuse_raw_plan, with_path
from kiln.dynamo._reexport import export_compiled, trace_compiled

FORMATS = ("exported_program", "torchscript", "pickle")
_FORMAT_ALIASES = {"ep": "exported_program", "ts": "torchscript"}


def save(
    module: Any,
    file_path: str = "",
    output_format: Optional[str] = None,
    inputs: Any = None,
    arg_inputs: Any = None,
    kwarg_inputs: Optional[dict] = None,
    retrace: bool = True,
    *,
    extra_files: Optional[dict] = None,
    pickle_protocol: int = 2,
    dynamic_shapes: Any = None,
    use_legacy_exporter: Optional[bool] = None,
) -> None:
    """Saves a compiled module. ``inputs`` (kiln.Input or tensors) are needed to export / trace a module that
    did not come from kiln.compile (modules from kiln.compile remember theirs, ranges included).

    Torch-TensorRT's keywords: ``output_format`` "exported_program" (alias "ep") or "torchscript" ("ts"), or
    Kiln's "pickle"; ``retrace`` is accepted either way (Kiln always re-exports the compiled module with
    torch.export, which keeps its dynamic dims); ``dynamic_shapes`` replaces the ranges taken from the inputs;
    ``extra_files`` and ``pickle_protocol`` go to torch.export.save / torch.jit.save; ``use_legacy_exporter``
    has no effect (Kiln has one exporter)."""
    if output_format is None:
        output_format = "torchscript" if isinstance(module, torch.jit.ScriptModule) else "exported_program"
    output_format = _FORMAT_ALIASES.get(output_format, output_format)
    if output_format in ("aot_inductor", "executorch"):
        raise UnsupportedError(
            f"kiln.save: output_format={output_format!r} is not supported: Kiln engines run through the "
            "kiln::execute_engine op; save as 'exported_program' (loads in Python) or 'torchscript' (loads "
            "in Python and in C++ with libkiln_runtime)"
        )
    if output_format not in FORMATS:
        raise ValueError(
            f"kiln.save: output_format must be one of {', '.join(map(repr, FORMATS))}, got {output_format!r}"
        )
    if not isinstance(file_path, (str, os.PathLike)) or not os.fspath(file_path):
        raise TypeError(f"kiln.save: file_path must be a non-empty path, got {file_path!r}")
    if not isinstance(retrace, bool):
        raise TypeError("kiln.save: retrace must be a bool")
    del use_legacy_exporter  # one exporter
    file_path = os.fspath(file_path)
    if output_format == "pickle":
        torch.save(module, file_path, pickle_protocol=pickle_protocol)
        return
    if isinstance(module, torch.jit.ScriptModule):
        if output_format != "torchscript":
            raise ValueError(
                "kiln.save: a TorchScript module (ir='ts') saves only as output_format='torchscript'"
            )
        torch.jit.save(module, file_path, _extra_files=extra_files or {})
        return
    if isinstance(module, torch.export.ExportedProgram):
        if output_format != "exported_program":
            raise ValueError("kiln.save: an ExportedProgram saves as output_format='exported_program'")
        torch.export.save(module, file_path, extra_files=extra_files, pickle_protocol=pickle_protocol)
        return
    if output_format == "torchscript":
        torch.jit.save(
            trace_compiled(module, inputs, arg_inputs, kwarg_inputs),
            file_path,
            _extra_files=extra_files or {},
        )
        return
    ep = export_compiled(module, inputs, arg_inputs, kwarg_inputs, dynamic_shapes=dynamic_shapes)
    torch.export.save(ep, file_path, extra_files=extra_files, pickle_protocol=pickle_protocol)


def _zip_names(path: str) -> list[str]:
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError):
        return []


def load(file_path: str = "", extra_files: Optional[dict] = None, map_location: Any = None) -> Any:
    """Loads what kiln.save wrote: an ExportedProgram (call .module()), a ScriptModule, or a pickled module.
    Unpickles the file: only load files you trust."""
    file_path = os.fspath(file_path)
    if not os.path.exists(file_path):
        raise FileNotFoundError(file_path)
    refuse_raw_plan(file_path)
    names = _zip_names(file_path)
    try:
        if _is_ts(names):
            return torch.jit.load(file_path, map_location=map_location, _extra_files=extra_files or {})
        if _is_exported(names):
            return load_exported(file_path, extra_files)
        return torch.load(file_path, map_location=map_location, weights_only=False)
    except KilnError as e:  # an engine in the file that cannot be restored (damaged plan, ...): its own error
        raise (e if str(e).startswith("kiln.load:") else with_path(e, file_path)) from None
    except Exception as e:  # noqa: BLE001
        if _is_ts(names) or _is_exported(names):
            raise
        raise RuntimeError(
            f"kiln.load: {file_path} is not an ExportedProgram, TorchScript or pickled module: {e}"
        ) from e


def _is_exported(names: list[str]) -> bool:
    return any(n.endswith("archive_format") or "/models/" in n or n.startswith("models/") for n in names)


def _is_ts(names: list[str]) -> bool:
    return any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names)
