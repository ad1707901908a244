"""The exported decoder step: a Hugging Face causal LM whose cache writes go through kiln::kv_cache_write.

``DecoderStep(model)`` is an nn.Module with the flat signature an engine takes::

    forward(input_ids [B, S], position_ids [B, S], cache_position [S], attention_mask [B, 1, S, L] (bool),
            k_0, v_0, k_1, v_1, ...  [B, H_kv, L, D])  ->  logits of the last position [B, V]

The caches are *inputs*, not buffers: the model's attention layers call ``cache.update(k, v, layer_idx)``
(transformers' Cache API), which here returns ``kv_cache_write(k_i, cache_position, k, 2)`` — the written
cache the attention then reads. The 4-D mask is passed as is (transformers returns a 4-D mask unchanged), so
the exported graph holds no mask construction; the generator builds it (left padding, causality) per step.
The same graph serves prefill (S = prompt length) and decode (S = 1): one engine, one copy of the weights.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from kiln.llm import _cache_op  # noqa: F401 - registers torch.ops.kiln.kv_cache_write


def _cache_base() -> type:
    from transformers.cache_utils import Cache

    return Cache


class InPlaceKVCache:
    """A transformers Cache whose update writes through kiln::kv_cache_write (made by ``make_cache``)."""


def make_cache(num_layers: int) -> Any:
    base = _cache_base()

    class _Cache(base, InPlaceKVCache):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            try:
                base.__init__(self, layers=[])
            except TypeError:  # transformers before the layered Cache
                base.__init__(self)
            self.kv: list[torch.Tensor] = []
            self.cache_position: torch.Tensor | None = None

        def update(self, key_states, value_states, layer_idx, *args, **kwargs):  # noqa: ANN001
            k = torch.ops.kiln.kv_cache_write(self.kv[2 * layer_idx], self.cache_position, key_states, 2)
            v = torch.ops.kiln.kv_cache_write(
                self.kv[2 * layer_idx + 1], self.cache_position, value_states, 2
            )
            return k, v

        def get_seq_length(self, layer_idx: int = 0) -> int:
            return 0

        def __len__(self) -> int:
            return num_layers

        @property
        def is_compileable(self) -> bool:
            return True

    return _Cache()


def cache_geometry(config: Any) -> tuple[int, int, int]:
    """(layers, key/value heads, head dim) of a text config (GQA/MQA: fewer key/value heads than heads)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    layers = getattr(text, "num_hidden_layers", None) or text.n_layer
    heads = getattr(text, "num_attention_heads", None) or text.n_head
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    hidden = getattr(text, "hidden_size", None) or text.n_embd
    head_dim = getattr(text, "head_dim", None) or hidden // heads
    return int(layers), int(kv_heads), int(head_dim)


class DecoderStep(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.num_layers, _, _ = cache_geometry(model.config)
        self._cache = make_cache(self.num_layers)
        params = inspect.signature(model.forward).parameters
        self._logits_to_keep = "logits_to_keep" in params
        # transformers 5 names the cache argument `cache`; 4.x `past_key_values`.
        self._cache_kw = "cache" if "cache" in params else "past_key_values"

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        cache_position: torch.Tensor,
        attention_mask: torch.Tensor,
        *kv: torch.Tensor,
    ) -> torch.Tensor:
        self._cache.kv = list(kv)
        self._cache.cache_position = cache_position
        kwargs = {"logits_to_keep": 1} if self._logits_to_keep else {}
        out = self.model(
            input_ids=input_ids,
            position_ids=position_ids,
            attention_mask=attention_mask,
            use_cache=True,
            **{self._cache_kw: self._cache},
            **kwargs,
        )
        logits = out.logits if hasattr(out, "logits") else out[0]
        return logits[:, -1, :]
