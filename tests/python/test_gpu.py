"""CUDA backend through the Python package. Skipped without a GPU (CI has none): run on a GPU machine."""

import pytest
import torch

import kiln
from conftest import rel_err, requires_cuda


@requires_cuda
def test_cuda_compile_matches_eager(convnet):
    model = convnet.cuda()
    inp = kiln.Input(min_shape=(1, 3, 16, 16), opt_shape=(4, 3, 16, 16), max_shape=(8, 3, 16, 16))
    m = kiln.compile(model, inputs=[inp])  # device defaults to cuda here
    eng = next(v for k, v in vars(m).items() if k.startswith("kiln_engine"))
    assert eng.backend() == "cuda"
    with torch.no_grad():
        for b in (1, 8):
            x = torch.randn(b, 3, 16, 16, device="cuda")
            assert rel_err(m(x), model(x)) < 1e-3


@requires_cuda
def test_cuda_fp16_precision(convnet):
    model = convnet.cuda()
    x = torch.randn(4, 3, 16, 16, device="cuda")
    m = kiln.compile(model, inputs=[x], enabled_precisions={torch.float16})
    with torch.no_grad():
        assert rel_err(m(x), model(x)) < 2e-2


@requires_cuda
def test_cuda_graphs_off_is_refused(convnet):
    with pytest.raises(ValueError, match="use_cuda_graphs"):
        kiln.compile(convnet.cuda(), inputs=[torch.randn(1, 3, 16, 16, device="cuda")], use_cuda_graphs=False)


@requires_cuda
def test_cuda_graphs_mode_off_lets_the_caller_capture(convnet):
    """set_cudagraphs_mode(False): engines launch kernels one by one, so the whole compiled module can be
    captured in the caller's own torch.cuda.graph (a nested capture of Kiln's own graph would fail)."""
    model = convnet.cuda().eval()
    x = torch.randn(2, 3, 16, 16, device="cuda")
    m = kiln.compile(model, inputs=[x])
    kiln.runtime.set_cudagraphs_mode(False)
    try:
        with torch.no_grad():
            m(x)  # warm-up outside the capture (workspace, execution context)
            torch.cuda.synchronize()
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                y = m(x)
            for _ in range(2):
                x.copy_(torch.randn_like(x))
                g.replay()
                torch.cuda.synchronize()
                assert rel_err(y, model(x)) < 1e-3
    finally:
        kiln.runtime.set_cudagraphs_mode(True)
    with torch.no_grad():  # replay on again: same results
        assert rel_err(m(x), model(x)) < 1e-3


@requires_cuda
def test_cuda_torchscript_and_torch_compile(convnet):
    model = convnet.cuda()
    x = torch.randn(2, 3, 16, 16, device="cuda")
    ts = kiln.compile(model, ir="ts", inputs=[x])
    tc = torch.compile(model, backend="kiln")
    with torch.no_grad():
        ref = model(x)
        assert rel_err(ts(x), ref) < 1e-3
        assert rel_err(tc(x), ref) < 1e-3


@requires_cuda
def test_cuda_kernel_cache_dir(tmp_path):
    """Generated pointwise kernels are compiled once: the cubins land in kernel_cache_dir."""

    class Chain(torch.nn.Module):
        def forward(self, x, r):
            return torch.tanh(torch.nn.functional.silu(x) * 0.5 + r)

    x, r = torch.randn(4, 64, device="cuda"), torch.randn(4, 64, device="cuda")
    m = kiln.compile(Chain(), inputs=[x, r], kernel_cache_dir=str(tmp_path), min_block_size=1)
    with torch.no_grad():
        assert rel_err(m(x, r), Chain()(x, r)) < 1e-4
    assert list(tmp_path.glob("nvrtc/*.cubin")), "no cubin in the kernel cache"


@requires_cuda
@pytest.mark.parametrize(
    "fn, n_in",
    [
        (torch.asinh, 1),
        (torch.acosh, 1),
        (torch.atanh, 1),
        (torch.log10, 1),
        (torch.trunc, 1),
        (torch.atan2, 2),
        (lambda t: torch.sort(t, dim=1, descending=True), 1),
        (lambda t: torch.diagonal(t, 1), 1),
        (lambda a, b: torch.cdist(a, b), 2),
        (lambda t: t.repeat(2, 1, 2, 1, 2), 1),
        (lambda t, i, j: t[i, j], 3),
    ],
)
def test_cuda_composed_core_aten_ops(fn, n_in):
    """The compositions of tests/python/test_core_aten_gaps.py on the CUDA backend, dynamic batch."""

    class M(torch.nn.Module):
        def forward(self, *xs):
            return fn(*xs)

    x = torch.rand(4, 6, device="cuda") * 3 + 1.1
    args = [x, torch.randn(4, 6, device="cuda")][:n_in]
    specs = [kiln.Input(min_shape=(2, 6), opt_shape=(4, 6), max_shape=(8, 6))] * min(n_in, 2)
    if n_in == 3:
        idx = torch.tensor([0, 3, -1], device="cuda")
        args, specs = (
            [x, idx, idx],
            [specs[0], kiln.Input(shape=(3,), dtype=torch.int64)] * 1
            + [kiln.Input(shape=(3,), dtype=torch.int64)],
        )
    m = kiln.compile(M(), inputs=specs, require_full_compilation=True, min_block_size=1)
    with torch.no_grad():
        for b in (4, 7):
            xs = [torch.rand(b, 6, device="cuda") * 3 + 1.1, torch.randn(b, 6, device="cuda")][: min(n_in, 2)]
            if n_in == 3:
                xs = [xs[0], args[1], args[2]]
            out, ref = m(*xs), M()(*xs)
            out = out if isinstance(out, tuple) else (out,)
            ref = ref if isinstance(ref, tuple) else (ref,)
            for o, r in zip(out, ref):
                torch.testing.assert_close(o, r, atol=1e-4, rtol=1e-4, equal_nan=True)


@requires_cuda
def test_cuda_report_profiles_every_kernel(convnet, tmp_path):
    """kiln.report on the CUDA backend: cuda kernels with their tactics, fp16 layers, and profiled times (the
    profiled runs synchronize after each kernel instead of replaying the CUDA graph); afterwards the module
    runs and matches eager again."""
    model = convnet.cuda()
    inp = kiln.Input(min_shape=(1, 3, 16, 16), opt_shape=(4, 3, 16, 16), max_shape=(8, 3, 16, 16))
    m = kiln.compile(model, inputs=[inp], enabled_precisions={torch.float16})
    data = kiln._report.report_data(m, profile=True, runs=3)
    assert data["backend"] == "cuda" and data["profiled"]
    groups = [g for e in data["engines"] for g in e["groups"]]
    assert groups and all(g["kernel"].startswith("cuda.") for g in groups)
    assert all(isinstance(g["ms"], float) and g["ms"] > 0 for g in groups)
    assert any(ly["precision"] == "f16" for g in groups for ly in g["layers"])
    assert kiln.report(m, tmp_path / "r.html", profile=True).endswith("r.html")
    x = torch.randn(8, 3, 16, 16, device="cuda")
    with torch.no_grad():
        assert rel_err(m(x), model(x)) < 2e-2
