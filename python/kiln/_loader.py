"""Finds and loads the native parts of Kiln.

Two layouts:

* installed (``pip install .``): ``libkiln_runtime.so``, ``libkiln_torch.so``, ``_C*.so`` and
  ``_build_info.py`` sit in the ``kiln`` package folder;
* in-tree development: ``KILN_BUILD_DIR=<cmake build dir>`` (configured with
  ``-DKILN_BUILD_PYTHON=ON``) points at a CMake build; the libraries are taken from
  ``<dir>/kiln_torch`` and ``<dir>/kiln_torch/python``.

``libkiln_runtime.so`` is loaded with ``torch.ops.load_library`` so ``torch.classes.kiln.Engine`` and
``torch.ops.kiln.execute_engine`` exist; it is all a saved program needs to run.
"""

from __future__ import annotations

import glob
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import Optional

import torch

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


class NativeLibraryError(ImportError):
    """The native parts of Kiln are missing or were built for another torch."""


def _layout() -> tuple[str, str, str]:
    """(folder of libkiln_runtime.so, folder of _C*.so and _build_info.py, description)."""
    build_dir = os.environ.get("KILN_BUILD_DIR")
    if build_dir:
        build_dir = os.path.abspath(build_dir)
        return (
            os.path.join(build_dir, "kiln_torch"),
            os.path.join(build_dir, "kiln_torch", "python"),
            f"the CMake build in KILN_BUILD_DIR={build_dir}",
        )
    return _PKG_DIR, _PKG_DIR, f"the installed package in {_PKG_DIR}"


def _read_build_info(folder: str) -> Optional[ModuleType]:
    path = os.path.join(folder, "_build_info.py")
    if not os.path.exists(path):
        return None
    spec = importlib.util.spec_from_file_location("kiln._build_info", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _rebuild_hint() -> str:
    return (
        "Rebuild Kiln for the torch you have: `pip install --no-build-isolation --force-reinstall .` in the "
        "Kiln checkout, or for a development build re-run CMake with -DKILN_PYTHON=$(which python) "
        "-DKILN_BUILD_PYTHON=ON and point KILN_BUILD_DIR at it."
    )


def _torch_key(version: str) -> str:
    # Local suffixes (+cpu, +cu130) change the ABI as much as the release does: compare them all.
    return version.strip()


def load_native() -> tuple[ModuleType, ModuleType]:
    """Loads libkiln_runtime (TorchBind class + op) and kiln._C; returns (_C, build_info)."""
    runtime_dir, ext_dir, where = _layout()
    info = _read_build_info(ext_dir)
    if info is None:
        raise NativeLibraryError(
            f"kiln: the native parts are missing from {where} (no _build_info.py in {ext_dir}). "
            "Install with `pip install --no-build-isolation .`, or build with CMake "
            "(-DKILN_BUILD_PYTHON=ON) and set KILN_BUILD_DIR to the build folder."
        )
    if _torch_key(info.torch_version) != _torch_key(torch.__version__):
        raise NativeLibraryError(
            f"kiln: the native parts in {where} were built against torch {info.torch_version}, but torch "
            f"{torch.__version__} is installed. The C++ ABI of libtorch changes between releases, so they "
            f"cannot be loaded. {_rebuild_hint()}"
        )
    py = "%d.%d" % sys.version_info[:2]
    if info.python_version and info.python_version != py:
        raise NativeLibraryError(
            f"kiln: the native parts in {where} were built for Python {info.python_version}, this is "
            f"Python {py}. {_rebuild_hint()}"
        )

    runtime = os.path.join(runtime_dir, "libkiln_runtime.so")
    if not os.path.exists(runtime):
        raise NativeLibraryError(f"kiln: {runtime} is missing ({where}). {_rebuild_hint()}")
    if not hasattr(torch.classes, "kiln") or not _engine_class_registered():
        try:
            torch.ops.load_library(runtime)
        except OSError as e:
            raise NativeLibraryError(f"kiln: loading {runtime} failed: {e}. {_rebuild_hint()}") from e

    candidates = sorted(glob.glob(os.path.join(ext_dir, "_C*.so")))
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    candidates = [c for c in candidates if any(c.endswith(s) for s in suffixes)] or candidates
    if not candidates:
        raise NativeLibraryError(f"kiln: no _C extension in {ext_dir} ({where}). {_rebuild_hint()}")
    if "kiln._C" in sys.modules:
        return sys.modules["kiln._C"], info
    spec = importlib.util.spec_from_file_location("kiln._C", candidates[0])
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
    except ImportError as e:
        raise NativeLibraryError(f"kiln: importing {candidates[0]} failed: {e}. {_rebuild_hint()}") from e
    sys.modules["kiln._C"] = mod
    if mod.torch_version != torch.__version__:
        raise NativeLibraryError(
            f"kiln: {candidates[0]} was compiled against torch {mod.torch_version}, but torch "
            f"{torch.__version__} is installed. {_rebuild_hint()}"
        )
    return mod, info


def _engine_class_registered() -> bool:
    try:
        torch.classes.kiln.Engine  # noqa: B018
        return True
    except (AttributeError, RuntimeError):
        return False


def runtime_library_path() -> str:
    """Path of libkiln_runtime.so (what a C++ program or a bare `torch.ops.load_library` needs)."""
    runtime_dir, _, _ = _layout()
    return os.path.join(runtime_dir, "libkiln_runtime.so")
