"""CI part of the OpInfo conformance harness (issue 16): the fixed CI sample of bench/conformance.py, float32 on
the CPU backend, static and dynamic shapes. Fails when a case listed in bench/conformance_floor.json stops
passing (the floor only goes up: python bench/conformance.py --ci --update-floor). The full run is by hand:
python bench/conformance.py --all."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HARNESS = os.path.join(REPO, "bench", "conformance.py")


def _harness():
    sys.path.insert(0, os.path.join(REPO, "bench"))
    try:
        import conformance
    finally:
        sys.path.pop(0)
    return conformance


def test_core_aten_op_set_comes_from_torch():
    ops = _harness().core_aten_ops()
    assert len(ops) > 150  # 193 in torch 2.11
    for op in ("aten::add.Tensor", "aten::convolution", "aten::atan2", "aten::sort"):
        assert op in ops


def test_harness_classifies_a_refusal_and_a_pass():
    pytest.importorskip(
        "expecttest", reason="torch's OpInfo database needs expecttest (scripts/python_env.sh)"
    )
    h = _harness()
    recs = h.run_all(["atan2", "nn.functional.relu"], "cpu", 3, 1, True, 120.0)
    relu = [r for r in recs if r["op"] == "nn.functional.relu"]
    assert relu and all(r["static"]["result"] == "pass" for r in relu), relu
    assert any(r["dynamic"]["result"] == "pass" for r in relu), relu  # a 0-d sample has no dynamic dim
    atan2 = [r for r in recs if r["op"] == "atan2"]
    assert atan2 and all(r["static"]["result"] in ("pass", "refused") for r in atan2), atan2
    summary = h.summarize(recs, h.core_aten_ops())
    assert summary["totals"]["static"]["samples"] == len(relu) + len(atan2)
    assert "aten::relu" in summary["core_aten_covered"]


def test_ci_sample_does_not_fall_below_the_floor(tmp_path):
    pytest.importorskip(
        "expecttest", reason="torch's OpInfo database needs expecttest (scripts/python_env.sh)"
    )
    env = dict(os.environ)
    if env.get("KILN_BUILD_DIR"):
        env["PYTHONPATH"] = os.path.join(REPO, "python") + os.pathsep + env.get("PYTHONPATH", "")
    out = tmp_path / "conformance.json"
    r = subprocess.run(
        [sys.executable, HARNESS, "--ci", "--quiet", "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    print(r.stdout[-6000:])
    assert r.returncode == 0, f"conformance below the floor:\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    summary = json.loads(out.read_text())["summary"]
    assert summary["totals"]["static"]["samples"] > 0
