"""kiln.llm: language-model generation with a KV cache (docs/llm.md).

    gen = kiln.llm.compile(hf_model, max_batch=8, max_seq_len=1024, dtype=torch.float16, device="cuda")
    out = gen.generate(input_ids, attention_mask=mask, max_new_tokens=128)            # greedy
    out = gen.generate(input_ids, do_sample=True, temperature=0.8, top_p=0.9, seed=0)  # sampling
    gen.save("model.kiln-llm"); gen = kiln.llm.load("model.kiln-llm")

The KV cache is engine state: tensors allocated once (max_batch x max_seq_len per layer) that the engine's
kv_cache_write layers update in place. Prefill and decode run one engine (one copy of the weights).
"""

from __future__ import annotations

from kiln.llm._compile import compile, load
from kiln.llm._errors import (
    BatchTooLargeError,
    CacheFullWarning,
    GeneratorClosedError,
    PromptTooLongError,
    TokenIdError,
)
from kiln.llm._generator import Generator

__all__ = [
    "BatchTooLargeError",
    "CacheFullWarning",
    "Generator",
    "GeneratorClosedError",
    "PromptTooLongError",
    "TokenIdError",
    "compile",
    "load",
]
