"""Fake (meta) support so compiled modules can be traced again: torch.export, torch.compile, make_fx.

* ``kiln::Engine`` gets a fake class (torch._library.register_fake_class). torch.export fakifies the
  engine through its ``__obj_flatten__`` (name and I/O names; kiln._C adds that method to the class) and
  keeps the real engine beside the fake one (``FakeScriptObject.real_obj``).
* ``kiln::execute_engine`` gets a fake kernel. Output dtypes come from the engine. Output shapes:
  - all input dims concrete: the engine's own shape inference (``Engine.output_shapes``);
  - symbolic input dims: the engine is probed at two sets of sizes (the hints, then each symbol moved by a
    different offset). An output dim that is constant in both probes is that constant; one that equals an
    input dim (or that dim times / plus a constant) in both probes becomes that expression of the input's
    symbol; anything else becomes a new unbacked size (``ctx.new_dynamic_size()``), which torch.export
    accepts but which cannot be related to other dims later.
  Limits: a probe outside the engine's optimization profile fails, then sizes fall back to unbacked;
  relations more complex than ``a*s + b`` of one input dim are not recovered.
  - a data-dependent output (nonzero; the engine reports -1 for its rows) gets a new unbacked size.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from kiln._native import C

_installed = False
# Why the fake kernel could not be registered (None: registered).
FAKE_KERNEL_ERROR: Optional[str] = None


def _real(engine: Any) -> Any:
    return getattr(engine, "real_obj", engine)


def _dtypes(engine: Any) -> list[torch.dtype]:
    return [C.scalar_type(int(c)) for c in _real(engine).output_dtypes()]


def _symbols_of(inputs: list[torch.Tensor]) -> tuple[dict, dict]:
    """{sympy symbol: hint} over the inputs' symbolic dims, and {symbol: shape_env}."""
    hints: dict = {}
    envs: dict = {}
    for t in inputs:
        for d in t.shape:
            if isinstance(d, torch.SymInt):
                node = d.node
                expr = node.expr
                for s in expr.free_symbols:
                    if s in hints:
                        continue
                    env = node.shape_env
                    table = getattr(env, "backed_var_to_val", None) if env is not None else None
                    if table is None and env is not None:
                        table = env.var_to_val
                    val = table.get(s) if table is not None else None
                    if val is None:
                        val = node.hint
                    hints[s] = int(val) if val is not None else None
                    envs[s] = env
    return hints, envs


def _eval_dim(d: Any, values: dict) -> Optional[int]:
    if isinstance(d, int):
        return d
    expr = d.node.expr
    try:
        return int(expr.xreplace({s: values[s] for s in expr.free_symbols}))
    except (KeyError, TypeError):
        return None


def _probe(engine: Any, inputs: list[torch.Tensor], values: dict) -> Optional[list[list[int]]]:
    shapes = []
    for t in inputs:
        dims = [_eval_dim(d, values) for d in t.shape]
        if any(x is None for x in dims):
            return None
        shapes.append(dims)
    try:
        return [list(s) for s in _real(engine).output_shapes(shapes)]
    except Exception:  # noqa: BLE001 - outside the profile
        return None


def _output_shapes(engine: Any, inputs: list[torch.Tensor]) -> list[list[Any]]:
    if all(isinstance(d, int) for t in inputs for d in t.shape):
        return [list(s) for s in _real(engine).output_shapes([list(t.shape) for t in inputs])]
    hints, _ = _symbols_of(inputs)
    order = sorted(hints, key=str)
    base = _probe(engine, inputs, hints) if all(v is not None for v in hints.values()) else None
    if base is None:
        raise RuntimeError(
            f"kiln: cannot infer the output shapes of engine '{_real(engine).name()}' for symbolic "
            "inputs: the engine refuses the inputs' example sizes"
        )
    moved, vals_b = None, None
    for step in (1, -1, 2, -2, 3):
        vals = {s: max(hints[s] + step * (i + 1), 1) for i, s in enumerate(order)}
        moved = _probe(engine, inputs, vals)
        if moved is not None:
            vals_b = vals
            break
    cands = []
    for t in inputs:
        for d in t.shape:
            if isinstance(d, torch.SymInt):
                cands.append((d, _eval_dim(d, hints), _eval_dim(d, vals_b) if vals_b else None))
    out = []
    for k, sa in enumerate(base):
        sb = moved[k] if moved is not None else [None] * len(sa)
        dims: list[Any] = []
        for a, b in zip(sa, sb):
            if b is None:  # one probe only: match by value
                dims.append(next((d for d, x, _ in cands if x == a), a))
                continue
            if a == b:
                dims.append(a)
                continue
            found: Any = next((d for d, x, y in cands if x == a and y == b), None)
            if found is None:
                for d, x, y in cands:
                    if x != y and (b - a) % (y - x) == 0:
                        m = (b - a) // (y - x)
                        c = a - m * x
                        if m != 0:
                            found = d * m + c if c else d * m
                            break
            if found is None:
                found = torch.library.get_ctx().new_dynamic_size()
            dims.append(found)
        out.append(dims)
    return out


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    C.install_engine_export_hooks()

    @torch._library.register_fake_class("kiln::Engine")
    class FakeKilnEngine:  # noqa: F841 - registered by the decorator
        """What torch.export sees of an engine while tracing (the real one stays beside it)."""

        def __init__(
            self,
            name: str,
            input_names: list[str],
            output_names: list[str],
            output_dtypes: list[int],
            backend: str,
        ):
            self._name = name
            self._input_names = list(input_names)
            self._output_names = list(output_names)
            self._output_dtypes = list(output_dtypes)
            self._backend = backend

        @classmethod
        def __obj_unflatten__(cls, flat: Any) -> "FakeKilnEngine":
            d = dict(flat)
            return cls(
                d["name"],
                d["input_names"],
                d["output_names"],
                d.get("output_dtypes", []),
                d.get("backend", ""),
            )

        def name(self) -> str:
            return self._name

        def input_names(self) -> list[str]:
            return self._input_names

        def output_names(self) -> list[str]:
            return self._output_names

        def output_dtypes(self) -> list[int]:
            return self._output_dtypes

        def backend(self) -> str:
            return self._backend

        def describe(self) -> str:
            return f"<fake kiln engine {self._name}>"

        def plan(self) -> torch.Tensor:
            return torch.empty(0, dtype=torch.uint8)

        def output_shapes(self, shapes: list[list[int]]) -> list[list[int]]:
            raise RuntimeError("kiln: output_shapes of a fake engine (use the real one)")

    def _execute_engine_fake(inputs: list[torch.Tensor], engine: Any) -> list[torch.Tensor]:
        shapes = _output_shapes(engine, list(inputs))
        # -1: a data-dependent extent (nonzero rows), known only once the engine has run
        shapes = [[torch.library.get_ctx().new_dynamic_size() if d == -1 else d for d in s] for s in shapes]
        dtypes = _dtypes(engine)
        device = inputs[0].device if inputs else torch.device("cpu")
        return [torch.empty(s, dtype=dt, device=device) for s, dt in zip(shapes, dtypes)]

    global FAKE_KERNEL_ERROR
    try:
        torch.library.register_fake("kiln::execute_engine")(_execute_engine_fake)
    except RuntimeError as e:
        # libkiln_runtime registered execute_engine as a catch-all (CompositeImplicitAutograd) kernel: fake
        # tensors would reach the real engine. It must be registered for CompositeExplicitAutograd instead.
        FAKE_KERNEL_ERROR = str(e)
