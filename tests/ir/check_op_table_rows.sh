#!/usr/bin/env bash
# Negative-compile test of the per-op tables: copies of the real table files with one row removed,
# two rows swapped or an entry set to nullptr must fail to compile, with the static_assert's message.
# The unmodified copies must compile (so a failure comes from the check, not from the harness).
# Usage: check_op_table_rows.sh <c++ compiler> <source dir> <work dir> [CUDA include dirs, ';'-separated]
# (with CUDA include dirs, src/backends/cuda/kernel_table.cpp is checked too).
set -u
cxx=$1 src=$2 work=$3
inc=()
IFS=';' read -ra cuda_dirs <<<"${4:-}"
for d in "${cuda_dirs[@]}"; do [ -n "$d" ] && inc+=(-I "$d"); done
rm -rf "$work" && mkdir -p "$work/ir"
failures=0

# compile <file> [extra include dir]: syntax-only, engine include paths; output in $work/last.log.
compile() {
  local extra=()
  [ $# -gt 1 ] && extra=(-I "$2")
  "$cxx" -std=c++20 -fsyntax-only "${extra[@]}" -I "$src/include" -I "$src/src" "${inc[@]}" "$1" \
    >"$work/last.log" 2>&1
}

# expect_ok <label> <file> [include dir]
expect_ok() {
  if compile "$2" "${@:3}"; then
    echo "ok    $1 compiles"
  else
    echo "FAIL  $1 should compile:"; cat "$work/last.log"; failures=$((failures + 1))
  fi
}

# expect_rejected <label> <file> <message> [include dir]
expect_rejected() {
  if compile "$2" "${@:4}"; then
    echo "FAIL  $1 compiled"; failures=$((failures + 1))
  elif grep -q "static assertion failed.*$3\|static_assert failed.*$3" "$work/last.log"; then
    echo "ok    $1 rejected: $3"
  else
    echo "FAIL  $1 failed, but not with \"$3\":"; cat "$work/last.log"; failures=$((failures + 1))
  fi
}

# variants <name> <table file> <table variable> <row text to null out> <its replacement>
variants() {
  local name=$1 file=$2 table=$3 entry=$4 null=$5
  local base="$work/$name"
  cp "$file" "$base.cpp"
  expect_ok "$name (as is)" "$base.cpp"
  # one row short: the kRmsNorm row removed
  sed '/{OpKind::kRmsNorm,/d' "$file" >"$base.short.cpp"
  expect_rejected "$name one row short" "$base.short.cpp" "$table: one row per OpKind, in OpKind order"
  # misordered: the kSqueeze and kUnsqueeze rows swapped
  sed '/{OpKind::kSqueeze,/{h;d};/{OpKind::kUnsqueeze,/G' "$file" >"$base.swapped.cpp"
  expect_rejected "$name rows swapped" "$base.swapped.cpp" "$table: one row per OpKind, in OpKind order"
  # a null entry
  sed "s/$entry/$null/" "$file" >"$base.null.cpp"
  expect_rejected "$name null entry" "$base.null.cpp" "$table: every op needs"
}

variants shape_inference "$src/src/ir/shape_inference.cpp" kInferTable \
  "infer_pad, nullptr}" "nullptr, nullptr}"
variants cpu_kernel_table "$src/src/backends/cpu/cpu_kernel_table.cpp" kCpuKernels \
  "run_pad}" "nullptr}"
if [ ${#inc[@]} -gt 0 ]; then
  variants cuda_kernel_table "$src/src/backends/cuda/kernel_table.cpp" kCudaOps \
    "{launch_pad, nullptr, nullptr}" "{nullptr, nullptr, nullptr}"
fi

# kOpTable lives in a header: a shortened copy shadows it through an earlier include path.
echo '#include "ir/op_table.h"' >"$work/includes_op_table.cpp"
expect_ok "kOpTable (as is)" "$work/includes_op_table.cpp"
sed '/{OpKind::kRmsNorm,/d' "$src/src/ir/op_table.h" >"$work/ir/op_table.h"
expect_rejected "kOpTable one row short" "$work/includes_op_table.cpp" \
  "kOpTable: one row per OpKind, in OpKind order" "$work"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "every bad table was rejected at compile time"
