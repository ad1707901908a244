#!/usr/bin/env bash
# Format and lint check, the first step of scripts/test.sh: fails when a tracked C++/CUDA file differs from
# .clang-format, or a Python file from ruff's format or lint rules ([tool.ruff] in pyproject.toml).
# Tools come pinned from the venv (scripts/python_env.sh: clang-format==19.1.7, ruff==0.14.14).
# Usage: scripts/lint.sh [--fix]   (--fix rewrites the files instead of failing)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(scripts/python_env.sh)
BIN=$(dirname "$PY")
for tool in clang-format ruff; do
  [ -x "$BIN/$tool" ] && continue
  echo "lint: $BIN/$tool not found; pip install clang-format==19.1.7 ruff==0.14.14 into that environment" >&2
  exit 2
done
fix=0
[ "${1:-}" = "--fix" ] && fix=1
mapfile -t cxx < <(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh')
mapfile -t py < <(git ls-files '*.py')
if [ $fix -eq 1 ]; then
  "$BIN/clang-format" -i "${cxx[@]}"
  "$BIN/ruff" format -q "${py[@]}"
  "$BIN/ruff" check -q --fix "${py[@]}"
  exit 0
fi
rc=0
if ! out=$("$BIN/clang-format" --dry-run -Werror "${cxx[@]}" 2>&1); then
  echo "$out" | head -40
  echo "lint: C++ files differ from .clang-format (scripts/lint.sh --fix)"
  rc=1
fi
"$BIN/ruff" format --check -q "${py[@]}" || { echo "lint: Python files need ruff format (scripts/lint.sh --fix)"; rc=1; }
"$BIN/ruff" check -q "${py[@]}" || { echo "lint: ruff check failed"; rc=1; }
[ $rc -eq 0 ] && echo "lint: ${#cxx[@]} C++ and ${#py[@]} Python files clean"
exit $rc
