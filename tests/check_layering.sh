#!/usr/bin/env bash
# Layers point one way: the runtime (and the public engine.h) never include the builder's headers,
# and ir/ includes neither, so a deployed runtime does not drag the builder along.
cd "$(dirname "$0")/.."
status=0
check() {  # check <pattern> <what> <paths...>
  local pattern=$1 what=$2
  shift 2
  local leaks
  leaks=$(grep -lE "#include *\"($pattern)" "$@" 2>/dev/null)
  if [ -n "$leaks" ]; then
    echo "$what:"; echo "$leaks"; status=1
  fi
}
check 'kiln/builder\.h|builder/' "runtime files include the builder" include/kiln/engine.h src/runtime/*
check 'kiln/builder\.h|builder/|runtime/|passes/' "ir files include later layers" src/ir/*
[ "$status" -eq 0 ] && echo "runtime and ir are builder-free"
exit "$status"
