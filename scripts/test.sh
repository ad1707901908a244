#!/usr/bin/env bash
# Builds Kiln and runs every test that needs no GPU, then the sanitizer job (ASan + UBSan).
# Usage: scripts/test.sh [--no-sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
scripts/install_deps.sh

echo "== build (Release) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DKILN_BUILD_TESTS=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests =="
ctest --test-dir build -LE gpu --output-on-failure -j"$jobs"

if [ "${1:-}" != "--no-sanitize" ]; then
  echo "== sanitizer job: AddressSanitizer + UndefinedBehaviorSanitizer =="
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_SANITIZE=address,undefined \
        -DKILN_CUDA=OFF -DKILN_BUILD_TESTS=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -LE gpu --output-on-failure -j"$jobs"
fi
echo "== all tests passed =="
