"""Logging: one level for the Python package and the engine.

Levels (the ``logging`` module's numbers): ``ERROR``, ``WARNING`` (default), ``INFO``, ``DEBUG``. They map
onto the engine's severities error / warning / info / verbose. Messages go to the ``"kiln"`` logger of
the standard ``logging`` module, so they can be routed like any other Python log; until the application
configures logging (handlers on the root logger) they are written to stderr.

    kiln.logging.set_level(kiln.logging.INFO)
    with kiln.logging.debug():          # or kiln.logging.level(kiln.logging.DEBUG)
        kiln.compile(model, inputs=[x])

Torch-TensorRT's names work too: ``Level`` (InternalError, Error, Warning, Info, Debug, Graph),
``set_reportable_log_level`` / ``get_reportable_log_level``, the context managers ``internal_errors()``,
``errors()``, ``warnings()``, ``info()``, ``debug()``, ``graphs()``, ``set_is_colored_output_on`` and ``log``.

The engine's build messages (from ``kiln.compile`` and friends) follow this level at any time. Engines
*loaded* at run time report through the engine's default logger, which reads ``KILN_LOG_LEVEL`` once,
the first time it logs; ``set_level`` also sets that variable, so call it early to cover those too.

Progress: ``kiln.compile`` shows one line on stderr, rewritten as it goes (export, partition, each engine's
build, then each engine's layers and kernels), when stderr is a terminal or in a Jupyter notebook;
``set_progress_bar(False)`` or ``KILN_PROGRESS=0`` turns it off, ``True`` / ``1`` forces it on.
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import logging as _logging
import os
import sys
from typing import Iterator, Optional, Union

from kiln import _progress

ERROR = _logging.ERROR
WARNING = _logging.WARNING
INFO = _logging.INFO
DEBUG = _logging.DEBUG

logger = _logging.getLogger("kiln")

_NAMES = {
    "internal_error": ERROR,
    "internalerror": ERROR,
    "error": ERROR,
    "warning": WARNING,
    "warn": WARNING,
    "info": INFO,
    "debug": DEBUG,
    "verbose": DEBUG,
}
_TO_ENGINE = {ERROR: 0, WARNING: 1, INFO: 2, DEBUG: 3}
_FROM_ENGINE = {0: ERROR, 1: WARNING, 2: INFO, 3: DEBUG}
_ENV_NAMES = {ERROR: "error", WARNING: "warning", INFO: "info", DEBUG: "verbose"}

_C = None  # set by kiln/__init__.py


def _normalize(level: Union[int, str]) -> int:
    if isinstance(level, str):
        key = level.strip().lower()
        if key not in _NAMES:
            raise ValueError(f"kiln.logging: unknown level {level!r} (error, warning, info, debug)")
        return _NAMES[key]
    if isinstance(level, bool) or not isinstance(level, int):
        raise TypeError(f"kiln.logging: level must be an int or a name, got {type(level).__name__}")
    # Snap arbitrary logging numbers to the four levels.
    if level >= ERROR:
        return ERROR
    if level >= WARNING:
        return WARNING
    if level >= INFO:
        return INFO
    return DEBUG


def _level_from_env() -> int:
    v = os.environ.get("KILN_LOG_LEVEL")
    if not v:
        return WARNING
    v = v.strip().lower()
    if v in _NAMES:
        return _NAMES[v]
    if v in ("0", "1", "2", "3"):
        return _FROM_ENGINE[int(v)]
    return WARNING


_kiln_logger = logger


def set_level(level: Union[int, str], logger: Optional[_logging.Logger] = None) -> None:
    """Sets the level of the Python package and of every engine build from now on (``logger``: also set
    that Python logger's level, as Torch-TensorRT's set_level does)."""
    lv = _normalize(level)
    if logger is not None:
        logger.setLevel(int(level) if not isinstance(level, str) else lv)
    _kiln_logger.setLevel(lv)
    os.environ["KILN_LOG_LEVEL"] = _ENV_NAMES[lv]
    if _C is not None:
        _C.set_log_level(_TO_ENGINE[lv])


def get_level() -> int:
    return logger.getEffectiveLevel() if logger.level == _logging.NOTSET else logger.level


@contextlib.contextmanager
def level(lv: Union[int, str]) -> Iterator[None]:
    """Context manager: the level inside the block, the previous one after."""
    old = get_level()
    old_env = os.environ.get("KILN_LOG_LEVEL")
    set_level(lv)
    try:
        yield
    finally:
        set_level(old)
        if old_env is None:
            os.environ.pop("KILN_LOG_LEVEL", None)
        else:
            os.environ["KILN_LOG_LEVEL"] = old_env


def errors() -> contextlib.AbstractContextManager:
    return level(ERROR)


def internal_errors() -> contextlib.AbstractContextManager:
    """Torch-TensorRT's most quiet level; Kiln's is ERROR."""
    return level(ERROR)


def graphs() -> contextlib.AbstractContextManager:
    """Torch-TensorRT's level for intermediate graphs; Kiln's most verbose is DEBUG (plus KILN_DUMP_IR=dir)."""
    return level(DEBUG)


class Level(enum.IntEnum):
    """Torch-TensorRT's log levels, as ``logging`` numbers (Graph is below DEBUG and means DEBUG here)."""

    InternalError = _logging.CRITICAL
    Error = _logging.ERROR
    Warning = _logging.WARNING
    Info = _logging.INFO
    Debug = _logging.DEBUG
    Graph = 5


def set_reportable_log_level(level: Union[int, str, Level]) -> None:
    set_level(level)


def get_reportable_log_level() -> Level:
    return Level(get_level())


def set_is_colored_output_on(colored_output_on: bool) -> None:
    """Accepted for Torch-TensorRT programs; Kiln's messages are plain text."""


def log(level: Union[int, Level], msg: str) -> None:
    _kiln_logger.log(_normalize(level), msg)


def warnings() -> contextlib.AbstractContextManager:
    return level(WARNING)


def info() -> contextlib.AbstractContextManager:
    return level(INFO)


def debug() -> contextlib.AbstractContextManager:
    return level(DEBUG)


class _DefaultHandler(_logging.StreamHandler):
    """stderr output for the "kiln" logger while the application has not configured logging (the root
    logger has no handlers); once it has, records just propagate there (no duplicates)."""

    def emit(self, record: _logging.LogRecord) -> None:
        if _logging.getLogger().handlers:
            return
        self.stream = sys.stderr  # the current one (pytest and friends swap it)
        _progress.clear_line()  # a message in the middle of the progress line gets a line of its own
        super().emit(record)


def _engine_sink(severity: int, message: str) -> None:
    logger.log(_FROM_ENGINE.get(severity, WARNING), message)


def _install(c_module) -> None:
    """Called once by kiln/__init__.py: routes engine messages here and applies KILN_LOG_LEVEL."""
    global _C
    _C = c_module
    if not logger.handlers:
        h = _DefaultHandler(sys.stderr)
        h.setFormatter(_logging.Formatter("[kiln %(levelname).1s] %(message)s"))
        logger.addHandler(h)
    lv = _level_from_env()
    logger.setLevel(lv)
    c_module.set_log_level(_TO_ENGINE[lv])
    c_module.set_log_sink(_engine_sink)
    atexit.register(lambda: c_module.set_log_sink(None))


# ---- progress -----------------------------------------------------------------------------------------
def set_progress_bar(enabled: Optional[bool]) -> None:
    """Turns the compile progress display on (True), off (False) or back to automatic (None: on when
    stderr is a terminal or in a Jupyter notebook). The environment variable ``KILN_PROGRESS=0`` / ``1``
    does the same; this setting wins over it. See kiln._progress."""
    _progress.set_forced(enabled)
