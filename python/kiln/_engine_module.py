"""nn.Modules that hold one Kiln engine and pickle it as plan bytes.

The engine (a ``torch.classes.kiln.Engine``) is rebuilt from its plan on load, so ``torch.save`` /
``torch.load`` of the module and ``state_dict`` / ``load_state_dict`` (through get/set_extra_state) both
round-trip; loading needs only libkiln_runtime (``import kiln``).
"""
from __future__ import annotations

from typing import Any, Optional

import torch

STATE_VERSION = 1


def plan_bytes(engine: Any) -> torch.Tensor:
    return engine.plan().clone()


def make_engine(plan: Any, input_names: list[str], output_names: list[str], name: str) -> Any:
    if isinstance(plan, (bytes, bytearray, memoryview)):
        plan = torch.frombuffer(bytearray(plan), dtype=torch.uint8)
    return torch.classes.kiln.Engine(plan, list(input_names), list(output_names), name)


class EngineHolder(torch.nn.Module):
    """Base: `engine` plus its pickled state. Subclasses add forward()."""

    def __init__(self, engine: Any = None, name: Optional[str] = None):
        super().__init__()
        self.engine = engine
        self.engine_name = name or (engine.name() if engine is not None else "")

    # ---- state ------------------------------------------------------------------------------------
    def _extra(self) -> dict:
        return {}

    def _set_extra(self, state: dict) -> None:
        pass

    def get_extra_state(self) -> dict:
        if self.engine is None:
            return {"version": STATE_VERSION, "plan": None}
        st = {"version": STATE_VERSION, "plan": plan_bytes(self.engine), "engine_input_names": list(self.engine.input_names()),
              "engine_output_names": list(self.engine.output_names()), "name": self.engine.name()}
        st.update(self._extra())
        return st

    def set_extra_state(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            got = state.get("version") if isinstance(state, dict) else type(state).__name__
            raise RuntimeError(f"kiln: saved engine state has version {got}; this kiln reads {STATE_VERSION}")
        if state.get("plan") is None:
            self.engine = None
            return
        self.engine = make_engine(state["plan"], state["engine_input_names"], state["engine_output_names"], state["name"])
        self.engine_name = state["name"]
        self._set_extra(state)

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

    def describe(self) -> str:
        """The engine's layers, kernels and memory (Engine.describe())."""
        return self.engine.describe() if self.engine is not None else "<no engine>"

    def _check(self) -> None:
        if self.engine is None:
            raise RuntimeError(f"kiln: {type(self).__name__} has no engine (construct it with one, or "
                               "load_state_dict a saved one)")
