#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default 60).
# Crashes land in build-fuzz/crashes/<target>/ and fail the script. The TorchBind pickle-path target
# (fuzz_engine_state) needs a Python with torch: KILN_PYTHON, else ./.venv/bin/python; without one it is
# skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
CXX=${KILN_FUZZ_CXX:-$(command -v clang++-14 || command -v clang++)}
CC=${KILN_FUZZ_CC:-$(command -v clang-14 || command -v clang)}
PY=${KILN_PYTHON:-$PWD/.venv/bin/python}
targets="plan_loader:plan text_parser:text timing_cache:timing"
torch_opt=OFF
if [ -x "$PY" ] && "$PY" -c "import torch" 2>/dev/null; then
  torch_opt=ON
  targets="$targets engine_state:state"
else
  echo "== no Python with torch ($PY): fuzz_engine_state (TorchBind pickle path) skipped"
fi
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_C_COMPILER="$CC" \
  -DKILN_FUZZ=ON -DKILN_CUDA=OFF -DKILN_TORCH=$torch_opt -DKILN_PYTHON="$PY" -DKILN_BUILD_TESTS=OFF \
  -DKILN_BUILD_EXAMPLES=OFF >/dev/null
build_targets=kiln_make_seed_corpus
for t in $targets; do build_targets="$build_targets fuzz_${t%%:*}"; done
cmake --build build-fuzz -j"$(nproc)" --target $build_targets
corpus=build-fuzz/corpus
rm -rf "$corpus" && build-fuzz/tests/fuzz/kiln_make_seed_corpus "$corpus"
# Pickle-path seeds: mode byte 1 (names from the plan) + each real plan.
mkdir -p "$corpus/state"
for f in "$corpus"/plan/*; do { printf '\001'; cat "$f"; } > "$corpus/state/$(basename "$f")"; done
status=0
for t in $targets; do
  name=${t%%:*}; seeds=${t##*:}
  mkdir -p build-fuzz/crashes/$name build-fuzz/work/$name
  echo "== fuzz_$name for ${secs}s"
  log=build-fuzz/work/$name.log
  if build-fuzz/tests/fuzz/fuzz_$name -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix=build-fuzz/crashes/$name/ build-fuzz/work/$name "$corpus/$seeds" >"$log" 2>&1; then
    grep -E "INITED|DONE|stat::number_of_executed_units|stat::peak_rss_mb" "$log"
  else
    tail -40 "$log"
    status=1
  fi
done
exit $status
