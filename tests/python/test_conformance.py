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
    recs = h.run_all(["atan2", "nn.functional.relu"], "cpu", 1, 1, True, 120.0)
    by_op = {r["op"]: r for r in recs}
    assert by_op["nn.functional.relu"]["static"]["result"] == "pass", by_op
    assert by_op["nn.functional.relu"]["dynamic"]["result"] == "pass", by_op
    assert by_op["atan2"]["static"]["result"] in ("pass", "refused"), by_op


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
