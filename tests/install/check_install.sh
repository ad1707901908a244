#!/usr/bin/env bash
# The CMake package as a C++ user meets it: installs the build's kiln_dev component into a fresh prefix,
# then configures, builds and runs tests/install/consumer against it (engine alone, and with the torch
# bridge when the build has it). Usage: check_install.sh BUILD_DIR WORK_DIR CMAKE PYTHON WITH_TORCH(ON|OFF)
set -euo pipefail
build=$1 work=$2 cmake=$3 python=$4 with_torch=$5
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
"$cmake" --install "$build" --prefix "$work/prefix" --component kiln_dev >/dev/null
"$cmake" -S "$here/consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DWITH_TORCH="$with_torch" \
         -DKILN_PYTHON="$python" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; exit 1; }
"$cmake" --build "$work/build" -j2 >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$work/build/engine_consumer"
if [ "$with_torch" = ON ]; then "$work/build/torch_consumer"; fi
