"""The caller's train/eval modes across a compile: every frontend exports in eval mode and gives each submodule
its own mode back afterwards (``module.train(was_training)`` would set every submodule to the top module's
mode, losing e.g. a dropout the user keeps in train mode)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``module`` in eval mode inside the block; each submodule's own mode restored after it."""
    saved = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in saved:
            m.training = training
