"""What was compiled: the progress display, the fallback summary at the default log level, and kiln.report's
HTML page (checked in a real headless Chromium, the distribution's package; scripts/install_deps.sh installs
it). The model has deliberate fallbacks: torch.lgamma has no converter, and the ops around it form a block
below min_block_size."""

import html.parser
import logging
import os
import shutil
import subprocess
import sys

import pytest
import torch

import kiln
from kiln import _progress

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Head(torch.nn.Module):
    def forward(self, x):
        return torch.lgamma(x.abs() + 1)  # no converter: stays in PyTorch


class FallbackNet(torch.nn.Module):
    """Two engines (body, out) around an op Kiln leaves to PyTorch (head)."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU()
        )
        self.head = Head()
        self.out = torch.nn.Sequential(torch.nn.Linear(32, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))

    def forward(self, x):
        return self.out(self.head(self.body(x)))


@pytest.fixture
def model():
    torch.manual_seed(0)
    return FallbackNet().eval()


@pytest.fixture(autouse=True)
def automatic_progress(monkeypatch):
    monkeypatch.delenv("KILN_PROGRESS", raising=False)
    yield
    kiln.logging.set_progress_bar(None)


def _inputs():
    return [kiln.Input(min_shape=(1, 16), opt_shape=(4, 16), max_shape=(8, 16))]


def _fallback_nodes(data):
    return [n for n in data["nodes"] if n["place"] == "torch"]


# ---- fallback summary -------------------------------------------------------------------------------
def test_fallback_summary_at_default_level_names_op_place_and_reason(model, caplog):
    assert kiln.logging.get_level() == logging.WARNING  # the default
    with caplog.at_level(logging.WARNING, logger="kiln"):
        compiled = kiln.compile(model, inputs=_inputs(), device="cpu")
    x = torch.randn(4, 16)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    msgs = [r.getMessage() for r in caplog.records if r.name == "kiln" and r.levelno == logging.WARNING]
    summary = [m for m in msgs if "run in PyTorch" in m]
    assert len(summary) == 1, msgs
    text = summary[0]
    line = next(ln for ln in text.splitlines() if "aten::lgamma" in ln)
    assert (
        "self.head (Head)" in line and "test_report.py:" in line and "no converter for aten::lgamma" in line
    )
    # Every op left to PyTorch has its line; the partitioner's count of them heads the summary.
    report = compiled.meta["kiln"]["report"]
    assert text.startswith(
        f"{report.torch_nodes} of {report.torch_nodes + report.kiln_nodes} ops run in PyTorch"
    )
    assert len(text.splitlines()) == 1 + report.torch_nodes
    assert report.fallback_summary == text


def test_no_fallback_summary_when_everything_converts(mlp, caplog):
    with caplog.at_level(logging.WARNING, logger="kiln"):
        kiln.compile(mlp, inputs=[torch.randn(2, 16)], device="cpu")
    assert not [r for r in caplog.records if "run in PyTorch" in r.getMessage()]


# ---- progress ---------------------------------------------------------------------------------------
def test_progress_covers_the_whole_compile(model, capsys):
    kiln.logging.set_progress_bar(True)
    kiln.compile(model, inputs=_inputs(), device="cpu")
    err = capsys.readouterr().err
    for stage in ("export (torch.export)", "lower to core aten", "partition, build engines", "stitch"):
        assert stage in err, err
    assert "building engine 1/2: kiln_engine_0 (" in err and "building engine 2/2: kiln_engine_1 (" in err
    last = err.rstrip("\n").split("\r")[-1]
    assert "done: kiln_engine_0 " in last and "layers in" in last and "kernels" in last, last
    assert "in PyTorch" in last


def test_progress_is_off_when_not_interactive_and_when_turned_off(model, capsys, monkeypatch):
    assert not sys.stderr.isatty()  # pytest captures stderr: not a terminal, so off by default
    kiln.compile(model, inputs=_inputs(), device="cpu")
    assert "[kiln] kiln.compile" not in capsys.readouterr().err
    monkeypatch.setenv("KILN_PROGRESS", "1")
    assert _progress.enabled()
    kiln.logging.set_progress_bar(False)  # the setting wins over the variable
    assert not _progress.enabled()
    kiln.logging.set_progress_bar(None)
    monkeypatch.setenv("KILN_PROGRESS", "0")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert not _progress.enabled()
    monkeypatch.delenv("KILN_PROGRESS")
    assert _progress.enabled()  # a terminal
    with pytest.raises(TypeError):
        kiln.logging.set_progress_bar("yes")


def test_progress_is_on_in_a_notebook(monkeypatch):
    class ZMQInteractiveShell:  # what get_ipython() returns in a Jupyter kernel
        pass

    fake = type(sys)("IPython")
    fake.get_ipython = lambda: ZMQInteractiveShell()
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert _progress.in_notebook() and _progress.enabled()
    fake.get_ipython = lambda: None  # IPython imported, but a plain interpreter
    assert not _progress.in_notebook()


# ---- kiln.report: the data ----------------------------------------------------------------------------
def test_report_data_has_partition_engines_and_fallbacks(model):
    compiled = kiln.compile(model, inputs=_inputs(), device="cpu")
    data = kiln._report.report_data(compiled)
    kiln_segs = [s["name"] for s in data["segments"] if s["kind"] == "kiln"]
    assert kiln_segs == ["kiln_engine_0", "kiln_engine_1"]
    assert [e["name"] for e in data["engines"]] == kiln_segs
    assert data["backend"] == "cpu" and data["profiled"] is False
    for e in data["engines"]:
        assert e["groups"] and e["ops"] >= 3
        for g in e["groups"]:
            assert g["kernel"].startswith("cpu.") and g["ms"] is None and g["layers"]
            for layer in g["layers"]:
                assert layer["op"] and (layer["precision"] or layer["dtype"] == "f32")
    # Layers carry the module they came from: the first engine is self.body.
    wheres = [ly["where"] for g in data["engines"][0]["groups"] for ly in g["layers"]]
    assert any("self.body[0] (Linear)" in w for w in wheres), wheres
    fallbacks = _fallback_nodes(data)
    lgamma = [n for n in fallbacks if n["op"].startswith("aten::lgamma")]
    assert (
        len(lgamma) == 1
        and "self.head (Head)" in lgamma[0]["where"]
        and "no converter" in lgamma[0]["reason"]
    )
    assert all(n["reason"] for n in fallbacks)
    # Every compute node is in exactly one segment, Kiln nodes in their engine's.
    placed = {i for s in data["segments"] for i in s["nodes"]}
    assert {n["id"] for n in data["nodes"] if n["place"] != "evaluated"} <= placed


def test_report_profile_times_every_kernel(model, tmp_path):
    compiled = kiln.compile(model, inputs=_inputs(), device="cpu")
    data = kiln._report.report_data(compiled, profile=True, runs=3)
    assert data["profiled"] and "(4, 16)" in data["profile_note"]
    for e in data["engines"]:
        assert all(isinstance(g["ms"], float) and g["ms"] >= 0 for g in e["groups"])
    # Profiling is off again afterwards, and the module still computes the model.
    x = torch.randn(2, 16)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    for e in ("kiln_engine_0", "kiln_engine_1"):
        assert getattr(compiled, e).last_timings()[2]  # the last profiled run's times stay readable
    given = kiln._report.report_data(compiled, profile=True, inputs=[torch.randn(7, 16)], runs=1)
    assert "(7, 16)" in given["profile_note"]


def test_report_of_torchscript_and_fx_compiles(model, caplog):
    with caplog.at_level(logging.WARNING, logger="kiln"):
        ts = kiln.compile(model, ir="ts", inputs=[kiln.Input((4, 16))], device="cpu")
    summary = [r for r in caplog.records if "run in PyTorch" in r.getMessage()]
    assert len(summary) == 1 and summary[0].levelno == logging.WARNING  # the TorchScript path logs it too
    assert "aten::lgamma" in summary[0].getMessage()
    data = kiln._report.report_data(ts, profile=True, runs=2)
    assert [e["name"] for e in data["engines"]] == ["kiln_engine_0", "kiln_engine_1"]
    assert all(g["ms"] is not None for e in data["engines"] for g in e["groups"])
    assert any(n["op"].startswith("aten::lgamma") for n in _fallback_nodes(data))
    fx = kiln.compile(model, ir="fx", inputs=_inputs(), device="cpu")
    data = kiln._report.report_data(fx)
    assert [e["name"] for e in data["engines"]] == ["kiln_engine_0", "kiln_engine_1"]


def test_report_refuses_what_kiln_did_not_compile(model, tmp_path):
    with pytest.raises(TypeError, match="kiln.report: expected a module returned by kiln.compile"):
        kiln.report(model, tmp_path / "r.html")
    compiled = kiln.compile(model, inputs=_inputs(), device="cpu")
    with pytest.raises(ValueError, match="runs"):
        kiln.report(compiled, tmp_path / "r.html", runs=0)


def test_report_page_is_self_contained(model, tmp_path):
    compiled = kiln.compile(model, inputs=_inputs(), device="cpu")
    path = kiln.report(compiled, tmp_path / "report.html", title="Fallback </script> net")
    page = open(path, encoding="utf-8").read()
    assert path == str(tmp_path / "report.html")
    assert page.startswith("<!DOCTYPE html>") and "/*KILN_REPORT_DATA*/" not in page
    for remote in ("http://", "https://", "<link", "src="):
        assert remote not in page.replace('"http://www.w3.org/2000/svg"', ""), remote
    assert page.count("</script>") == 2  # the title's "</script>" is escaped inside the data


# ---- the page in a real browser -----------------------------------------------------------------------
def _chromium() -> str:
    for name in ("chromium-headless-shell", "chromium", "chromium-browser"):
        exe = shutil.which(name)
        if exe:
            return exe
    if os.environ.get("CI") == "true":
        pytest.fail(
            "headless Chromium is missing in CI: scripts/install_deps.sh installs chromium-headless-shell"
        )
    pytest.skip(
        "no headless Chromium here (apt-get install chromium-headless-shell, or run scripts/install_deps.sh)"
    )


def _browser(*args: str) -> str:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


class _Rendered(html.parser.HTMLParser):
    """The elements the page's script drew: engine sections, fallback rows, partition segments."""

    def __init__(self):
        super().__init__()
        self.engines, self.fallback_ops, self.segments, self.rendered = [], [], [], False
        self.kernel_rows = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if a.get("data-rendered") == "1":
            self.rendered = True
        if tag == "section" and "engine" in cls:
            self.engines.append(a.get("data-engine"))
        if tag == "tr" and "fallback" in cls:
            self.fallback_ops.append(a.get("data-op"))
        if tag == "tr" and "kernel-row" in cls:
            self.kernel_rows += 1
        if tag == "g" and "seg" in cls:
            self.segments.append(cls[1])


def _rendered(path: str) -> _Rendered:
    dom = _browser("--dump-dom", "file://" + os.path.abspath(path))
    p = _Rendered()
    p.feed(dom)
    return p


def test_report_renders_in_headless_chromium(model, tmp_path):
    compiled = kiln.compile(model, inputs=_inputs(), device="cpu")
    path = kiln.report(compiled, tmp_path / "report.html", profile=True, runs=2)
    data = kiln._report.report_data(compiled)
    shown = _rendered(path)
    assert shown.rendered
    assert shown.engines == ["kiln_engine_0", "kiln_engine_1"]  # every engine
    assert sorted(shown.fallback_ops) == sorted(n["op"] for n in _fallback_nodes(data))  # every fallback op
    assert "aten::lgamma" in shown.fallback_ops
    assert shown.segments == [f"seg-{s['kind']}" for s in data["segments"]]
    assert shown.kernel_rows == sum(len(e["groups"]) for e in data["engines"])
    png = tmp_path / "report.png"
    _browser("--window-size=1200,900", f"--screenshot={png}", "file://" + path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def _kilnc() -> str:
    build = os.environ.get("KILN_BUILD_DIR")
    exe = os.path.join(build, "tools", "kilnc", "kilnc") if build else shutil.which("kilnc")
    if not exe or not os.path.exists(exe):
        pytest.skip("kilnc is not built here (KILN_BUILD_DIR/tools/kilnc/kilnc or kilnc on PATH)")
    return exe


def test_kilnc_report_renders_in_headless_chromium(model, tmp_path):
    exe = _kilnc()
    ts_file, out, page = tmp_path / "m.ts", tmp_path / "m_kiln.ts", tmp_path / "kilnc.html"
    torch.jit.save(torch.jit.script(model), str(ts_file))
    r = subprocess.run(
        [exe, "-d", "cpu", "-i", "4x16", "--report", str(page), str(ts_file), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "run in PyTorch" in r.stderr and "aten::lgamma" in r.stderr  # the fallback summary
    shown = _rendered(str(page))
    assert shown.rendered and shown.engines == ["kiln_engine_0", "kiln_engine_1"]
    assert "aten::lgamma" in shown.fallback_ops
    bad = subprocess.run(
        [exe, "--plan", "--report", str(page), "-i", "4x16", str(ts_file), str(out)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "--report" in bad.stderr
