"""kilnc as torchtrtc users call it: torchtrtc's input-spec grammar (positional or -i) and long flag names,
on a small TorchScript module compiled for the CPU backend and checked against eager."""

import os
import subprocess

import pytest
import torch

import kiln  # noqa: F401 - registers the engine op that torch.jit.load of the result needs
from conftest import cosine, rel_err
from kiln import _commands

KILNC = _commands.executable("kilnc")
pytestmark = pytest.mark.skipif(not os.access(KILNC, os.X_OK), reason=f"no kilnc at {KILNC}")


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def _kilnc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([KILNC, *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def model_ts(tmp_path_factory):
    torch.manual_seed(0)
    model = Small().eval()
    path = tmp_path_factory.mktemp("kilnc") / "small.ts"
    torch.jit.save(torch.jit.script(model), str(path))
    return model, path


def test_torchtrtc_positional_range_and_long_flags(model_ts, tmp_path):
    model, path = model_ts
    out = tmp_path / "small_kiln.ts"
    r = _kilnc(
        str(path),
        str(out),
        "[(1,3,16,16);(2,3,16,16);(4,3,16,16)]@f32%contiguous",
        "--device-type=gpu",
        "-d",
        "cpu",  # torchtrtc's name, then the CPU backend (CI has no GPU) "--enabled-precision=f32", "--mbs=1",
        "--require-full-compilation",
        "--workspace-size=1048576",
        "--sparse-weights",
        "--dla-core=0",
    )
    assert r.returncode == 0, r.stderr
    assert "--sparse-weights has no effect" in r.stderr  # a one-line warning names the no-op flag
    assert "--dla-core" not in r.stderr  # its default value asks for nothing
    compiled = torch.jit.load(str(out))
    with torch.no_grad():
        for b in (1, 3, 4):
            x = torch.randn(b, 3, 16, 16)
            got, want = compiled(x), model(x)
            assert cosine(got, want) > 0.99999 and rel_err(got, want) < 1e-4


def test_torchtrtc_static_spec_with_i_and_channel_last(model_ts):
    _, path = model_ts
    r = _kilnc(str(path), "--check-support", "-d", "cpu", "-i", "(1,3,16,16)@f32%channel_last")
    assert r.returncode == 0, r.stderr
    assert "aten::" in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["(1,3,x,16)"], "bad input spec '(1,3,x,16)': 'x' is not a dimension"),
        (["[(1,3,16,16);(2,3,16,16)]"], "a range needs three shapes"),
        (["(1,3,16,16)@f65"], "unknown dtype 'f65'"),
        (
            ["(1,3,16,16)", "--truncate-long-double"],
            "--truncate-long-double is not supported: Kiln computes int64",
        ),
        (["(1,3,16,16)", "--calibration-cache-file=c.cache"], "kiln.ptq"),
        (["(1,3,16,16)", "--device-type=dla"], "Kiln has no DLA backend"),
        (["(1,3,16,16)", "--enabled-precision=int8"], "needs calibration"),
        (["(1,3,16,16)", "--engine-capability=safety"], "standard engines only"),
        (["(1,3,16,16)", "--require-full-compilation=yes"], "--require-full-compilation takes no value"),
    ],
)
def test_bad_arguments_say_what_is_wrong(model_ts, args, message):
    _, path = model_ts
    r = _kilnc(str(path), "--check-support", "-d", "cpu", *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr, r.stderr
