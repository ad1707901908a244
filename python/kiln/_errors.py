"""Exception types. Every Kiln error is a KilnError (a RuntimeError) with the engine's status code."""
from __future__ import annotations


class KilnError(RuntimeError):
    """An error reported by Kiln. ``code`` is the engine's status code name (e.g. ``"Unsupported"``)."""

    def __init__(self, message: str, code: str = "Internal"):
        super().__init__(message)
        self.code = code


class CompilationError(KilnError):
    """Building the engines failed (a converter or the builder refused the graph)."""


class UnsupportedOperatorError(CompilationError):
    """``require_full_compilation`` was set but some ops cannot run in Kiln (the message lists them)."""


class ExportError(KilnError):
    """``torch.export`` could not capture the module (the message has torch's reason)."""


def raise_status(code: str, message: str, context: str = "") -> None:
    text = f"{context}: {message}" if context else message
    if code in ("Unsupported",) and "require_full_compilation" in message:
        raise UnsupportedOperatorError(text, code)
    if code in ("InvalidArgument",):
        raise ValueError(text)
    raise CompilationError(text, code)
