"""Capture with torch.export: dynamic dims from the inputs' ranges (torch.export.Dim with min/max)."""

from __future__ import annotations

import inspect
import logging
import re
import sys
from typing import Any, Optional

import torch
import torch.utils._pytree as pytree

from kiln._errors import ExportError
from kiln._input import Input

_log = logging.getLogger("kiln")


def _is_input(x: Any) -> bool:
    return isinstance(x, Input)


def example_value(spec: Any, example: Any, which: str, device: torch.device) -> Any:
    """The value a leaf takes in a run at `which` (min/opt/max): user tensors at opt, else random."""
    if not isinstance(spec, Input):
        return spec
    if which == "opt" and isinstance(example, torch.Tensor):
        return example.to(device)
    return spec.example_tensor(which, device)


def export_example(spec: Any, example: Any, device: torch.device) -> Any:
    """Example for torch.export: like opt, but dynamic dims of size 0/1 are moved up to 2 (export
    specializes sizes 0 and 1)."""
    if not isinstance(spec, Input):
        return spec
    if isinstance(example, torch.Tensor) and not spec.is_dynamic():
        return example.to(device)
    shape = list(spec.opt_shape)
    for d in spec.dynamic_dims():
        if shape[d] < 2 <= spec.max_shape[d]:
            shape[d] = max(2, spec.min_shape[d])
    if tuple(shape) == spec.opt_shape and getattr(spec, "torch_tensor", None) is not None:
        return spec.example_tensor("opt", device)  # the user's example (Input(torch_tensor=...))
    tmp = Input(shape=tuple(shape), dtype=spec.dtype, format=spec.format)
    if isinstance(example, torch.Tensor) and tuple(example.shape) == tuple(shape):
        return example.to(device)
    return tmp.example_tensor("opt", device)


def _sanitize(s: str) -> str:
    s = re.sub(r"\W", "_", s)
    return s if s and not s[0].isdigit() else "_" + s


# How dynamic dims become torch.export specs, tried in this order: "hint" gives every (input, position) its
# own Dim.DYNAMIC(min, max) hint, so export itself finds the dims the model requires equal (x + y, a
# grouped convolution's channels) and two independent dims with the same range stay apart; "named" gives
# each its own named Dim; "shared" uses one Dim per (min, max) range (older torch without range hints).
EXPORT_DIM_MODES = ("hint", "named", "shared")


def dynamic_shapes_for(
    module: torch.nn.Module, arg_specs: tuple, kwarg_specs: dict, mode: str
) -> Optional[Any]:
    """torch.export dynamic_shapes for these inputs (None when all static); `mode` is one of
    EXPORT_DIM_MODES."""
    if not any(
        isinstance(x, Input) and x.is_dynamic()
        for x in pytree.tree_leaves((arg_specs, kwarg_specs), is_leaf=_is_input)
    ):
        return None
    dims: dict[Any, Any] = {}
    share = mode == "shared"

    def dim_for(name: str, lo: int, hi: int) -> Any:
        if mode == "hint":
            return torch.export.Dim.DYNAMIC(min=lo, max=hi)
        key = (lo, hi) if share else name
        if key not in dims:
            dims[key] = torch.export.Dim(_sanitize(name if not share else f"dim_{lo}_{hi}"), min=lo, max=hi)
        return dims[key]

    def spec_of(path: str, x: Any) -> Any:
        if isinstance(x, Input):
            if not x.is_dynamic():
                return None
            return {d: dim_for(f"{path}_d{d}", x.min_shape[d], x.max_shape[d]) for d in x.dynamic_dims()}
        if isinstance(x, (list, tuple)):
            return type(x)(spec_of(f"{path}_{i}", y) for i, y in enumerate(x))
        if isinstance(x, dict):
            return {k: spec_of(f"{path}_{k}", y) for k, y in x.items()}
        return None

    try:
        sig = inspect.signature(module.forward)
        bound = sig.bind(*arg_specs, **kwarg_specs)
    except (TypeError, ValueError):
        if kwarg_specs:
            raise
        return tuple(spec_of(f"arg{i}", x) for i, x in enumerate(arg_specs))
    out = {}
    for name, val in bound.arguments.items():
        p = sig.parameters[name]
        if p.kind == inspect.Parameter.VAR_POSITIONAL:
            out[name] = tuple(spec_of(f"{name}_{i}", x) for i, x in enumerate(val))
        elif p.kind == inspect.Parameter.VAR_KEYWORD:
            out[name] = {k: spec_of(f"{name}_{k}", x) for k, x in val.items()}
        else:
            out[name] = spec_of(name, val)
    return out


# Objects in a model's outputs that pytree does not know (a transformers cache, e.g. EncoderDecoderCache
# of an encoder-decoder called with use_cache=True) are registered as pytree nodes through their attributes,
# so export flattens them and the compiled module hands back the same kind of object.
_UNKNOWN_OUTPUT = re.compile(r"Found <class '([\w.]+)'> in output, which is not a known type")
_MAX_OUTPUT_TYPES = 16


def _holds_tensor(x: Any, depth: int = 0) -> bool:
    if isinstance(x, torch.Tensor):
        return True
    if depth > 8:
        return False
    if isinstance(x, (list, tuple)):
        return any(_holds_tensor(y, depth + 1) for y in x)
    if isinstance(x, dict):
        return any(_holds_tensor(y, depth + 1) for y in x.values())
    return hasattr(x, "__dict__") and not isinstance(x, type) and _holds_tensor(vars(x), depth + 1)


def _flatten_object(obj: Any) -> tuple[list, Any]:
    """Children: the attributes that hold tensors; the others (a device, flags) ride in the context."""
    attrs = vars(obj)
    keys = sorted(k for k, v in attrs.items() if _holds_tensor(v))
    consts = tuple((k, v) for k, v in sorted(attrs.items(), key=lambda kv: kv[0]) if k not in keys)
    return [attrs[k] for k in keys], (type(obj), tuple(keys), consts)


def _flatten_object_with_keys(obj: Any) -> tuple[list, Any]:
    values, ctx = _flatten_object(obj)
    return [(pytree.GetAttrKey(k), v) for k, v in zip(ctx[1], values)], ctx


def _unflatten_object(values: Any, context: Any) -> Any:
    cls, keys, consts = context
    obj = cls.__new__(cls)
    obj.__dict__.update(consts)
    obj.__dict__.update(zip(keys, values))
    return obj


def _register_output_type(e: BaseException) -> bool:
    """Registers the output type that `e` (torch.export's error) names as a pytree node; False when `e` is
    another error or the type is not found or registered already."""
    m = _UNKNOWN_OUTPUT.search(str(e))
    if not m:
        return False
    mod_name, _, cls_name = m.group(1).rpartition(".")
    cls = getattr(sys.modules.get(mod_name), cls_name, None)
    if not isinstance(cls, type) or cls in pytree.SUPPORTED_NODES:
        return False
    pytree.register_pytree_node(
        cls,
        _flatten_object,
        _unflatten_object,
        serialized_type_name=m.group(1),
        flatten_with_keys_fn=_flatten_object_with_keys,
    )
    _log.info("kiln: %s in the outputs is flattened through its attributes (a pytree node)", m.group(1))
    return True


def export_module(
    module: torch.nn.Module,
    arg_specs: tuple,
    kwarg_specs: dict,
    arg_examples: tuple,
    kwarg_examples: dict,
    device: torch.device,
) -> torch.export.ExportedProgram:
    args = (
        pytree.tree_map(lambda s, e: export_example(s, e, device), arg_specs, arg_examples, is_leaf=_is_input)
        if arg_specs
        else ()
    )
    kwargs = {
        k: pytree.tree_map(
            lambda s, e: export_example(s, e, device), v, kwarg_examples.get(k, v), is_leaf=_is_input
        )
        for k, v in kwarg_specs.items()
    }
    errors = []
    modes = EXPORT_DIM_MODES if callable(getattr(torch.export.Dim, "DYNAMIC", None)) else EXPORT_DIM_MODES[1:]
    registered = 0
    i = 0
    while i < len(modes):
        dyn = dynamic_shapes_for(module, arg_specs, kwarg_specs, modes[i])
        try:
            with torch.no_grad():
                return torch.export.export(module, tuple(args), kwargs, dynamic_shapes=dyn, strict=False)
        except Exception as e:  # noqa: BLE001 - torch raises many kinds; reported below
            if registered < _MAX_OUTPUT_TYPES and _register_output_type(e):
                registered += 1
                continue  # the same mode again, now that the output type flattens
            errors.append(e)
            if dyn is None:
                break
            i += 1
    e = errors[0]  # the most permissive capture's error (hints) says best what the model fixes
    msg = str(e).strip()
    if len(msg) > 4000:
        msg = msg[:4000] + " ..."
    raise ExportError(
        f"kiln: torch.export could not capture {type(module).__name__}: {type(e).__name__}: {msg}\n"
        "Hints: check that the inputs match forward()'s signature; a dynamic dim the model fixes (e.g. a "
        "reshape to a constant size) must be static in its kiln.Input; ir='ts' or ir='torch_compile' "
        "capture differently.",
        "InvalidArgument",
    ) from e
