#!/usr/bin/env bash
# Creates (once) .venv with what the torch bridge, the Python package and their tests need, pinned to
# what the GPU machine has, plus a CMake new enough for CUDA C++20 (>= 3.28) and the CUTLASS headers
# (nvidia-cutlass, header-only C++ in cutlass_library/source), the cuDNN frontend headers (nvidia-cudnn-frontend:
# site-packages/include/cudnn_frontend.h, for cuDNN's fused attention), expecttest (torch's OpInfo database imports it:
# bench/conformance.py), scikit-learn (its bundled digits dataset trains the INT8 accuracy test; nothing
# downloads), the pinned format/lint tools (clang-format, ruff; scripts/lint.sh) and pdoc (the API reference built
# from the docstrings: tests/python/test_api_docs.py). Prints the Python path.
# KILN_PYTHON=/path/to/python skips this and uses that interpreter as is.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${KILN_PYTHON:-}" ]; then echo "$KILN_PYTHON"; exit 0; fi
VENV=${KILN_VENV:-$PWD/.venv}
if [ ! -x "$VENV/bin/python" ] || [ ! -x "$VENV/bin/ruff" ] || [ ! -x "$VENV/bin/clang-format" ] ||
   ! "$VENV/bin/python" -c 'import torch, torchvision, transformers, pytest, expecttest, cutlass_library, sklearn, cudnn, pdoc' 2>/dev/null; then
  echo "[python_env] creating $VENV (torch==2.11.0, torchvision==0.26.0, transformers, pytest, expecttest, scikit-learn, cmake)" >&2
  python3 -m venv "$VENV" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2
  "$VENV/bin/python" -m pip install -q torch==2.11.0 torchvision==0.26.0 transformers pytest expecttest==0.3.0 numpy "cmake>=3.28" ninja \
      nvidia-cutlass==4.2.0.0 nvidia-cudnn-frontend==1.32.0 clang-format==19.1.7 ruff==0.14.14 scikit-learn==1.9.1 pdoc==16.0.0 >&2
fi
echo "$VENV/bin/python"
