#!/usr/bin/env bash
# Builds Kiln and runs the C++ demo: a CNN + attention + MLP network is built with the public API,
# its plan written to disk, then loaded in a fresh process and checked against a reference.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target kiln_example_cnn_mlp_attention
mkdir -p build/demo
build/examples/cpp/kiln_example_cnn_mlp_attention build build/demo/cnn_mlp_attention.plan
build/examples/cpp/kiln_example_cnn_mlp_attention run build/demo/cnn_mlp_attention.plan
