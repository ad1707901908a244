"""Errors of kiln.llm, in the user's terms (each a KilnError subclass, so ``except kiln.KilnError`` catches them)."""

from __future__ import annotations

from kiln._errors import InvalidArgumentError, KilnError, ShapeError


class PromptTooLongError(ShapeError):
    """A prompt (with its padding) longer than the generator's ``max_seq_len``."""


class BatchTooLargeError(ShapeError):
    """More sequences than the generator's ``max_batch``."""


class TokenIdError(InvalidArgumentError):
    """A token id outside ``[0, vocab_size)``."""


class GeneratorClosedError(KilnError):
    """``generate`` on a generator that was closed (its engine and cache are released)."""

    code = "InvalidArgument"


class CacheFullWarning(UserWarning):
    """Generation stopped before ``max_new_tokens`` because the KV cache (``max_seq_len``) is full."""
