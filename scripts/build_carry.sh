#!/usr/bin/env bash
# Builds the GPU binaries here (Release, sm_90, shared engine) and copies them into .carry/, so that
# scripts/gpu_check.sh carried ... runs them on the GPU machine without building there (device time
# is scarce; this machine's cores are free). Usage: scripts/build_carry.sh [extra targets]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${KILN_PYTHON:-$PWD/.venv/bin/python}
[ -x "$PY" ] || PY=$(scripts/python_env.sh)
export PATH="$(dirname "$PY"):$PATH"
cmake -S . -B build-carry -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON -DKILN_TORCH=ON -DKILN_PYTHON="$PY" \
      -DKILN_SHARED_ENGINE=ON -DKILN_BUILD_EXAMPLES=OFF -DKILN_BUILD_TESTS=ON >/dev/null
targets="kiln kiln_torch kiln_runtime kilnc kiln_profile test_cuda_core test_cuda_reduce_norm test_cuda_data_indexing
         test_cuda_spatial test_cuda_attention test_cuda_fusion $*"
cmake --build build-carry -j"$(nproc)" --target $targets
mkdir -p .carry
find build-carry -name 'libkiln*.so*' -exec cp -L {} .carry/ \;
cp build-carry/tools/kilnc/kilnc build-carry/tools/kiln_profile/kiln_profile .carry/
for t in build-carry/tests/test_cuda_*; do [ -x "$t" ] && cp "$t" .carry/; done
strip --strip-unneeded .carry/* 2>/dev/null || true
du -sh .carry
