"""The ``kilnc`` and ``kiln_profile`` commands (console scripts of the wheel, pyproject.toml).

The C++ executables sit in the package (``kiln/bin``; RPATH to the package's libraries and torch's), or with
``KILN_BUILD_DIR`` in that CMake build (``tools/<name>/<name>``); the script replaces itself with one.
"""

from __future__ import annotations

import os
import sys

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def executable(name: str) -> str:
    build_dir = os.environ.get("KILN_BUILD_DIR")
    if build_dir:
        return os.path.join(os.path.abspath(build_dir), "tools", name, name)
    return os.path.join(_PKG_DIR, "bin", name)


def _exec(name: str) -> None:
    path = executable(name)
    if not os.access(path, os.X_OK):
        sys.exit(
            f"{name}: {path} is missing (reinstall kiln with `pip install .`, or build the {name} target)"
        )
    os.execv(path, [name, *sys.argv[1:]])


def kilnc() -> None:
    _exec("kilnc")


def kiln_profile() -> None:
    _exec("kiln_profile")
