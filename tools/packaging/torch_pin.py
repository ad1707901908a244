"""scikit-build-core metadata provider (pyproject.toml): the wheel's dependencies.

The native parts are compiled against the torch in the build environment (torch==2.11.0 from
build-system.requires, or the installed torch with --no-build-isolation) and load only into that torch
(C++ ABI), so the wheel requires exactly its release; the table's `requires` are the other dependencies.
"""

from __future__ import annotations

from typing import Any


def dynamic_metadata(field: str, settings: Any = None) -> list[str]:
    """torch==<release of the build's torch>, then the `requires` list of the pyproject.toml table."""
    if field != "dependencies":
        raise RuntimeError(f"torch_pin provides 'dependencies', not {field!r}")
    try:
        import torch
    except ImportError as e:
        raise RuntimeError(
            "kiln builds against torch: none in the build environment (pip installs torch from "
            "build-system.requires; with --no-build-isolation install torch first)"
        ) from e
    release = torch.__version__.split("+")[0]  # 2.11.0+cu130 -> 2.11.0: any build of that release
    return [f"torch=={release}", *(settings or {}).get("requires", [])]
