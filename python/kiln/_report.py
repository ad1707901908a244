"""SupportReport: which ops run in Kiln and which fall back to PyTorch (the dry run); precision_report: what
ran in 8 bits."""

from __future__ import annotations

import dataclasses
import re
from typing import Optional

import torch


@dataclasses.dataclass
class OpSupport:
    kiln: int = 0
    torch: int = 0
    evaluated: int = 0
    reason: str = ""  # why the PyTorch ones are not in Kiln (the first reason seen)


@dataclasses.dataclass
class SupportReport:
    """The partitioner's verdict. ``str(report)`` is the C++ support_report text."""

    text: str
    num_engines: int
    kiln_nodes: int
    torch_nodes: int
    ops: dict[str, OpSupport]

    @property
    def fully_supported(self) -> bool:
        """True when every compute node runs in Kiln."""
        return self.torch_nodes == 0

    @property
    def fallback_ops(self) -> dict[str, OpSupport]:
        return {k: v for k, v in self.ops.items() if v.torch}

    def __str__(self) -> str:
        return self.text

    @classmethod
    def from_result(cls, res: dict) -> "SupportReport":
        ops: dict[str, OpSupport] = {}
        kiln = torch_n = 0
        for _node, op, is_kiln, is_eval, reason in res["support"]:
            s = ops.setdefault(op, OpSupport())
            if is_eval:
                s.evaluated += 1
            elif is_kiln:
                s.kiln += 1
                kiln += 1
            else:
                s.torch += 1
                torch_n += 1
                if not s.reason:
                    s.reason = reason
        return cls(res["report"], int(res["num_engines"]), kiln, torch_n, ops)

    @classmethod
    def from_text(cls, text: str) -> "SupportReport":
        """Parses the C++ support_report text (the TorchScript path returns only the text)."""
        m = re.match(r"Kiln: (\d+) nodes in (\d+) engine\(s\); PyTorch: (\d+) nodes", text)
        kiln, engines, torch_n = (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (0, 0, 0)
        ops: dict[str, OpSupport] = {}
        for line in text.splitlines()[1:]:
            lm = re.match(r"\s+(\S+): (.*)$", line)
            if not lm:
                continue
            s = ops.setdefault(lm.group(1), OpSupport())
            rest = lm.group(2)
            for num, what in re.findall(r"(\d+) (evaluated|in Kiln|in PyTorch)", rest):
                if what == "evaluated":
                    s.evaluated = int(num)
                elif what == "in Kiln":
                    s.kiln = int(num)
                else:
                    s.torch = int(num)
            rm = re.search(r"in PyTorch \((.*)\)$", rest)
            if rm:
                s.reason = rm.group(1)
        return cls(text, engines, kiln, torch_n, ops)

    def summary(self, max_reasons: Optional[int] = 10) -> str:
        lines = [
            f"{self.kiln_nodes} nodes in Kiln ({self.num_engines} engines), {self.torch_nodes} in PyTorch"
        ]
        fb = sorted(self.fallback_ops.items(), key=lambda kv: -kv[1].torch)
        for op, s in fb[:max_reasons]:
            lines.append(f"  {op} x{s.torch}: {s.reason}")
        return "\n".join(lines)


@dataclasses.dataclass
class LayerPrecision:
    """One convolution / GEMM of a quantized network: the precision it runs in and why."""

    engine: str
    layer: str
    precision: str  # "int8", "fp8" or "float"
    reason: str


def _engines(module) -> list:
    """Every Kiln engine (torch.classes.kiln.Engine) reachable from ``module``, in module order."""
    found: list = []
    seen: set[int] = set()

    def add(obj) -> None:
        if isinstance(obj, torch.ScriptObject) and hasattr(obj, "precision_report") and id(obj) not in seen:
            seen.add(id(obj))
            found.append(obj)

    if isinstance(module, torch.ScriptObject):
        add(module)
        return found
    for sub in module.modules() if isinstance(module, torch.nn.Module) else []:
        for value in list(vars(sub).values()) + list(getattr(sub, "_buffers", {}).values()):
            add(value)
        if isinstance(sub, torch.jit.ScriptModule):
            for name in dir(sub):
                try:
                    add(getattr(sub, name))
                except Exception:  # noqa: BLE001 - TorchScript attributes that do not convert
                    pass
    return found


def precision_report(module) -> list[LayerPrecision]:
    """What ran in 8 bits and why not: per convolution / GEMM of every Kiln engine in a compiled
    module (or one engine), the precision the Q/DQ fusion pass chose and its reason. Empty when the
    network has no quantize/dequantize layers."""
    rows: list[LayerPrecision] = []
    for eng in _engines(module):
        for layer, precision, reason in eng.precision_report():
            rows.append(LayerPrecision(eng.name(), layer, precision, reason))
    return rows
