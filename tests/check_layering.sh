#!/usr/bin/env bash
# Layers point one way: the runtime (and the public engine.h) never include the builder's headers,
# directly or through another header, and ir/ includes neither, so a deployed runtime does not drag
# the builder along. Usage: check_layering.sh [C++ compiler] (default c++; it lists each file's
# header closure with -MM).
cd "$(dirname "$0")/.."
CXX=${1:-c++}
status=0
check() {  # check <pattern> <what> <paths...>: no file in paths reaches a header matching pattern
  local pattern=$1 what=$2
  shift 2
  local f deps
  for f in "$@"; do
    deps=$("$CXX" -std=c++20 -MM -Iinclude -Isrc "$f" 2>/dev/null) || {
      echo "cannot list the headers of $f"
      status=1
      continue
    }
    # The file's own dependency list, minus the file itself.
    if echo "$deps" | tr ' \\' '\n\n' | grep -v "^$f\$" | grep -qE "$pattern"; then
      echo "$what: $f reaches $(echo "$deps" | tr ' \\' '\n\n' | grep -E "$pattern" | head -1)"
      status=1
    fi
  done
}
check '(^|/)include/kiln/builder\.h$|(^|/)src/builder/' "runtime reaches the builder" \
  include/kiln/engine.h src/runtime/*.cpp src/runtime/*.h
check '(^|/)include/kiln/builder\.h$|(^|/)src/(builder|runtime|passes)/' "ir reaches later layers" src/ir/*.cpp src/ir/*.h
[ "$status" -eq 0 ] && echo "runtime and ir are builder-free (header closures checked)"
exit "$status"
