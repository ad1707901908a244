"""Generator: the compiled decoder step, its KV cache and the generation loop.

One engine holds the weights. Prefill (the prompt, S tokens) and decode (one token per sequence) run it in two
execution contexts (``execute_in(inputs, slot)``), so neither re-plans memory or loses its CUDA graph when the
other runs. The caches are allocated once, [max_batch, kv_heads, max_seq_len, head_dim] per layer for keys
and for values, and the engine writes into them in place (its kv_cache_write layers); a batch of b sequences
binds their first b rows.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Optional, Sequence, Union

import torch

from kiln.llm._errors import (
    BatchTooLargeError,
    CacheFullWarning,
    GeneratorClosedError,
    PromptTooLongError,
    TokenIdError,
)
from kiln.llm._masks import additive_mask, prefill_positions
from kiln.llm._sampling import check_sampling, next_tokens

FORMAT = "kiln.llm.generator"
FORMAT_VERSION = 1
_PREFILL, _DECODE = 0, 1


class Generator:
    """Text generation with a compiled decoder (``kiln.llm.compile``). ``generate`` mirrors transformers'
    ``model.generate`` for the common arguments and returns prompt + new tokens; ``stop_reason`` says why the
    last call stopped ("max_new_tokens", "eos" or "cache_full")."""

    def __init__(self, engine: Any, meta: dict):
        self._engine = engine
        self.meta = dict(meta)
        self.max_batch = int(meta["max_batch"])
        self.max_seq_len = int(meta["max_seq_len"])
        self.vocab_size = int(meta["vocab_size"])
        self.num_layers = int(meta["num_layers"])
        self.kv_heads = int(meta["kv_heads"])
        self.head_dim = int(meta["head_dim"])
        self.dtype = getattr(torch, meta["dtype"])
        self.device = torch.device(meta["device"])
        self.eos_token_id = meta.get("eos_token_id")
        self.pad_token_id = meta.get("pad_token_id")
        self._order = [int(i) for i in meta["input_order"]]
        shape = (self.max_batch, self.kv_heads, self.max_seq_len, self.head_dim)
        self._kv = [
            torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in range(2 * self.num_layers)
        ]
        self.stop_reason: Optional[str] = None

    # ---- lifecycle ------------------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._engine is None

    def close(self) -> None:
        """Releases the engine and the KV cache; later calls raise GeneratorClosedError."""
        self._engine = None
        self._kv = []

    def __enter__(self) -> "Generator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check_open(self, what: str) -> None:
        if self._engine is None:
            raise GeneratorClosedError(
                f"kiln.llm: {what} on a closed generator (its engine and cache are released)"
            )

    def cache_bytes(self) -> int:
        """Bytes of the KV cache this generator holds."""
        return sum(t.numel() * t.element_size() for t in self._kv)

    def save(self, path: str) -> None:
        """Writes the engine plan (weights included) and the generator's settings; ``kiln.llm.load`` reads it."""
        self._check_open("save")
        torch.save(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "plan": self._engine.plan(),
                "input_names": list(self._engine.input_names()),
                "output_names": list(self._engine.output_names()),
                "meta": self.meta,
            },
            path,
        )

    # ---- one engine run ----------------------------------------------------------------------------------
    def _run(
        self, slot: int, ids: torch.Tensor, pos: torch.Tensor, cache_pos: torch.Tensor, mask: torch.Tensor
    ):
        b = ids.shape[0]
        flat = [ids, pos, cache_pos, mask] + [t[:b] for t in self._kv]
        (logits,) = self._engine.execute_in([flat[i] for i in self._order], slot)
        return logits

    # ---- generation -----------------------------------------------------------------------------------------
    def _check_prompt(self, input_ids: Any, attention_mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.as_tensor(input_ids)
        if ids.dim() == 1:
            ids = ids.unsqueeze(0)
        if ids.dim() != 2 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
            raise TokenIdError(
                f"kiln.llm: input_ids must be integer token ids of shape [batch, prompt_len], got "
                f"{ids.dtype} {tuple(ids.shape)}"
            )
        b, s = ids.shape
        if b == 0 or s == 0:
            raise ValueError(f"kiln.llm: empty input_ids {tuple(ids.shape)}")
        if b > self.max_batch:
            raise BatchTooLargeError(
                f"kiln.llm: batch of {b} sequences; this generator was compiled with max_batch={self.max_batch}"
            )
        if s > self.max_seq_len:
            raise PromptTooLongError(
                f"kiln.llm: the prompt has {s} tokens (with padding); this generator was compiled with "
                f"max_seq_len={self.max_seq_len}"
            )
        mask = torch.ones_like(ids) if attention_mask is None else torch.as_tensor(attention_mask)
        if tuple(mask.shape) != (b, s) and mask.dim() == 1 and b == 1:
            mask = mask.unsqueeze(0)
        if tuple(mask.shape) != (b, s):
            raise ValueError(
                f"kiln.llm: attention_mask has shape {tuple(mask.shape)}; input_ids has {(b, s)}"
            )
        mask = mask.to("cpu").long()
        if bool(((mask != 0) & (mask != 1)).any()):
            raise ValueError("kiln.llm: attention_mask must hold 0 (padding) and 1 (token)")
        if bool((mask.sum(-1) == 0).any()):
            raise ValueError("kiln.llm: a sequence of the batch has no tokens (its attention_mask is all 0)")
        if bool((mask[:, 1:] < mask[:, :-1]).any()):
            raise ValueError(
                "kiln.llm: padding must be on the left (tokenizer.padding_side = 'left'): a 0 in attention_mask "
                "follows a 1"
            )
        ids_cpu = ids.to("cpu").long()
        real = ids_cpu[mask == 1]
        bad = real[(real < 0) | (real >= self.vocab_size)]
        if bad.numel():
            raise TokenIdError(
                f"kiln.llm: token id {int(bad[0])} is outside the vocabulary [0, {self.vocab_size})"
            )
        return ids_cpu.masked_fill(mask == 0, 0), mask

    def generate(
        self,
        input_ids: Any,
        attention_mask: Any = None,
        max_new_tokens: int = 20,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        eos_token_id: Union[int, Sequence[int], None] = None,
        pad_token_id: Optional[int] = None,
        callback: Optional[Callable[[torch.Tensor], Any]] = None,
        streamer: Any = None,
        seed: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
        return_logits: bool = False,
    ) -> Any:
        """Prompt + up to ``max_new_tokens`` new tokens per sequence, [batch, prompt_len + new] on the prompt's
        device. Prompts of different lengths are left-padded (``attention_mask`` 0 on the left). ``callback``
        gets each step's new tokens ([batch] int64, CPU); ``streamer`` (transformers' TextStreamer protocol)
        gets ``put(tokens)`` per step and ``end()``. Sequences that emitted ``eos_token_id`` continue with
        ``pad_token_id``. ``seed`` (or a ``generator`` on the generator's device) makes sampling repeatable.
        ``return_logits``: also return each step's logits, (tokens, [batch, new, vocab] float32)."""
        self._check_open("generate")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"kiln.llm: max_new_tokens must be a positive int, got {max_new_tokens!r}")
        if do_sample:
            check_sampling(temperature, top_k, top_p)
        out_device = input_ids.device if isinstance(input_ids, torch.Tensor) else torch.device("cpu")
        prompt, mask2d = self._check_prompt(input_ids, attention_mask)
        b, s = prompt.shape
        eos = eos_token_id if eos_token_id is not None else self.eos_token_id
        eos_ids = [] if eos is None else ([int(eos)] if isinstance(eos, int) else [int(e) for e in eos])
        pad = pad_token_id if pad_token_id is not None else self.pad_token_id
        if pad is None:
            pad = eos_ids[0] if eos_ids else 0
        rng = generator
        if do_sample and rng is None and seed is not None:
            rng = torch.Generator(device=self.device).manual_seed(int(seed))

        dev = self.device
        valid = torch.zeros(b, self.max_seq_len, dtype=torch.bool, device=dev)
        valid[:, :s] = mask2d.to(dev).bool()
        pos = prefill_positions(mask2d).to(dev)
        cache_pos = torch.arange(s, device=dev)
        logits = self._run(
            _PREFILL, prompt.to(dev), pos, cache_pos, additive_mask(valid, cache_pos, self.dtype)
        )
        eos_t = torch.tensor(eos_ids, device=dev, dtype=torch.long) if eos_ids else None
        unfinished = torch.ones(b, dtype=torch.bool, device=dev)
        new: list[torch.Tensor] = []
        scores: list[torch.Tensor] = []
        last_pos = pos[:, -1]
        self.stop_reason = "max_new_tokens"
        for step in range(max_new_tokens):
            if return_logits:
                scores.append(logits.float())
            tok = next_tokens(logits, do_sample, temperature, top_k, top_p, rng)
            tok = torch.where(unfinished, tok, torch.full_like(tok, pad))
            new.append(tok)
            if callback is not None or streamer is not None:
                host = tok.to("cpu")
                if callback is not None:
                    callback(host)
                if streamer is not None:
                    streamer.put(host)
            if eos_t is not None:
                unfinished &= ~torch.isin(tok, eos_t)
                if not bool(unfinished.any()):
                    self.stop_reason = "eos"
                    break
            if step == max_new_tokens - 1:
                break
            col = s + step  # the cache column of the token just chosen
            if col >= self.max_seq_len:
                self.stop_reason = "cache_full"
                warnings.warn(
                    f"kiln.llm: generation stopped after {len(new)} of {max_new_tokens} new tokens: the KV cache "
                    f"is full (prompt {s} + {len(new)} tokens reach max_seq_len={self.max_seq_len}); compile "
                    "with a larger max_seq_len for longer outputs",
                    CacheFullWarning,
                    stacklevel=2,
                )
                break
            valid[:, col] = True
            last_pos = last_pos + 1
            cache_pos = torch.tensor([col], device=dev)
            logits = self._run(
                _DECODE,
                tok.unsqueeze(1),
                last_pos.unsqueeze(1),
                cache_pos,
                additive_mask(valid, cache_pos, self.dtype),
            )
        if streamer is not None:
            streamer.end()
        gen = torch.stack(new, dim=1).to(out_device)
        orig = torch.as_tensor(input_ids)
        orig = orig.unsqueeze(0) if orig.dim() == 1 else orig
        tokens = torch.cat([orig.to(out_device).long(), gen], dim=1)
        if return_logits:
            return tokens, torch.stack(scores, dim=1).to(out_device)
        return tokens
