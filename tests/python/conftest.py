"""Shared setup for the Python package tests (CPU backend).

Uses the installed `kiln`, or with KILN_BUILD_DIR=<cmake build dir> (configured with
-DKILN_BUILD_PYTHON=ON) the in-tree package in python/ with that build's libraries.
"""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if os.environ.get("KILN_BUILD_DIR"):
    sys.path.insert(0, os.path.join(REPO, "python"))

import kiln  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

requires_cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and "cuda" in kiln.available_backends()),
    reason="needs a GPU and a Kiln build with the CUDA backend (CI has neither)",
)


requires_fake_kernel = pytest.mark.skipif(
    kiln._fake.FAKE_KERNEL_ERROR is not None,
    reason="re-tracing compiled modules (torch.export, torch.compile) needs kiln::execute_engine registered for "
    "CompositeExplicitAutograd in libkiln_runtime; this build registers a catch-all kernel",
)


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out.float() - ref.float()).abs().max() / ref.float().abs().max().clamp_min(1e-12)).item()


def cosine(out: torch.Tensor, ref: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(out.float().flatten(), ref.float().flatten(), dim=0).item()


def run_python(code: str, timeout: int = 600) -> str:
    """Runs `code` in a fresh interpreter (same kiln as this process); returns stdout, fails on error."""
    env = dict(os.environ)
    if os.environ.get("KILN_BUILD_DIR"):
        env["PYTHONPATH"] = os.path.join(REPO, "python") + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if r.returncode != 0:
        raise AssertionError(f"subprocess failed ({r.returncode}):\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r.stdout


class Fn(torch.nn.Module):
    """A module whose forward is `fn` (single-op and few-op test modules)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def assert_runs_match(module, compiled, input_sets, atol=1e-5, rtol=1e-4):
    """Runs eager `module` and `compiled` on each tuple of `input_sets`: same output count, shapes and
    dtypes; floating outputs close (NaN where eager has NaN), others equal."""
    for xs in input_sets:
        with torch.no_grad():
            ref, out = module(*xs), compiled(*xs)
        ref = ref if isinstance(ref, (tuple, list)) else (ref,)
        out = out if isinstance(out, (tuple, list)) else (out,)
        assert len(out) == len(ref)
        for o, r in zip(out, ref):
            assert o.shape == r.shape and o.dtype == r.dtype, (o.shape, r.shape, o.dtype, r.dtype)
            if r.dtype.is_floating_point:
                torch.testing.assert_close(o, r, atol=atol, rtol=rtol, equal_nan=True)
            else:
                assert torch.equal(o, r)


def dyn(t, dims):
    """kiln.Input for t with `dims` dynamic over [max(1, s // 2), 2 * s]."""
    lo = [max(1, s // 2) if d in dims else s for d, s in enumerate(t.shape)]
    hi = [2 * s if d in dims else s for d, s in enumerate(t.shape)]
    return kiln.Input(min_shape=lo, opt_shape=tuple(t.shape), max_shape=hi, dtype=t.dtype)


class ConvNet(torch.nn.Module):
    """conv-bn-relu-pool-linear: everything converts."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1, stride=2)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        y = torch.relu(self.conv2(y))
        y = torch.nn.functional.adaptive_avg_pool2d(y, 1).flatten(1)
        return self.fc(y)


class MLP(torch.nn.Module):
    def __init__(self, d=16, h=32, o=4):
        super().__init__()
        self.l1 = torch.nn.Linear(d, h)
        self.l2 = torch.nn.Linear(h, h)
        self.l3 = torch.nn.Linear(h, o)

    def forward(self, x):
        return self.l3(torch.relu(self.l2(torch.relu(self.l1(x)))))


@pytest.fixture
def convnet():
    torch.manual_seed(0)
    m = ConvNet().eval()
    with torch.no_grad():  # non-trivial BN statistics
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 1.5)
    return m


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return MLP().eval()


def alter_args_into_kiln(monkeypatch, op: str, module_path: str, edit) -> None:
    """The `op` node (e.g. "aten::convolution") of the module at `module_path` reaches Kiln's converters with
    its normalized arguments changed in place by `edit(args)`; eager still runs the untouched graph."""
    from kiln.dynamo import _graph
    from kiln.dynamo._where import module_of

    real_overload, real_normalize = _graph.ImportedGraph._overload, _graph.normalize_args
    current = []

    def overload(self, node):
        current.append(node)
        try:
            real_overload(self, node)
        finally:
            current.pop()

    def normalize(schema, args, kwargs):
        out = real_normalize(schema, args, kwargs)
        if schema.name == op and current and module_of(current[-1])[0] == module_path:
            edit(out)
        return out

    monkeypatch.setattr(_graph.ImportedGraph, "_overload", overload)
    monkeypatch.setattr(_graph, "normalize_args", normalize)
