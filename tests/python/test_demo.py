"""The README's first command runs `python -m kiln.demo`: here its small version on the CPU backend, in a
fresh process as a user runs it (resnet18 and a BertModel compiled, checked against eager, saved and
reloaded in another process)."""

import os
import subprocess
import sys

import pytest

from conftest import REPO

pytest.importorskip("torchvision")
pytest.importorskip("transformers")


def test_demo_small_cpu(tmp_path):
    env = dict(os.environ)
    if os.environ.get("KILN_BUILD_DIR"):
        env["PYTHONPATH"] = os.path.join(REPO, "python") + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run(
        [sys.executable, "-m", "kiln.demo", "--small", "--device", "cpu", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "No GPU run" in out and "CPU backend" in out
    for model in ("resnet18", "bert"):
        assert f"=== {model} (" in out
        assert f"{model}: PASS" in out
        assert (tmp_path / f"{model}.pt2").exists()
    # The support report, the error against eager and the fresh-process reload are printed.
    assert out.count("nodes in Kiln") >= 2
    assert out.count("error against eager PyTorch") == 2
    assert out.count("reloaded in a fresh process: ok") == 2
