"""EngineModule: the one nn.Module that holds and runs a Kiln engine, and pickles it as plan bytes.

Every frontend returns it: kiln.convert (torch2trt's TRTModule), kiln.fx (its KilnModule) and the
engine submodules of kiln.compile(ir="fx"). The engine (a ``torch.classes.kiln.Engine``) is rebuilt from
its plan on load, so ``torch.save`` / ``torch.load`` of the module and ``state_dict`` / ``load_state_dict``
(through get/set_extra_state) both round-trip; loading needs only libkiln_runtime (``import kiln``).
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import torch
import torch.utils._pytree as pytree

STATE_VERSION = 1


def plan_bytes(engine: Any) -> torch.Tensor:
    return engine.plan().clone()


def make_engine(plan: Any, input_names: list[str], output_names: list[str], name: str) -> Any:
    if isinstance(plan, (bytes, bytearray, memoryview)):
        plan = torch.frombuffer(bytearray(plan), dtype=torch.uint8)
    return torch.classes.kiln.Engine(plan, list(input_names), list(output_names), name)


class EngineModule(torch.nn.Module):
    """One Kiln engine as an nn.Module. ``forward(*inputs)`` takes the tensor leaves of its inputs in
    ``input_names`` order and returns the outputs in ``output_names`` order: one tensor, a tuple, or the
    model's structure when ``output_spec`` (a ``pytree.treespec_dumps``) is given. ``state_dict()`` and
    pickling carry the plan, so ``EngineModule().load_state_dict(sd)`` restores it."""

    def __init__(
        self,
        engine: Any = None,
        input_names: Optional[Sequence[str]] = None,
        output_names: Optional[Sequence[str]] = None,
        output_spec: Optional[str] = None,
    ):
        super().__init__()
        self.eval()  # an engine computes inference
        self.engine = engine
        self.engine_name = engine.name() if engine is not None else ""
        self.input_names = (
            list(input_names)
            if input_names is not None
            else (list(engine.input_names()) if engine is not None else [])
        )
        self.output_names = (
            list(output_names)
            if output_names is not None
            else (list(engine.output_names()) if engine is not None else [])
        )
        self.output_spec = output_spec  # None: flat outputs
        self._prepare()

    def _prepare(self) -> None:
        self._out_tree = pytree.treespec_loads(self.output_spec) if self.output_spec else None
        if self.engine is None:
            return
        ein, eout = list(self.engine.input_names()), list(self.engine.output_names())
        if sorted(self.input_names) != sorted(ein):
            raise ValueError(
                f"{type(self).__name__}: input_names {self.input_names} do not match the engine's "
                f"inputs {ein}"
            )
        bad = [n for n in self.output_names if n not in eout]
        if bad:
            raise ValueError(
                f"{type(self).__name__}: output_names {bad} are not outputs of the engine ({eout})"
            )
        self._in_order = [self.input_names.index(n) for n in ein]
        self._out_index = [eout.index(n) for n in self.output_names]

    def forward(self, *inputs: Any) -> Any:
        if self.engine is None:
            raise RuntimeError(
                f"kiln: {type(self).__name__} has no engine (construct it with one, or "
                "load_state_dict a saved one)"
            )
        flat = [x for x in pytree.tree_leaves(list(inputs)) if isinstance(x, torch.Tensor)]
        if len(flat) != len(self.input_names):
            raise ValueError(
                f"{type(self).__name__}: expected {len(self.input_names)} tensor inputs "
                f"({self.input_names}), got {len(flat)}"
            )
        outs = torch.ops.kiln.execute_engine([flat[i] for i in self._in_order], self.engine)
        res = [outs[i] for i in self._out_index]
        if self._out_tree is not None:
            return pytree.tree_unflatten(res, self._out_tree)
        return res[0] if len(res) == 1 else tuple(res)

    @classmethod
    def from_plan(cls, plan: Any, name: str = "engine") -> "EngineModule":
        """An EngineModule that runs a raw plan: bytes, a 1-D uint8 tensor or a file path (what
        ``kilnc --plan`` and ``kiln.convert_method_to_plan`` write). Inputs and outputs are the plan's, in
        its order."""
        if isinstance(plan, (str, os.PathLike)):
            with open(plan, "rb") as f:
                plan = f.read()
        return cls(make_engine(plan, [], [], name))  # no names: the engine takes the plan's own

    def describe(self) -> str:
        """The engine's layers, kernels and memory (Engine.describe())."""
        return self.engine.describe() if self.engine is not None else "<no engine>"

    # ---- state ------------------------------------------------------------------------------------
    def get_extra_state(self) -> dict:
        if self.engine is None:
            return {"version": STATE_VERSION, "plan": None}
        return {
            "version": STATE_VERSION,
            "plan": plan_bytes(self.engine),
            "engine_input_names": list(self.engine.input_names()),
            "engine_output_names": list(self.engine.output_names()),
            "name": self.engine.name(),
            "input_names": self.input_names,
            "output_names": self.output_names,
            "output_spec": self.output_spec,
        }

    def set_extra_state(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            got = state.get("version") if isinstance(state, dict) else type(state).__name__
            raise RuntimeError(f"kiln: saved engine state has version {got}; this kiln reads {STATE_VERSION}")
        if state.get("plan") is None:
            self.engine = None
            return
        self.engine = make_engine(
            state["plan"], state["engine_input_names"], state["engine_output_names"], state["name"]
        )
        self.engine_name = state["name"]
        self.input_names = list(state["input_names"])
        self.output_names = list(state["output_names"])
        self.output_spec = state.get("output_spec")  # absent in states saved by kiln.fx.KilnModule
        self._prepare()

    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        d["engine"] = None
        d["_kiln_engine_state"] = self.get_extra_state()
        return d

    def __setstate__(self, d: dict) -> None:
        st = d.pop("_kiln_engine_state", None)
        self.__dict__.update(d)
        if st is not None:
            self.set_extra_state(st)


class PlanBytes(bytes):
    """Plan bytes that remember their engine's input and output names (what ``make_engine`` needs): returned by
    kiln.convert_method_to_trt_engine / kiln.ts.convert_method_to_trt_engine."""

    input_names: list[str]
    output_names: list[str]

    @classmethod
    def of(cls, plan: bytes, input_names: Sequence[str], output_names: Sequence[str]) -> "PlanBytes":
        out = cls(plan)
        out.input_names, out.output_names = list(input_names), list(output_names)
        return out


def single_engine_io_names(plan: bytes, num_inputs: Optional[int] = None) -> tuple[list[str], list[str]]:
    """The I/O names a plan records (an engine given no names takes the plan's own)."""
    try:
        engine = make_engine(plan, [], [], "probe")
    except RuntimeError as e:
        raise ValueError(
            "kiln: cannot read this plan's input and output names; pass input_binding_names=[...] and "
            f"output_binding_names=[...] ({e})"
        ) from e
    names_in, names_out = list(engine.input_names()), list(engine.output_names())
    if num_inputs is not None and num_inputs != len(names_in):
        raise ValueError(f"kiln: the plan has {len(names_in)} inputs ({names_in}), {num_inputs} were given")
    return names_in, names_out
