#!/usr/bin/env bash
# Builds the GPU binaries here (Release, sm_90, shared engine) and copies them into .carry/, so that
# scripts/gpu_check.sh carried ... runs them on the GPU machine without building there (device time
# is scarce; this machine's cores are free). Usage: scripts/build_carry.sh [extra targets]
# Also carries the Python bindings (kiln._C + _build_info.py) for bench/zoo.py on the GPU machine. They
# are built for KILN_PYTHON's Python version: the GPU machine has Python 3.12 with torch 2.11.0, so give
# KILN_PYTHON a 3.12 interpreter with that torch (e.g. a venv of pyenv's 3.12) when the zoo is to run there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${KILN_PYTHON:-$PWD/.venv/bin/python}
[ -x "$PY" ] || PY=$(scripts/python_env.sh)
export PATH="$(dirname "$PY"):$PATH"
cmake -S . -B build-carry -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON -DKILN_TORCH=ON -DKILN_PYTHON="$PY" \
      -DKILN_SHARED_ENGINE=ON -DKILN_BUILD_EXAMPLES=OFF -DKILN_BUILD_TESTS=ON -DKILN_CUDA_ARCHITECTURES=90 \
      -DKILN_BUILD_PYTHON=ON -DPython_EXECUTABLE="$PY" >/dev/null
targets="kiln kiln_torch kiln_runtime kilnc kiln_profile test_cuda_core test_cuda_reduce_norm test_cuda_data_indexing
         test_cuda_spatial test_cuda_attention test_cuda_fusion test_cuda_pointwise_fusion test_cuda_op_cases test_cuda_kv_cache test_cuda_quantized test_cuda_nonzero test_cuda_vision test_pointwise_codegen
         kiln_python_ext $*"
cmake --build build-carry -j"$(nproc)" --target $targets
mkdir -p .carry
find build-carry -name 'libkiln*.so*' -exec cp -L {} .carry/ \;
cp build-carry/tools/kilnc/kilnc build-carry/tools/kiln_profile/kiln_profile .carry/
for t in build-carry/tests/test_cuda_* build-carry/tests/test_pointwise_codegen; do [ -x "$t" ] && cp "$t" .carry/; done
cp build-carry/kiln_torch/python/_C*.so build-carry/kiln_torch/python/_build_info.py .carry/
strip --strip-unneeded .carry/* 2>/dev/null || true
du -sh .carry
