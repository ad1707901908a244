"""The per-step inputs besides the tokens: positions, cache columns and the additive attention mask.

Sequences of a batch share cache columns (left padding keeps every prompt's last token in the same column), so
one ``cache_position`` vector serves the batch; each sequence has its own ``position_ids`` (RoPE / learned
positions count its real tokens only) and its own row of ``valid`` (cache columns that hold its real tokens).
A query may attend to the valid columns up to its own; a pad query attends to itself only, so no row of the
softmax is fully masked (its output is never read: pad columns stay invalid for every later query).
"""

from __future__ import annotations

import torch


def prefill_positions(mask2d: torch.Tensor) -> torch.Tensor:
    """position_ids of left-padded prompts: real tokens count 0, 1, ...; pads get 1 (as transformers)."""
    pos = mask2d.long().cumsum(-1) - 1
    return pos.masked_fill(mask2d == 0, 1)


def additive_mask(valid: torch.Tensor, cache_position: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, 1, S, L] mask for queries at `cache_position` ([S]) over a cache whose real columns are `valid`
    ([B, L] bool): 0 where attended, the dtype's lowest value elsewhere."""
    cols = torch.arange(valid.shape[1], device=valid.device)
    causal = cols[None, :] <= cache_position[:, None]  # [S, L]
    allowed = causal[None] & valid[:, None, :]  # [B, S, L]
    allowed |= cols[None, None, :] == cache_position[None, :, None]
    out = torch.zeros(allowed.shape, dtype=dtype, device=valid.device)
    out.masked_fill_(~allowed, torch.finfo(dtype).min)
    return out.unsqueeze(1)
