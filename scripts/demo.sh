#!/usr/bin/env bash
# The main job, end to end (python/kiln/demo.py): compiles torchvision's resnet18 and a transformers
# BertModel (random weights; nothing downloads) with kiln.compile, prints the support report and the error
# against eager PyTorch, saves and reloads each in a fresh process, and on a GPU prints the speedup over
# eager and torch.compile; without a GPU it says so and runs the CPU backend. Then the engine alone from
# C++ (examples/cpp/cnn_mlp_attention.cpp: built with the public API, plan written, loaded in a fresh
# process and checked). Sets up what it needs: system packages (scripts/install_deps.sh), .venv with the
# pinned torch, torchvision and transformers (scripts/python_env.sh), and a build in build/ (CUDA for this
# machine's GPU when nvcc and a GPU are present). Arguments go to the demo: e.g. --small, --device cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
PY=$(scripts/python_env.sh)
export PATH="$(dirname "$PY"):$PATH"  # the venv's cmake (>= 3.28) and ninja
arch=90  # the GPU machines'; else this machine's GPU
if command -v nvidia-smi >/dev/null 2>&1; then
  cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .') || true
  [ -n "${cc:-}" ] && arch=$cc
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_BUILD_TESTS=ON -DKILN_PYTHON="$PY" \
      -DPython_EXECUTABLE="$PY" -DKILN_BUILD_PYTHON=ON -DKILN_CUDA_ARCHITECTURES="$arch" >/dev/null
cmake --build build -j"$(nproc)" --target kiln_python_ext kilnc kiln_example_cnn_mlp_attention
echo "== PyTorch models through kiln.compile (python -m kiln.demo $*)"
KILN_BUILD_DIR="$PWD/build" PYTHONPATH="$PWD/python" "$PY" -m kiln.demo "$@"
echo "== the engine alone, from C++ (examples/cpp/cnn_mlp_attention.cpp)"
mkdir -p build/demo
build/examples/cpp/kiln_example_cnn_mlp_attention build build/demo/cnn_mlp_attention.plan
build/examples/cpp/kiln_example_cnn_mlp_attention run build/demo/cnn_mlp_attention.plan
