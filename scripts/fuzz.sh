#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default 60).
# Crashes land in build-fuzz/crashes/<target>/ and fail the script.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
CXX=${KILN_FUZZ_CXX:-$(command -v clang++-14 || command -v clang++)}
CC=${KILN_FUZZ_CC:-$(command -v clang-14 || command -v clang)}
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_C_COMPILER="$CC" \
  -DKILN_FUZZ=ON -DKILN_CUDA=OFF -DKILN_TORCH=OFF -DKILN_BUILD_TESTS=OFF -DKILN_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target kiln_make_seed_corpus fuzz_plan_loader fuzz_text_parser fuzz_timing_cache
corpus=build-fuzz/corpus
rm -rf "$corpus" && build-fuzz/tests/fuzz/kiln_make_seed_corpus "$corpus"
status=0
for t in plan_loader:plan text_parser:text timing_cache:timing; do
  name=${t%%:*}; seeds=${t##*:}
  mkdir -p build-fuzz/crashes/$name build-fuzz/work/$name
  echo "== fuzz_$name for ${secs}s"
  if ! build-fuzz/tests/fuzz/fuzz_$name -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix=build-fuzz/crashes/$name/ build-fuzz/work/$name "$corpus/$seeds" 2>&1 | tail -12; then
    status=1
  fi
done
exit $status
