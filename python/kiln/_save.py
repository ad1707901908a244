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
import torch.utils._pytree as pytree

from kiln import _fake
from kiln._errors import KilnError, UnsupportedError
from kiln._input import Input, as_input
from kiln._load_checks import load_exported, refuse_raw_plan, with_path
from kiln.dynamo._export import dynamic_shapes_for

FORMATS = ("exported_program", "torchscript", "pickle")


def _specs(module: Any, inputs: Any, arg_inputs: Any, kwarg_inputs: Any) -> tuple[tuple, dict, bool]:
    if inputs is not None and arg_inputs is not None:
        raise ValueError("kiln.save: give inputs or arg_inputs, not both")
    args = inputs if inputs is not None else arg_inputs
    kwargs = kwarg_inputs
    from_module = False
    if args is None and kwargs is None:
        meta = getattr(module, "meta", None)
        info = meta.get("kiln") if isinstance(meta, dict) else None
        if info is None:
            return (), {}, False
        args, kwargs, from_module = info["arg_inputs"], info["kwarg_inputs"], True
    if isinstance(args, (torch.Tensor, Input)):
        args = (args,)
    args = tuple(args or ())
    kwargs = dict(kwargs or {})
    return args, kwargs, from_module


def _examples(args: tuple, kwargs: dict, device: torch.device) -> tuple[tuple, dict]:
    def ex(x: Any) -> Any:
        if isinstance(x, Input):
            return x.example_tensor("opt", device)
        if isinstance(x, torch.Tensor):
            return x.to(device)
        return x

    return tuple(pytree.tree_map(ex, list(args))), {k: pytree.tree_map(ex, v) for k, v in kwargs.items()}


def _module_device(module: Any) -> torch.device:
    for t in list(getattr(module, "parameters", lambda: [])()) + list(
        getattr(module, "buffers", lambda: [])()
    ):
        return t.device
    return torch.device("cpu")


def save(
    module: Any,
    file_path: str,
    output_format: Optional[str] = None,
    inputs: Any = None,
    arg_inputs: Any = None,
    kwarg_inputs: Optional[dict] = None,
    retrace: bool = True,
) -> None:
    """Saves a compiled module. ``inputs`` (kiln.Input or tensors) are needed to export / trace a module that
    did not come from kiln.compile (modules from kiln.compile remember theirs)."""
    if output_format is None:
        output_format = "torchscript" if isinstance(module, torch.jit.ScriptModule) else "exported_program"
    if output_format not in FORMATS:
        raise ValueError(
            f"kiln.save: output_format must be one of {', '.join(map(repr, FORMATS))}, got {output_format!r}"
        )
    if not isinstance(file_path, (str, os.PathLike)):
        raise TypeError(f"kiln.save: file_path must be a path, got {type(file_path).__name__}")
    if not isinstance(retrace, bool):
        raise TypeError("kiln.save: retrace must be a bool")
    file_path = os.fspath(file_path)
    if output_format == "pickle":
        torch.save(module, file_path)
        return
    if isinstance(module, torch.jit.ScriptModule):
        if output_format != "torchscript":
            raise ValueError(
                "kiln.save: a TorchScript module (ir='ts') saves only as output_format='torchscript'"
            )
        torch.jit.save(module, file_path)
        return
    if isinstance(module, torch.export.ExportedProgram):
        if output_format != "exported_program":
            raise ValueError("kiln.save: an ExportedProgram saves as output_format='exported_program'")
        torch.export.save(module, file_path)
        return
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"kiln.save: expected a compiled module, got {type(module).__name__}")
    args, kwargs, _ = _specs(module, inputs, arg_inputs, kwarg_inputs)
    if not args and not kwargs:
        raise ValueError("kiln.save: inputs are needed to export this module (kiln.Input or example tensors)")
    args = tuple(pytree.tree_map(lambda x: as_input(x, "kiln.save inputs"), list(args)))
    kwargs = {
        k: pytree.tree_map(lambda x: as_input(x, "kiln.save kwarg_inputs"), v) for k, v in kwargs.items()
    }
    ex_args, ex_kwargs = _examples(args, kwargs, _module_device(module))
    if output_format == "torchscript":
        if kwargs:
            raise ValueError("kiln.save: output_format='torchscript' traces positional inputs only")
        with torch.no_grad():
            traced = torch.jit.trace(module, ex_args, check_trace=False)
        torch.jit.save(traced, file_path)
        return
    if _fake.FAKE_KERNEL_ERROR is not None:
        raise UnsupportedError(
            "kiln.save: output_format='exported_program' re-exports the compiled module, which "
            "needs kiln::execute_engine registered for CompositeExplicitAutograd in libkiln_runtime "
            "(this build registers a catch-all kernel that fake tensors would run); use "
            "output_format='torchscript' or 'pickle'"
        )
    ep, last = None, None
    for mode in ("named", "shared"):
        dyn = dynamic_shapes_for(module, args, kwargs, mode)
        try:
            with torch.no_grad():
                ep = torch.export.export(module, ex_args, ex_kwargs, dynamic_shapes=dyn, strict=False)
            break
        except Exception as e:  # noqa: BLE001 - reported below
            last = e
            if dyn is None:
                break
    if ep is None:
        raise RuntimeError(f"kiln.save: torch.export of the compiled module failed: {last}") from last
    torch.export.save(ep, file_path)


def _zip_names(path: str) -> list[str]:
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError):
        return []


def load(file_path: str, extra_files: Optional[dict] = None, map_location: Any = None) -> Any:
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
