#!/usr/bin/env bash
# Installs the system packages the build and the tests need (Debian/Ubuntu), if any are missing.
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
[ -e /usr/include/gtest/gtest.h ] || need+=(libgtest-dev)
ls /usr/include/*/openblas*/cblas.h /usr/include/openblas/cblas.h >/dev/null 2>&1 || need+=(libopenblas-dev)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)  # scripts/python_env.sh makes .venv
python3 -c 'import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
  2>/dev/null || need+=(python3-dev)  # kiln._C
command -v clang++ >/dev/null || command -v clang++-14 >/dev/null || need+=(clang)  # the fuzz job (libFuzzer)
# Headless Chromium renders kiln.report's page in tests/python/test_report.py (Debian's package).
command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || need+=(chromium-headless-shell)
if [ ${#need[@]} -gt 0 ]; then
  echo "[install_deps] installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
