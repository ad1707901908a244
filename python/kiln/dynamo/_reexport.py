"""A compiled module captured again for saving: torch.export (engines stay kiln::execute_engine calls, the
inputs' ranges become dynamic dims) or torch.jit.trace. Used by kiln.save and kiln.dynamo.export."""

from __future__ import annotations

from typing import Any

import torch
import torch.utils._pytree as pytree

from kiln import _fake
from kiln._errors import UnsupportedError
from kiln._input import Input, as_input
from kiln.dynamo._export import dynamic_shapes_for


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


def _compiled_specs(module: Any, inputs: Any, arg_inputs: Any, kwarg_inputs: Any, where: str) -> tuple:
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"{where}: expected a compiled module, got {type(module).__name__}")
    args, kwargs, _ = _specs(module, inputs, arg_inputs, kwarg_inputs)
    if not args and not kwargs:
        raise ValueError(f"{where}: inputs are needed to export this module (kiln.Input or example tensors)")
    args = tuple(pytree.tree_map(lambda x: as_input(x, f"{where} inputs"), list(args)))
    kwargs = {
        k: pytree.tree_map(lambda x: as_input(x, f"{where} kwarg_inputs"), v) for k, v in kwargs.items()
    }
    return args, kwargs


def trace_compiled(module: Any, inputs: Any = None, arg_inputs: Any = None, kwarg_inputs: Any = None) -> Any:
    """A compiled GraphModule as a ScriptModule (torch.jit.trace at the inputs' opt shapes; the engines keep
    their own ranges)."""
    args, kwargs = _compiled_specs(module, inputs, arg_inputs, kwarg_inputs, "kiln.save")
    if kwargs:
        raise ValueError("kiln.save: output_format='torchscript' traces positional inputs only")
    ex_args, _ = _examples(args, {}, _module_device(module))
    with torch.no_grad():
        return torch.jit.trace(module, ex_args, check_trace=False)


def export_compiled(
    module: Any,
    inputs: Any = None,
    arg_inputs: Any = None,
    kwarg_inputs: Any = None,
    dynamic_shapes: Any = None,
) -> torch.export.ExportedProgram:
    """A compiled module exported again with torch.export (engines stay kiln::execute_engine calls), with the
    inputs' ranges as dynamic dims."""
    args, kwargs = _compiled_specs(module, inputs, arg_inputs, kwarg_inputs, "kiln.save")
    ex_args, ex_kwargs = _examples(args, kwargs, _module_device(module))
    if _fake.FAKE_KERNEL_ERROR is not None:
        raise UnsupportedError(
            "kiln.save: output_format='exported_program' re-exports the compiled module, which "
            "needs kiln::execute_engine registered for CompositeExplicitAutograd in libkiln_runtime "
            "(this build registers a catch-all kernel that fake tensors would run); use "
            "output_format='torchscript' or 'pickle'"
        )
    ep, last = None, None
    for mode in ("given",) if dynamic_shapes is not None else ("named", "shared"):
        dyn = dynamic_shapes if mode == "given" else dynamic_shapes_for(module, args, kwargs, mode)
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
    return ep
