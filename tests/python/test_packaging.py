"""What `pip install .` relies on: the version written once (CMakeLists.txt), the torch pin computed from
the build's torch, and the kilnc / kiln_profile commands."""

import os
import re
import subprocess
import sys

import torch

import kiln
from conftest import REPO


def _cmake_version() -> str:
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        return re.search(r"project\(kiln VERSION ([0-9.]+)", f.read()).group(1)


def test_version_single_sourced():
    with open(os.path.join(REPO, "pyproject.toml")) as f:
        pyproject = f.read()
    assert re.search(r"^version\s*=", pyproject, re.M) is None, "the version belongs in CMakeLists.txt only"
    assert '"version"' in re.search(r"^dynamic\s*=.*$", pyproject, re.M).group(0)
    assert kiln.__version__ == _cmake_version()
    assert kiln.build_info.kiln_version == _cmake_version()


def test_torch_pin_is_the_build_torch():
    sys.path.insert(0, os.path.join(REPO, "tools", "packaging"))
    try:
        import torch_pin
    finally:
        sys.path.pop(0)
    pin = f"torch=={torch.__version__.split('+')[0]}"
    assert torch_pin.dynamic_metadata("dependencies", {}) == [pin]
    assert torch_pin.dynamic_metadata("dependencies", {"requires": ["numpy"]}) == [pin, "numpy"]
    # The native parts were built against this torch (kiln imported, so the loader agreed).
    assert kiln.build_info.torch_version.split("+")[0] == torch.__version__.split("+")[0]


def _command(name: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if os.environ.get("KILN_BUILD_DIR"):
        env["PYTHONPATH"] = os.path.join(REPO, "python") + os.pathsep + env.get("PYTHONPATH", "")
    code = f"import sys; from kiln import _commands; sys.argv[0] = {name!r}; _commands.{name}()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_console_scripts_run_the_executables():
    r = _command("kilnc", "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: kilnc" in r.stdout and "--enabled-precision" in r.stdout
    r = _command("kiln_profile")
    assert "kiln_profile" in r.stdout + r.stderr
