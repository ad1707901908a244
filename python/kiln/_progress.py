"""The compile progress display: one line on stderr, rewritten in place, over the whole compile: export,
lowering, partition, each engine's build (with its op count), then a closing line with each engine's layers
and kernels after fusion and the time taken.

On by default where someone watches it: stderr is a terminal, or the code runs in a Jupyter notebook (whose
output area honours the carriage return). Off otherwise (logs, CI, pipes) and when turned off:
``kiln.logging.set_progress_bar(False)`` (``True`` forces it on, ``None`` is automatic) or the environment
variable ``KILN_PROGRESS=0`` (``1`` forces it on). The setting wins over the variable. Plain text, no
dependency.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any, Callable, Iterator, Optional

_forced: Optional[bool] = None
_active: Optional["CompileProgress"] = None

_OFF = ("0", "false", "off", "no")
_ON = ("1", "true", "on", "yes")


def set_forced(enabled: Optional[bool]) -> None:
    global _forced
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError("kiln.logging.set_progress_bar: expected True, False or None")
    _forced = enabled


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (IPython's ZMQ shell)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - a broken IPython install: not a notebook
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def enabled() -> bool:
    """Whether a compile shows the display now (see the module docstring for the rule)."""
    if _forced is not None:
        return _forced
    env = os.environ.get("KILN_PROGRESS", "").strip().lower()
    if env in _OFF:
        return False
    if env in _ON:
        return True
    if in_notebook():
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


class CompileProgress:
    """One compile's line. ``stage(text)`` and ``engine(i, n, name)`` rewrite it; ``finish()`` ends it."""

    def __init__(self, what: str):
        self.what = what
        self.t0 = time.perf_counter()
        self._width = 0
        self.summary = ""  # the closing line's detail, set by engines_built

    def _write(self, text: str, end: str = "") -> None:
        line = f"[kiln] {self.what} {time.perf_counter() - self.t0:5.1f}s  {text}"
        pad = " " * max(0, self._width - len(line))
        self._width = len(line)
        try:
            sys.stderr.write("\r" + line + pad + end)
            sys.stderr.flush()
        except (AttributeError, ValueError):  # stderr closed under us
            pass

    def clear(self) -> None:
        """Blanks the line (a log message is about to be written there); the next update redraws it."""
        if self._width:
            try:
                sys.stderr.write("\r" + " " * self._width + "\r")
                sys.stderr.flush()
            except (AttributeError, ValueError):
                pass
            self._width = 0

    def stage(self, text: str) -> None:
        self._write(text)

    def engine(self, i: int, n: int, name: str) -> None:
        """The partitioner's callback: engine i of n starts building ("kiln_engine_0 (14 ops)")."""
        if i < n:
            self._write(f"building engine {i + 1}/{n}: {name}")
        else:
            self._write(f"built {n} engine{'s' if n != 1 else ''}")

    def finish(self, ok: bool) -> None:
        if not ok:  # the error message starts on a clean line
            self.clear()
            return
        self._write("done" + (f": {self.summary}" if self.summary else ""), end="\n")


@contextlib.contextmanager
def compile_progress(what: str) -> Iterator[Optional[CompileProgress]]:
    """The display of one compile (None when off). A compile inside another (the torch.compile backend's
    graphs, debug.compare's builds) shows on the outer one's line."""
    global _active
    if _active is not None or not enabled():
        yield _active
        return
    p = CompileProgress(what)
    _active = p
    ok = False
    try:
        yield p
        ok = True
    finally:
        _active = None
        p.finish(ok)


def clear_line() -> None:
    """Blanks the progress line, if one is shown, so that a log message gets a line of its own."""
    if _active is not None:
        _active.clear()


def stage(text: str) -> None:
    """Shows the compile's current stage (nothing when no display is on)."""
    if _active is not None:
        _active.stage(text)


@contextlib.contextmanager
def engine_builds(what: str = "build") -> Iterator[Optional[Callable[[int, int, str], None]]]:
    """The partitioner's progress callback (None when no display is on)."""
    with compile_progress(what) as p:
        yield p.engine if p is not None else None


def engines_built(engines: dict[str, Any], num_torch_ops: int) -> None:
    """Records the closing line's detail: per engine its layers and kernels after fusion."""
    if _active is None:
        return
    parts = []
    for name, eng in engines.items():
        try:
            kernels, layer_groups = eng.kernel_groups()[:2]
            parts.append(f"{name} {len(layer_groups)} layers in {len(kernels)} kernels")
        except Exception:  # noqa: BLE001 - an engine library without kernel_groups: names only
            parts.append(name)
    shown = parts[:4] + ([f"... {len(parts) - 4} more"] if len(parts) > 4 else [])
    torch_part = (
        f"; {num_torch_ops} op{'s' if num_torch_ops != 1 else ''} in PyTorch" if num_torch_ops else ""
    )
    _active.summary = (", ".join(shown) if shown else "no engine") + torch_part
