"""kiln.load's errors in the user's terms: a raw plan file says what it is and what runs it, and an engine
that cannot be restored (a damaged plan, another format version) raises its own KilnError with the
file's name instead of torch's generic deserialization error plus a logged warning."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Iterator, Optional

import torch

from kiln._errors import InvalidArgumentError, KilnError

PLAN_MAGIC = b"KILNPLAN"  # src/serialization/plan_contents.h: magic, then the u32 format version


def refuse_raw_plan(path: str) -> None:
    """A raw engine plan is not a saved module: say what the file is and what runs it."""
    with open(path, "rb") as f:
        head = f.read(12)
    if head[:8] != PLAN_MAGIC:
        return
    version = int.from_bytes(head[8:12], "little") if len(head) == 12 else None
    raise InvalidArgumentError(
        f"kiln.load: {path} is a raw Kiln engine plan (plan format {version}, {os.path.getsize(path)} "
        "bytes), as `kilnc --plan` and kiln.convert_method_to_plan write it, not a module saved by "
        f"kiln.save. Run it with kiln.EngineModule.from_plan({path!r}) (inputs and outputs in the plan's "
        "order), or from C++ with kiln::Runtime::load; kiln.load reads what kiln.save writes "
        "(ExportedProgram, TorchScript, pickled module).",
        "InvalidArgument",
    )


def with_path(e: KilnError, path: str) -> KilnError:
    """The same error class, its message prefixed with the file it came from."""
    msg = e.args[0] if e.args else ""
    e.args = (f"kiln.load: {path}: {msg}",) + e.args[1:]
    return e


class _EngineErrors(logging.Filter):
    """Keeps (and silences) the KilnError torch.export.load logs as a warning before it raises its own
    generic error."""

    def __init__(self) -> None:
        super().__init__()
        self.error: Optional[KilnError] = None

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None and not isinstance(exc, KilnError):
            exc = exc.__cause__ or exc.__context__
        if exc is None:
            return True
        if self.error is None:
            self.error = exc
        return False


@contextlib.contextmanager
def _engine_errors_of(logger: logging.Logger) -> Iterator[_EngineErrors]:
    f = _EngineErrors()
    logger.addFilter(f)
    try:
        yield f
    finally:
        logger.removeFilter(f)


def load_exported(path: str, extra_files: Optional[dict]) -> Any:
    """torch.export.load, raising the engine's KilnError (e.g. CorruptPlanError: checksum mismatch) when
    an engine in the archive cannot be restored."""
    with _engine_errors_of(logging.getLogger("torch.export")) as caught:
        try:
            return torch.export.load(path, extra_files=extra_files)
        except Exception as e:
            if caught.error is not None:
                raise with_path(caught.error, path) from None
            if isinstance(e, KilnError):
                raise with_path(e, path) from None
            raise
