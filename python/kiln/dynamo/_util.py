"""Small helpers shared by the dynamo frontend."""

from __future__ import annotations

from typing import Any

import torch


def fetch_attr(root: torch.nn.Module, target: str) -> Any:
    obj: Any = root
    for atom in target.split("."):
        if not hasattr(obj, atom):
            raise AttributeError(f"kiln: the graph refers to '{target}' which the module does not have")
        obj = getattr(obj, atom)
    return obj
