"""What an engine cannot be built for is refused at partition time (issue 16): with
require_full_compilation the compile fails naming the op and the reason, without it the op falls back to
PyTorch and the module matches eager, at the compile-time values and at new ones. Cases: sizes and slice
bounds read from tensor data (tensor_split by a tensor of indices, a view whose size is an item(), an
arange up to an item()), and tensors above Kiln's rank limit of 8."""

import pytest
import torch

import kiln
from conftest import Fn, assert_runs_match

FULL = dict(device="cpu", require_full_compilation=True, min_block_size=1)
FALLBACK = dict(device="cpu", min_block_size=1)


def refused_then_falls_back(fn, inputs, match, others=()):
    """fn is refused under full compilation (message matches `match`); a fallback compile holds an engine
    and matches eager on `inputs` and on each tuple of `others`."""
    m = Fn(fn).eval()
    with pytest.raises(kiln.UnsupportedOperatorError, match=match):
        kiln.compile(m, inputs=list(inputs), **FULL)
    c = kiln.compile(m, inputs=list(inputs), **FALLBACK)
    rep = c.meta["kiln"]["report"]
    assert rep.num_engines >= 1 and not rep.fully_supported, rep
    assert_runs_match(m, c, [inputs, *others], atol=1e-5, rtol=1.3e-6)
    return rep


def test_tensor_split_by_a_tensor_of_indices():
    # torch.export reads the indices with item(): the slices' bounds are data, known only at run time.
    x = torch.randn(5, 7, 3)
    idx = torch.tensor([1, 3, 4])
    rep = refused_then_falls_back(
        lambda t, i: [s * 2 for s in torch.tensor_split(t, i, dim=1)],
        [x, idx],
        "aten::slice.Tensor.*read from tensor data",
        others=[
            (torch.randn(5, 7, 3), torch.tensor([0, 2, 6])),
            (torch.randn(5, 7, 3), torch.tensor([2, 2, 5])),
        ],
    )
    assert "aten::slice.Tensor" in rep.fallback_ops, rep.fallback_ops


def test_view_to_a_size_read_from_data():
    def f(x, n):
        k = n.item()
        torch._check(k >= 1)
        torch._check(24 % k == 0)
        return (x + 1).view(k, -1) * 3

    refused_then_falls_back(
        f,
        [torch.randn(4, 6), torch.tensor(3)],
        "read from tensor data",
        others=[(torch.randn(4, 6), torch.tensor(8)), (torch.randn(4, 6), torch.tensor(2))],
    )


def test_arange_up_to_an_item():
    def f(x, n):
        k = n.item()
        torch._check(k >= 0)
        return torch.arange(k, dtype=torch.float32) * x.sum()

    refused_then_falls_back(
        f,
        [torch.randn(3), torch.tensor(5)],
        "aten::arange.*read from tensor data",
        others=[(torch.randn(3), torch.tensor(9))],
    )


def test_sizes_from_shapes_still_compile_fully():
    # The walk back from a size stops at shape reads: x.shape-derived sizes are not data.
    spec = kiln.Input(min_shape=(2, 6), opt_shape=(4, 6), max_shape=(8, 6))
    m = Fn(lambda t: t.view(t.shape[0] * 2, -1)[: t.shape[0] // 2] + 1).eval()
    c = kiln.compile(m, inputs=[spec], **FULL)
    for b in (2, 4, 8):
        y = torch.randn(b, 6)
        torch.testing.assert_close(c(y), m(y))


def test_rank_above_8_refused():
    x = torch.randn(2, 1, 2, 1, 2, 1, 2, 3)  # rank 8: fine; its unsqueeze is rank 9
    refused_then_falls_back(
        lambda t: (t * 2).unsqueeze(0).sum(-1) + 1,
        [x],
        "rank 9 .*limit is 8",
        others=[(torch.randn(2, 1, 2, 1, 2, 1, 2, 3),)],
    )


def test_adaptive_pooling_to_a_dynamic_output_size():
    # output_size follows the input's dynamic width: the layer's output size is a constant, so refused.
    def f(x):
        return torch.nn.functional.adaptive_avg_pool2d(x * 2, (3, x.shape[-1])) + 1

    spec = kiln.Input(min_shape=(2, 3, 6, 3), opt_shape=(2, 3, 6, 5), max_shape=(2, 3, 6, 8))
    m = Fn(f).eval()
    with pytest.raises(kiln.UnsupportedOperatorError, match="adaptive pooling to an output size known only"):
        kiln.compile(m, inputs=[spec], **FULL)
    c = kiln.compile(m, inputs=[spec], **FALLBACK)
    for w in (3, 5, 8):
        y = torch.randn(2, 3, 6, w)
        torch.testing.assert_close(c(y), m(y))


def test_instance_norm_with_a_dynamic_channel_count():
    # torch.export decomposes instance_norm (batch statistics over a reshape), so the FX path compiles it
    # fully; the partition-time check on aten::instance_norm serves the TorchScript frontend.
    m = Fn(lambda t: torch.nn.functional.instance_norm(t * 2) + 1).eval()
    spec = kiln.Input(min_shape=(2, 2, 5), opt_shape=(2, 4, 5), max_shape=(2, 8, 5))
    c = kiln.compile(m, inputs=[spec], **FULL)
    for ch in (2, 4, 8):
        y = torch.randn(2, ch, 5)
        torch.testing.assert_close(c(y), m(y), rtol=1e-4, atol=1e-5)


def _support_report(fn, inputs, backend):
    """The partitioner's report for `backend` (no engine is built, so "cuda" works without a GPU)."""
    from kiln._native import C
    from kiln._settings import make_settings
    from kiln.dynamo._compiler import import_graph, lower_exported

    gm = lower_exported(torch.export.export(Fn(fn).eval(), tuple(inputs)))
    imp, _ = import_graph(gm, tuple(inputs), {}, tuple(inputs), {}, torch.device("cpu"))
    opts = make_settings(min_block_size=1).partition_options()
    opts["backend"] = backend
    return C.partition(imp.og, False, opts)["report"]


def test_grid_sample_is_left_to_pytorch_when_the_cuda_backend_cannot_build_it():
    """The CUDA backend refuses grid_sample at build time (kernel not yet run on a GPU): the partitioner
    refuses it for cuda too, so it falls back instead of failing the build; the CPU backend takes it."""

    def fn(x, g):
        return torch.nn.functional.grid_sample(x * 2, g, align_corners=False) + 1

    x, g = torch.randn(1, 2, 5, 5), torch.rand(1, 3, 3, 2) * 2 - 1
    cuda = _support_report(fn, [x, g], "cuda")
    assert "aten::grid_sampler_2d: 1 in PyTorch (grid_sample is not enabled on the cuda backend" in cuda, cuda
    assert "aten::mul.Tensor: 1 in Kiln" in cuda and "aten::add.Tensor: 1 in Kiln" in cuda, cuda
    assert "aten::grid_sampler_2d: 1 in Kiln" in _support_report(fn, [x, g], "cpu")
