#!/usr/bin/env bash
# Checks format and lint first (scripts/lint.sh), then builds Kiln (engine, CPU + CUDA backends when nvcc is present, torch bridge, Python package) and runs
# every test that needs no GPU: engine gtests, torch bridge gtests (converters and real models against
# libtorch eager), the Python package tests, then the sanitizer job (ASan + UBSan, engine only).
# Installs what it needs: system packages (scripts/install_deps.sh) and a venv with the pinned torch
# (scripts/python_env.sh). Then the short fuzz job: each libFuzzer target (plan loader, text IR parser,
# timing cache) for 20 s from the seed corpus, with clang (scripts/fuzz.sh).
# Usage: scripts/test.sh [--no-sanitize] [--no-fuzz]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
t0=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - t0 )) s] $*"; }
want_sanitize=1
want_fuzz=1
for arg in "$@"; do
  case "$arg" in
    --no-sanitize) want_sanitize=0 ;;
    --no-fuzz) want_fuzz=0 ;;
    *) echo "unknown option $arg (use --no-sanitize, --no-fuzz)" >&2; exit 2 ;;
  esac
done

scripts/install_deps.sh
PY=$(scripts/python_env.sh)
export PATH="$(dirname "$PY"):$PATH"  # the venv's cmake (>= 3.28) and ninja
stamp "format and lint (scripts/lint.sh)"
scripts/lint.sh
stamp "configure (cmake $(cmake --version | head -1 | awk '{print $3}'), python $PY)"
# sm_90 only (the GPU machine's H100/H200): the default four architectures would multiply CUDA build time.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_BUILD_TESTS=ON -DKILN_PYTHON="$PY" \
      -DPython_EXECUTABLE="$PY" -DKILN_BUILD_PYTHON=ON -DKILN_CUDA_ARCHITECTURES=90 >/dev/null
stamp "build"
cmake --build build -j"$jobs"
stamp "C++ tests (engine, CPU backend, torch bridge)"
ctest --test-dir build -LE gpu --output-on-failure -j"$jobs"
stamp "Python package tests"
KILN_BUILD_DIR="$PWD/build" "$PY" -m pytest -q tests/python

if [ $want_sanitize -eq 1 ]; then
  stamp "sanitizer job: AddressSanitizer + UndefinedBehaviorSanitizer (engine and CPU backend)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_SANITIZE=address,undefined \
        -DKILN_CUDA=OFF -DKILN_TORCH=OFF -DKILN_BUILD_TESTS=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -LE gpu --output-on-failure -j"$jobs"
fi
if [ $want_fuzz -eq 1 ]; then
  stamp "short fuzz job: libFuzzer + ASan/UBSan, 20 s per target (scripts/fuzz.sh)"
  scripts/fuzz.sh 20
fi
stamp "all tests passed"
