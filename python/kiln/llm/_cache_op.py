"""The KV cache write as a torch op: ``torch.ops.kiln.kv_cache_write(cache, positions, update, axis)``.

In PyTorch it is functional (``cache.index_copy(axis, positions, update)``: a new tensor), so torch.export
captures it as one node with no buffer mutation to functionalize. Kiln's converter turns it into the engine's
``kv_cache_write`` layer, which writes the rows into the cache *input's own memory* and returns it: the cache
tensors the generator binds are updated in place, never copied (docs/llm.md).
"""

from __future__ import annotations

import torch


@torch.library.custom_op("kiln::kv_cache_write", mutates_args=())
def kv_cache_write(
    cache: torch.Tensor, positions: torch.Tensor, update: torch.Tensor, axis: int
) -> torch.Tensor:
    return cache.index_copy(axis, positions, update.to(cache.dtype))


@kv_cache_write.register_fake
def _(cache: torch.Tensor, positions: torch.Tensor, update: torch.Tensor, axis: int) -> torch.Tensor:
    return torch.empty_like(cache)
