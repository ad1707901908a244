"""Run-time input checks in the user's terms, before any engine runs.

A module compiled by kiln.compile (dynamo) accepts the shapes and dtypes of its kiln.Input specs. An engine
that gets something else fails with the engine's own names ("engine 'kiln_engine_0': input 'input_0'
dim 0 = 9 ..."); this forward pre-hook says it first, with the name of forward()'s argument, the shape
given and the range compiled for:

    kiln.ShapeError: kiln: input 'x' has shape (9, 16); dim 0 = 9 is outside the range the module was
    compiled for, [1, 4] (kiln.Input(min_shape=(1, 16), opt_shape=(2, 16), max_shape=(4, 16))) ...

The hook does nothing while torch.export / torch.compile / torch.jit.trace trace the module (shapes are
symbolic there; the engines check them when run). A leaf module apart from the error classes.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
import torch.utils._pytree as pytree
from torch.fx import _pytree as fx_pytree

from kiln._errors import DTypeError, ShapeError
from kiln._input import Input


def _tracing() -> bool:
    return bool(torch.compiler.is_compiling() or torch.compiler.is_exporting() or torch.jit.is_tracing())


def _spec_text(s: Input) -> str:
    if s.is_dynamic():
        return (
            f"kiln.Input(min_shape={tuple(s.min_shape)}, opt_shape={tuple(s.opt_shape)}, "
            f"max_shape={tuple(s.max_shape)})"
        )
    return f"kiln.Input(shape={tuple(s.opt_shape)})"


def check_tensor(name: str, t: torch.Tensor, spec: Input) -> None:
    """Raises ShapeError / DTypeError naming input `name` when `t` is outside `spec`."""
    shape = tuple(t.shape)
    lo, hi = tuple(spec.min_shape), tuple(spec.max_shape)
    if len(shape) != len(lo):
        raise ShapeError(
            f"kiln: input '{name}' has shape {shape} ({len(shape)} dims); the module was compiled for "
            f"{len(lo)} dims: {_spec_text(spec)}",
            "ShapeError",
        )
    for d, (n, a, b) in enumerate(zip(shape, lo, hi)):
        if a <= n <= b:
            continue
        if a == b:
            raise ShapeError(
                f"kiln: input '{name}' has shape {shape}; dim {d} = {n} but the module was compiled for "
                f"{a} ({_spec_text(spec)}). Compile with kiln.Input(min_shape=..., opt_shape=..., "
                "max_shape=...) to accept other sizes",
                "ShapeError",
            )
        raise ShapeError(
            f"kiln: input '{name}' has shape {shape}; dim {d} = {n} is outside the range the module was "
            f"compiled for, [{a}, {b}] ({_spec_text(spec)}). Compile with a wider range to accept it",
            "ShapeError",
        )
    if t.dtype != spec.dtype:
        raise DTypeError(
            f"kiln: input '{name}' is {t.dtype}; the module was compiled for {spec.dtype}: pass "
            f"{name}.to({spec.dtype}), or compile with kiln.Input(..., dtype={t.dtype})",
            "TypeError",
        )


class InputCheck:
    """Forward pre-hook (with kwargs) of a compiled GraphModule: checks every tensor input against its
    compiled kiln.Input. `names` / `specs` are per flat input (placeholder) of the graph; `in_spec` is the
    graph's pytree input spec (None: the inputs are the flat positional arguments). Cheap on the common
    call (positional tensors, shapes in range): a few comparisons per input."""

    def __init__(self, names: Sequence[str], specs: Sequence[Any], in_spec: Optional[Any] = None):
        self.names = list(names)
        self.specs = list(specs)
        self.in_spec = in_spec
        # (flat index, static shape or None, min, max, dtype) per tensor input
        self._checks = [
            (
                i,
                None if s.is_dynamic() else torch.Size(s.opt_shape),
                tuple(s.min_shape),
                tuple(s.max_shape),
                s.dtype,
            )
            for i, s in enumerate(self.specs)
            if isinstance(s, Input)
        ]

    def _flat(self, args: tuple, kwargs: dict) -> Optional[Sequence[Any]]:
        if not kwargs and len(args) == len(self.specs):
            return args  # positional leaves: what the graph's flattening gives
        try:
            if self.in_spec is not None:
                return list(fx_pytree.tree_flatten_spec((list(args), dict(kwargs)), self.in_spec))
            return pytree.tree_leaves((list(args), dict(kwargs)))
        except Exception:  # noqa: BLE001 - a structure the graph does not take: the module itself says so
            return None

    def __call__(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        flat = self._flat(args, kwargs)
        if flat is None or len(flat) != len(self.specs) or _tracing():
            return None
        for i, static, lo, hi, dtype in self._checks:
            t = flat[i]
            if not isinstance(t, torch.Tensor):
                continue
            shape = t.shape
            ok = shape == static if static is not None else _within(shape, lo, hi)
            if not ok or t.dtype != dtype:
                check_tensor(self.names[i], t, self.specs[i])
        return None


def _within(shape: torch.Size, lo: tuple, hi: tuple) -> bool:
    return len(shape) == len(lo) and all(a <= n <= b for n, a, b in zip(shape, lo, hi))


def install(module: torch.nn.Module, names: Sequence[str], specs: Sequence[Any], in_spec: Any) -> None:
    module.register_forward_pre_hook(InputCheck(names, specs, in_spec), with_kwargs=True)
