"""Exception types: one KilnError subclass per engine status code (include/kiln/status.h).

The native parts raise these classes themselves: kiln._native registers CODE_CLASSES (a running engine)
and COMPILE_CLASSES (compiling) with kiln._C by code name, so the class comes from the C++ StatusCode,
never from the message text. A leaf module: it imports nothing from kiln.
"""

from __future__ import annotations

import contextlib
import re
from typing import Iterator


class KilnError(RuntimeError):
    """An error reported by Kiln. ``code`` is the engine's status code name (e.g. ``"ShapeError"``)."""

    code = "Internal"

    def __init__(self, message: str = "", code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


# ---- one class per status code ------------------------------------------------------------------------
class InvalidArgumentError(KilnError, ValueError):
    """Something malformed was passed (bad dims, unknown name, ...); also a ValueError."""

    code = "InvalidArgument"


class UnsupportedError(KilnError):
    """A valid request that this build or backend cannot do."""

    code = "Unsupported"


class ShapeError(KilnError):
    """Inconsistent shapes, or an input shape outside the engine's optimization profile."""

    code = "ShapeError"


class DTypeError(KilnError, TypeError):
    """A tensor of the wrong data type (status code ``TypeError``); also a TypeError."""

    code = "TypeError"


class OutOfMemoryError(KilnError):
    """A host or device allocation failed."""

    code = "OutOfMemory"


class CorruptPlanError(KilnError):
    """Plan bytes that are truncated, altered or otherwise unreadable."""

    code = "CorruptPlan"


class VersionMismatchError(KilnError):
    """A plan or saved engine written by an incompatible format version."""

    code = "VersionMismatch"


class FileIOError(KilnError):
    """A file could not be read or written (status code ``IoError``)."""

    code = "IoError"


class BackendError(KilnError):
    """CUDA / cuBLASLt / cuDNN / NVRTC reported an error."""

    code = "BackendError"


class NotFoundError(KilnError):
    """A named tensor, backend or entry does not exist."""

    code = "NotFound"


class InternalError(KilnError):
    """A bug in Kiln."""

    code = "Internal"


CODE_CLASSES: dict[str, type[KilnError]] = {
    c.code: c
    for c in (
        InvalidArgumentError,
        UnsupportedError,
        ShapeError,
        DTypeError,
        OutOfMemoryError,
        CorruptPlanError,
        VersionMismatchError,
        FileIOError,
        BackendError,
        NotFoundError,
        InternalError,
    )
}


# ---- compiling ----------------------------------------------------------------------------------------
class CompilationError(KilnError):
    """Building the engines failed (a converter or the builder refused the graph)."""


class UnsupportedOperatorError(CompilationError, UnsupportedError):
    """Some ops cannot run in Kiln (e.g. with ``require_full_compilation``; the message lists them)."""


class ExportError(KilnError):
    """``torch.export`` could not capture the module (the message has torch's reason)."""


def _compile_class(cls: type[KilnError]) -> type[KilnError]:
    # A failure while compiling is a CompilationError and the class of its code (e.g. both
    # CompilationError and ShapeError), so `except kiln.CompilationError` keeps catching every build failure.
    if cls is UnsupportedError:
        return UnsupportedOperatorError
    name = f"Compile{cls.__name__}"  # e.g. CompileShapeError; a module global, so instances pickle
    sub = type(name, (CompilationError, cls), {"__doc__": cls.__doc__, "__module__": __name__})
    globals()[name] = sub
    return sub


COMPILE_CLASSES: dict[str, type[KilnError]] = {code: _compile_class(c) for code, c in CODE_CLASSES.items()}


_BACKTRACE_START = re.compile(r"^\s*Exception raised from .* \(most recent call first\):\s*$")
_FRAME = re.compile(r"^\s*frame #\d+:")


def strip_cpp_backtrace(text: str) -> str:
    """`text` without the C++ backtraces that c10::Error::what() appends ("Exception raised from ... (most
    recent call first):" and its "frame #N:" lines): a user-facing message says what failed, not where in
    libtorch."""
    if "Exception raised from" not in text:
        return text
    out, in_trace = [], False
    for line in text.split("\n"):
        if _BACKTRACE_START.match(line):
            in_trace = True
            continue
        if in_trace and (_FRAME.match(line) or not line.strip()):
            continue
        in_trace = False
        out.append(line)
    return "\n".join(out).rstrip()


def raise_status(code: str, message: str, context: str = "") -> None:
    """Raises the compile-phase class of `code` (for (code, message) pairs from kiln._C.partition)."""
    message = strip_cpp_backtrace(message)
    text = f"{context}: {message}" if context else message
    raise COMPILE_CLASSES.get(code, CompilationError)(text, code)


@contextlib.contextmanager
def error_context(context: str) -> Iterator[None]:
    """Prefixes "<context>: " to the message of a KilnError raised inside (its class is kept); any other
    RuntimeError (torch's own, from inside a native call) becomes a KilnError with that prefix."""
    try:
        yield
    except KilnError as e:
        e.args = (f"{context}: {strip_cpp_backtrace(str(e.args[0]) if e.args else '')}",) + e.args[1:]
        raise
    except RuntimeError as e:
        raise KilnError(f"{context}: {strip_cpp_backtrace(str(e))}") from e
