#!/usr/bin/env bash
# The hard line: nothing under include/ or src/ includes torch, ATen or c10.
cd "$(dirname "$0")/.."
leaks=$(grep -rlE '#include *[<"](torch|ATen|c10)/' include src 2>/dev/null)
if [ -n "$leaks" ]; then
  echo "engine files include torch (move this code to kiln_torch/):"
  echo "$leaks"
  exit 1
fi
echo "engine is torch-free"
