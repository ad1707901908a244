"""Core ATen ops the OpInfo conformance harness (bench/conformance.py) found missing or refused (issue 16),
each against eager PyTorch with fresh random inputs, static and with dynamic dims."""

import pytest
import torch

import kiln
from conftest import Fn, assert_runs_match, dyn

FULL = dict(device="cpu", require_full_compilation=True, min_block_size=1)


def check(fn, inputs, specs=None, others=(), atol=1e-5, rtol=1e-4):
    """Compiles fn over `inputs` (or `specs`), runs it at the inputs and at each tuple in `others`."""
    m = Fn(fn).eval()
    c = kiln.compile(m, inputs=list(specs or inputs), **FULL)
    assert_runs_match(m, c, [inputs, *others], atol=atol, rtol=rtol)
    return c


def wide(*shape, lo=-4.0, hi=4.0):
    return torch.empty(*shape).uniform_(lo, hi)


@pytest.mark.parametrize(
    "name, fn, make",
    [
        ("asinh", torch.asinh, lambda *s: wide(*s, lo=-50, hi=50)),
        ("acosh", torch.acosh, lambda *s: wide(*s, lo=0.5, hi=50)),  # NaN below 1
        ("atanh", torch.atanh, lambda *s: wide(*s, lo=-1.2, hi=1.2)),
        ("log10", torch.log10, lambda *s: wide(*s, lo=-1, hi=1000)),
        ("trunc", torch.trunc, lambda *s: wide(*s, lo=-10, hi=10)),
    ],
)
def test_unary_compositions(name, fn, make):
    x = make(3, 7)
    check(fn, [x], [dyn(x, {0, 1})], others=[(make(2, 5),), (make(6, 14),)])


def test_unary_edge_values():
    x = torch.tensor([0.0, -0.0, 1e-8, -1e-8, 1e20, -1e20, 0.999, -0.999, 1.0, float("nan")])
    for fn in (torch.asinh, torch.atanh, torch.log10, torch.trunc):
        check(fn, [x])
    check(torch.acosh, [torch.tensor([1.0, 1.0 + 1e-6, 2.0, 1e20, 0.5, float("inf")])])


def test_trunc_of_ints_is_identity():
    x = torch.randint(-5, 5, (4, 3))
    check(torch.trunc, [x], [dyn(x, {0})], others=[(torch.randint(-5, 5, (7, 3)),)])


def test_atan2_all_quadrants_and_zeros():
    y = torch.tensor([1.0, 1.0, -1.0, -1.0, 0.0, 0.0, 2.0, -2.0, 0.0])
    x = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 0.0, 0.0, 0.0])
    check(torch.atan2, [y, x])
    a, b = torch.randn(4, 6), torch.randn(6)
    check(torch.atan2, [a, b], [dyn(a, {0}), kiln.Input(shape=(6,))], others=[(torch.randn(8, 6), b)])


def test_bitwise_xor_and_scalar_variants_on_bools():
    a, b = torch.rand(5, 4) > 0.5, torch.rand(5, 4) > 0.5
    check(torch.bitwise_xor, [a, b], [dyn(a, {0}), dyn(b, {0})], others=[(a[:3], b[:3])])
    check(lambda x: torch.bitwise_and(x, True), [a])
    check(lambda x: torch.bitwise_or(x, False), [a])
    check(lambda x: torch.bitwise_xor(x, True), [a])


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.int8, torch.uint8])
def test_integer_bitwise_ops(dtype):
    lo, hi = (0, 255) if dtype == torch.uint8 else (-100, 100)

    def ints(*shape):
        return torch.randint(lo, hi, shape, dtype=dtype)

    a, b = ints(5, 4), ints(5, 4)
    for fn in (torch.bitwise_and, torch.bitwise_or, torch.bitwise_xor):
        check(fn, [a, b], [dyn(a, {0}), dyn(b, {0})], others=[(ints(3, 4), ints(3, 4))])
        check(lambda x, f=fn: f(x, 6), [a], [dyn(a, {0, 1})], others=[(ints(7, 2),)])
        check(lambda x, y, f=fn: f(x, y), [a, ints(4)])  # broadcast
    check(torch.bitwise_not, [a], [dyn(a, {0, 1})], others=[(ints(8, 3),)])
    check(lambda x: ~x & 7 | (x ^ -3 if dtype != torch.uint8 else x), [a])


def test_bitwise_ops_promote_bool_with_ints():
    a, b = torch.rand(4, 3) > 0.5, torch.randint(-9, 9, (4, 3))
    check(torch.bitwise_and, [a, b])
    check(lambda x: torch.bitwise_or(x, 6), [a])
    check(torch.bitwise_not, [a])


@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort(descending):
    x = torch.randn(4, 9)
    check(
        lambda t: torch.sort(t, dim=1, descending=descending),
        [x],
        [dyn(x, {0})],
        others=[(torch.randn(7, 9),)],
    )
    check(lambda t: torch.argsort(t, dim=0, descending=descending), [x])
    check(lambda t: torch.sort(t, stable=True), [x])


def test_bool_mul_is_logical_and():
    a, b = torch.rand(4, 3) > 0.5, torch.rand(4, 3) > 0.3
    check(lambda x, y: x * y, [a, b], [dyn(a, {0}), dyn(b, {0})], others=[(a[:2], b[:2])])


def test_prod_of_all_elements_and_scaled_elu():
    x = torch.rand(3, 4) + 0.5
    check(torch.prod, [x], [dyn(x, {0, 1})], others=[(torch.rand(2, 5) + 0.5,)])
    check(torch.nn.functional.selu, [torch.randn(3, 4)])
    check(
        lambda t: torch.ops.aten.elu(t, 0.7, 1.5, 0.5),
        [torch.randn(5, 2)],
        [kiln.Input(min_shape=(1, 2), opt_shape=(5, 2), max_shape=(9, 2))],
        others=[(torch.randn(8, 2),)],
    )


def test_split_outputs_returned_to_pytorch():
    x = torch.randn(7, 4)
    check(lambda t: torch.chunk(t, 3, dim=0), [x])
    check(lambda t: torch.split(t, [2, 2], dim=1), [x], [dyn(x, {0})], others=[(torch.randn(3, 4),)])
    check(lambda t: torch.unbind(t * 2, 1), [x])


@pytest.mark.parametrize("descending", [False, True])
def test_sort_along_dynamic_dim(descending):
    x = torch.randn(4, 9)
    others = [(torch.randn(4, 5),), (torch.randn(4, 17),)]
    check(lambda t: torch.sort(t, dim=1, descending=descending), [x], [dyn(x, {1})], others=others)
    check(lambda t: torch.argsort(t, dim=-1, descending=descending), [x], [dyn(x, {0, 1})], others=others)
    xi = torch.randint(-50, 50, (6, 3))
    check(lambda t: torch.sort(t, dim=0, stable=True), [xi], [dyn(xi, {0})], others=[(xi[:4],)])


@pytest.mark.parametrize("offset, d1, d2", [(0, 0, 1), (1, 0, 1), (-2, 1, 0), (2, -1, -3), (9, 0, 1)])
def test_diagonal(offset, d1, d2):
    x = torch.randn(3, 5, 4)
    check(lambda t: torch.diagonal(t, offset, d1, d2) * 2, [x])
    others = [(torch.randn(3, 8, 4),), (torch.randn(6, 2, 7),), (torch.randn(2, 3, 2),)]
    check(lambda t: torch.diagonal(t, offset, d1, d2), [x], [dyn(x, {0, 1, 2})], others=others)


@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, 3.0, float("inf")])
def test_cdist(p):
    a, b = torch.randn(2, 5, 3), torch.randn(2, 4, 3)
    check(lambda x, y: torch.cdist(x, y, p=p), [a, b], atol=1e-4)
    check(
        lambda x, y: torch.cdist(x, y, p=p),
        [a, b],
        [dyn(a, {1}), dyn(b, {1})],
        others=[(torch.randn(2, 7, 3), torch.randn(2, 3, 3))],
        atol=1e-4,
    )


@pytest.mark.parametrize("p", [1.0, 2.0, float("inf")])
def test_pdist(p):
    x = torch.randn(6, 3)
    check(
        lambda t: torch.nn.functional.pdist(t, p=p),
        [x],
        [dyn(x, {1})],
        others=[(torch.randn(6, 5),)],
        atol=1e-4,
    )


def test_pdist_dynamic_rows_refused():
    x = torch.randn(6, 3)
    with pytest.raises(kiln.UnsupportedOperatorError, match="pdist along a dynamic dim"):
        kiln.compile(Fn(torch.nn.functional.pdist), inputs=[dyn(x, {0})], **FULL)


def test_batch_norm_with_batch_statistics():
    x, w, b = torch.randn(4, 3, 5, 5), torch.randn(3), torch.randn(3)
    f = lambda t, w, b: torch.nn.functional.batch_norm(t, None, None, w, b, training=True, eps=1e-3)  # noqa: E731
    check(f, [x, w, b], atol=1e-4)
    check(
        f,
        [x, w, b],
        [dyn(x, {0, 2, 3}), kiln.Input(shape=(3,)), kiln.Input(shape=(3,))],
        others=[(torch.randn(2, 3, 7, 6), w, b)],
        atol=1e-4,
    )


def test_native_dropout_in_eval_is_identity_and_training_refused():
    x = torch.randn(3, 4)
    check(
        lambda t: torch.ops.aten.native_dropout(t, 0.5, False),
        [x],
        [dyn(x, {0})],
        others=[(torch.randn(5, 4),)],
    )
    with pytest.raises(kiln.UnsupportedOperatorError, match="dropout in training mode"):
        kiln.compile(Fn(lambda t: torch.nn.functional.dropout(t, 0.5, training=True)), inputs=[x], **FULL)


def test_scalar_tensor():
    x = torch.randn(3)
    check(lambda t: t + torch.scalar_tensor(2.5), [x], [dyn(x, {0})], others=[(torch.randn(5),)])
    check(lambda t: t * torch.scalar_tensor(3), [x])  # float32 like torch, though 3 is an int
    check(lambda t: torch.scalar_tensor(t.shape[0]) + t, [x], [dyn(x, {0})], others=[(torch.randn(5),)])


@pytest.mark.parametrize(
    "reps", [(2, 3), (2, 1, 3), (1, 2, 2, 2, 2), (2, 1, 1, 1, 1, 2), (1, 1, 1, 1, 1, 2, 2)]
)
def test_repeat_and_tile_static_dynamic_and_high_rank(reps):
    x = torch.randn(3, 4)
    check(
        lambda t: t.repeat(*reps), [x], [dyn(x, {0, 1})], others=[(torch.randn(2, 5),), (torch.randn(6, 8),)]
    )
    check(lambda t: torch.tile(t, reps), [x], [dyn(x, {0})], others=[(torch.randn(5, 4),)])


def test_repeat_to_rank_8_refused_at_partition_time_and_falls_back():
    x = torch.randn(3, 4)
    f = lambda t: (t * 2).repeat(1, 1, 1, 1, 1, 1, 2, 2) + 1  # noqa: E731
    with pytest.raises(kiln.UnsupportedOperatorError, match="rank limit is 8"):
        kiln.compile(Fn(f), inputs=[x], **FULL)
    c = kiln.compile(Fn(f), inputs=[x], device="cpu", min_block_size=1)  # the repeat runs in PyTorch
    torch.testing.assert_close(c(x), f(x))


def test_cat_skips_legacy_empty_1d():
    a, b = torch.randn(3, 4), torch.randn(2, 4)
    check(lambda x, y: torch.cat([x, torch.empty(0), y]), [a, b])


def test_dynamic_dims_of_equal_range_stay_independent():
    """Issue 16 item 4: dims are keyed by input and position, not by (min, max) range alone."""
    spec = kiln.Input(min_shape=(1, 1), opt_shape=(2, 3), max_shape=(4, 4))
    c = kiln.compile(Fn(lambda x, y: x + y), inputs=[spec, spec], device="cpu")
    for shape in [(2, 3), (4, 1), (1, 4)]:
        a, b = torch.randn(shape), torch.randn(shape)
        torch.testing.assert_close(c(a, b), a + b)


def test_grouped_conv_with_dynamic_channels_related_by_export():
    x, w = torch.randn(2, 4, 8, 8), torch.randn(2, 2, 3, 3)
    f = lambda t, k: torch.nn.functional.conv2d(t, k, groups=2)  # noqa: E731
    check(
        f,
        [x, w],
        [dyn(x, {0, 2, 3}), kiln.Input(shape=(2, 2, 3, 3))],
        others=[(torch.randn(1, 4, 6, 9), w)],
        atol=1e-4,
    )


def test_index_tensor_several_dynamic_dims():
    x = torch.randn(5, 6, 3)
    i, j = torch.tensor([0, 4, -1, 2]), torch.tensor([1, 5, 0, -2])
    f = lambda t, a, b: t[a, b]  # noqa: E731
    check(
        f,
        [x, i, j],
        [dyn(x, {0, 1, 2}), kiln.Input(shape=(4,), dtype=torch.int64)] * 1
        + [kiln.Input(shape=(4,), dtype=torch.int64)],
        others=[(torch.randn(7, 8, 2), i, j)],
    )


def test_index_tensor_non_adjacent_indices():
    x = torch.randn(4, 5, 6)
    i, j = torch.tensor([[0, 3], [1, 2]]), torch.tensor([5, -1])
    f = lambda t, a, b: t[a, :, b]  # noqa: E731
    check(f, [x, i, j])
    check(
        f,
        [x, i, j],
        [dyn(x, {1}), kiln.Input(shape=(2, 2), dtype=torch.int64), kiln.Input(shape=(2,), dtype=torch.int64)],
        others=[(torch.randn(4, 9, 6), i, j)],
    )


@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_several_index_tensors(accumulate):
    x, v = torch.randn(5, 6, 3), torch.randn(4, 3)
    i, j = torch.tensor([0, 4, -1, 2]), torch.tensor([1, 5, 0, 3])
    f = lambda t, a, b, w: torch.index_put(t, (a, b), w, accumulate=accumulate)  # noqa: E731
    check(f, [x, i, j, v])
    idx = kiln.Input(shape=(4,), dtype=torch.int64)
    check(
        f,
        [x, i, j, v],
        [dyn(x, {0, 1, 2}), idx, idx, dyn(v, {1})],
        others=[(torch.randn(7, 8, 2), i, j, torch.randn(4, 2))],
    )
    # duplicates add up with accumulate=True
    d = torch.tensor([1, 1, 1, 1])
    if accumulate:
        check(f, [x, d, d, v])

    # non-adjacent index tensors (a broadcast 2-D index among them): x[a, :, b] = w / += w
    def g(t, a, b, w):
        t = t.clone()
        if accumulate:
            t[a, :, b] += w
        else:
            t[a, :, b] = w
        return t

    x3, a2, b1 = torch.randn(4, 3, 5), torch.tensor([[0], [2]]), torch.tensor([1, 3, 4])
    check(g, [x3, a2, b1, torch.randn(2, 3, 3)])
    check(g, [x3, a2, b1, torch.randn(3)])


def test_prims_sum_div():
    # (prims.broadcast_in_dim has a converter too, but torch.export cannot functionalize it in a user module)
    x, y = torch.randn(3, 4), torch.randn(3, 4) + 3
    check(lambda t: torch.ops.prims.sum(t, [1]), [x], [dyn(x, {0, 1})], others=[(torch.randn(5, 7),)])
    check(lambda a, b: torch.ops.prims.div(a, b), [x, y], [dyn(x, {0}), dyn(y, {0})], others=[(x[:2], y[:2])])
    i, j = torch.randint(-9, 9, (5,)), torch.randint(1, 4, (5,))
    check(lambda a, b: torch.ops.prims.div(a, b), [i, j])


def test_module_without_inputs_compiles_with_empty_inputs():
    class NoInputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("w", torch.randn(3, 4))

        def forward(self):
            return torch.atan2(self.w, self.w.flip(0)) * 2

    m = NoInputs().eval()
    c = kiln.compile(m, inputs=[], device="cpu")
    torch.testing.assert_close(c(), m())
    with pytest.raises(ValueError, match="inputs .* are required"):
        kiln.compile(torch.nn.ReLU(), inputs=[], device="cpu")


def test_exported_program_with_example_tensors_keeps_its_dynamic_dims():
    m = Fn(lambda x, y: torch.atan2(x, y).sum(0)).eval()
    b = torch.export.Dim("b", min=1, max=16)
    ep = torch.export.export(m, (torch.randn(4, 3), torch.randn(4, 3)), dynamic_shapes=(({0: b}, {0: b}),))
    c = kiln.compile(ep, inputs=[torch.randn(4, 3), torch.randn(4, 3)], device="cpu")
    for n in (4, 9, 1):
        x, y = torch.randn(n, 3), torch.randn(n, 3)
        torch.testing.assert_close(c(x, y), m(x, y), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_bag(mode, padding_idx):
    w = torch.randn(10, 4)
    idx = torch.tensor([1, 2, 4, 5, 4, 3, 2, 9, 2])
    off = torch.tensor([0, 3, 3, 6])  # an empty bag too
    f = lambda i, o, w: torch.nn.functional.embedding_bag(i, w, o, mode=mode, padding_idx=padding_idx)  # noqa: E731
    check(f, [idx, off, w])
    check(
        f,
        [idx, off, w],
        [dyn(idx, {0}), dyn(off, {0}), kiln.Input(shape=(10, 4))],
        others=[
            (idx[:7], torch.tensor([0, 2, 5]), w),
            (torch.randint(0, 10, (15,)), torch.tensor([0, 1, 4, 9, 9, 12]), w),
        ],
    )
    if mode == "sum":
        psw = torch.rand(9)
        g = lambda i, o, w, p: torch.nn.functional.embedding_bag(  # noqa: E731
            i, w, o, mode="sum", per_sample_weights=p, include_last_offset=True, padding_idx=padding_idx
        )
        check(g, [idx, torch.tensor([0, 3, 3, 6, 9]), w, psw])
    two_d = torch.randint(0, 10, (3, 4))
    check(lambda i, w: torch.nn.functional.embedding_bag(i, w, mode=mode), [two_d, w])


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample(mode, padding_mode, align_corners):
    def fn(x, g):
        return torch.nn.functional.grid_sample(
            x, g, mode=mode, padding_mode=padding_mode, align_corners=align_corners
        )

    def grid(n, h, w):  # reaches past [-1, 1] so the padding mode matters
        return torch.empty(n, h, w, 2).uniform_(-1.4, 1.4)

    x, g = torch.randn(2, 3, 5, 7), grid(2, 4, 6)
    check(fn, [x, g])
    specs = [
        kiln.Input(min_shape=(1, 3, 2, 2), opt_shape=(2, 3, 5, 7), max_shape=(4, 3, 9, 9)),
        kiln.Input(min_shape=(1, 1, 1, 2), opt_shape=(2, 4, 6, 2), max_shape=(4, 8, 8, 2)),
    ]
    check(fn, [x, g], specs, others=[(torch.randn(3, 3, 8, 4), grid(3, 7, 2))])


def test_grid_sampler_2d_exact_grid_points():
    # align_corners grid points on pixel centres read the pixels themselves, in every mode
    x = torch.randn(1, 2, 4, 5)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 4), torch.linspace(-1, 1, 5), indexing="ij")
    g = torch.stack([xs, ys], dim=-1)[None]
    for mode in range(3):
        check(lambda a, b, m=mode: torch.grid_sampler_2d(a, b, m, 0, True), [x, g])


def test_chunk_and_split_of_a_dynamic_dim():
    # export writes these as split_with_sizes of run-time sizes; the bounds resolve from the shapes
    x = torch.randn(6, 4)
    others = [(torch.randn(5, 4),), (torch.randn(11, 4),)]
    check(lambda t: torch.chunk(t, 2, dim=0)[1] * 2, [x], [dyn(x, {0})], others=others)
    check(lambda t: torch.cat(torch.chunk(t, 3, dim=0)[::-1]), [x], [dyn(x, {0})], others=others)


@pytest.mark.parametrize(
    "size, stride, offset",
    [
        ((3, 3), (1, 3), 0),  # transposed view
        ((2, 4), (2, 1), 1),  # overlapping windows with an offset
        ((4,), (5,), 2),  # gapped
        ((2, 2, 2), (0, 1, 4), 3),  # a broadcast dim
        ((), (), 7),  # one element
    ],
)
def test_as_strided_any_in_bounds_strides(size, stride, offset):
    x = torch.randn(4, 5)
    check(lambda t: torch.as_strided(t, size, stride, offset) * 1, [x])


def test_as_strided_out_of_bounds_refused():
    x = torch.randn(2, 3)
    with pytest.raises(kiln.UnsupportedOperatorError, match="outside its input"):
        kiln.compile(Fn(lambda t: torch.as_strided(t, (3, 3), (3, 1), 0) * 1), inputs=[x], **FULL)


def test_masked_scatter():
    x, src = torch.randn(4, 5), torch.randn(30)
    m = torch.rand(4, 5) > 0.5
    check(torch.masked_scatter, [x, m, src])
    row = torch.rand(5) > 0.4  # a mask broadcast over the rows
    check(torch.masked_scatter, [x, row, src.reshape(5, 6)])
    specs = [dyn(x, {0}), dyn(m, {0}), kiln.Input(shape=(30,))]
    m2 = torch.rand(7, 5) > 0.5
    check(torch.masked_scatter, [x, m, src], specs, others=[(torch.randn(7, 5), m2, src)])
    xi = torch.randint(0, 9, (3, 4))
    check(torch.masked_scatter, [xi, torch.rand(3, 4) > 0.5, torch.randint(0, 9, (12,))])


def test_empty_strided_shape_and_dtype():
    c = kiln.compile(
        Fn(lambda t: t + torch.empty_strided((2, 3), (3, 1)).zero_()), inputs=[torch.randn(2, 3)], **FULL
    )
    x = torch.randn(2, 3)
    torch.testing.assert_close(c(x), x)


def test_circular_pad_of_dynamic_dims():
    # slice_scatter with run-time starts
    x = torch.randn(2, 3, 6, 5)
    fn = lambda t: torch.nn.functional.pad(t, (1, 2, 2, 1), mode="circular")  # noqa: E731
    check(fn, [x], [dyn(x, {2, 3})], others=[(torch.randn(2, 3, 4, 9),)])


@pytest.mark.parametrize(
    "fn, shape, dims",
    [
        (lambda t: torch.nn.functional.max_pool1d(t, 3, 2, 1, return_indices=True), (2, 3, 11), {0, 2}),
        (lambda t: torch.nn.functional.max_pool2d(t, 3, 2, 1, return_indices=True), (2, 3, 9, 8), {0, 2, 3}),
        (
            lambda t: torch.nn.functional.max_pool2d(t, (2, 3), (1, 2), (1, 0), 2, True, True),
            (1, 2, 8, 9),
            {2},
        ),
        (lambda t: torch.nn.functional.max_pool3d(t, 2, 2, return_indices=True), (1, 2, 5, 6, 7), {2, 3}),
        (
            lambda t: torch.nn.functional.max_pool2d(t, 3, 2, return_indices=True),
            (3, 9, 8),
            {1, 2},
        ),  # unbatched
    ],
)
def test_max_pool_with_indices(fn, shape, dims):
    x = torch.randn(*shape)
    bigger = tuple(min(2 * s, s + 3) if d in dims else s for d, s in enumerate(shape))
    check(fn, [x], [dyn(x, dims)], others=[(torch.randn(*bigger),)])


def test_max_pool_indices_ties_nan_and_use_by_other_ops():
    x = torch.randint(0, 3, (2, 2, 7, 7)).float()  # many ties: torch keeps the first maximum
    x[0, 0, 2, 3] = float("nan")  # NaN wins its windows
    x[1, 1, :3, :3] = float("-inf")
    check(lambda t: torch.nn.functional.max_pool2d(t, 3, 2, 1, return_indices=True), [x])
    # indices read by another op inside the engine (gather back through them, as max_unpool does)

    def regather(t):
        y, i = torch.nn.functional.max_pool2d(t, 2, 2, return_indices=True)
        return torch.gather(t.flatten(2), 2, i.flatten(2)).reshape(y.shape) - y, i * 2

    check(regather, [torch.randn(2, 3, 8, 6)])
    xi = torch.randint(-50, 50, (1, 2, 6, 6), dtype=torch.int32).float()
    check(lambda t: torch.nn.functional.max_pool2d(t, 2, return_indices=True), [xi])


def test_rand_randn_seeded_reproducible_and_fresh_per_node():
    def fn(t):
        return torch.rand(4, 1000), torch.randn_like(t), torch.randn_like(t)

    x = torch.zeros(8, 500)
    m = Fn(fn).eval()
    torch.manual_seed(7)
    c = kiln.compile(m, inputs=[dyn(x, {0})], **FULL)
    u, n1, n2 = c(x)
    assert u.shape == (4, 1000) and u.dtype == torch.float32 and n1.shape == x.shape
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.02 and abs(float(u.std()) - (1 / 12) ** 0.5) < 0.02
    assert abs(float(n1.mean())) < 0.05 and abs(float(n1.std()) - 1.0) < 0.05
    assert not torch.equal(n1, n2)  # two randn nodes draw different numbers
    u2, n1b, _ = c(x)  # the same engine draws the same numbers on every run
    assert torch.equal(u, u2) and torch.equal(n1, n1b)
    n_small = c(torch.zeros(5, 500))[1]  # a dynamic shape: the first elements are the same draws
    assert n_small.shape == (5, 500) and torch.equal(n_small.flatten(), n1.flatten()[: 5 * 500])
    torch.manual_seed(7)
    assert torch.equal(kiln.compile(m, inputs=[dyn(x, {0})], **FULL)(x)[0], u)  # manual_seed reproduces
    torch.manual_seed(8)
    assert not torch.equal(kiln.compile(m, inputs=[dyn(x, {0})], **FULL)(x)[0], u)


def test_randint_and_randint_like():
    def fn(t):
        return (
            torch.randint(3, 9, (5000,)),
            torch.randint_like(t, 4),
            torch.randint(5, (3, 2), dtype=torch.float32),
        )

    x = torch.zeros(7, 11, dtype=torch.int32)
    a, b, f = kiln.compile(Fn(fn).eval(), inputs=[dyn(x, {0})], **FULL)(x)
    assert a.dtype == torch.int64 and int(a.min()) == 3 and int(a.max()) == 8
    assert abs(float(a.float().mean()) - 5.5) < 0.1
    assert b.dtype == torch.int32 and b.shape == x.shape and 0 <= int(b.min()) and int(b.max()) < 4
    assert f.dtype == torch.float32 and torch.equal(f, f.floor()) and float(f.max()) < 5


def test_as_strided_of_a_dynamic_input():
    x = torch.randn(4, 5)
    fn = lambda t: torch.as_strided(t, (2, 3), (3, 1), 1) * 1  # noqa: E731
    check(fn, [x], [dyn(x, {0})], others=[(torch.randn(2, 5),), (torch.randn(8, 5),)])


def test_item_returned_and_used_inside_the_engine():
    x = torch.tensor([2.5])
    m = Fn(lambda t: t.item()).eval()
    c = kiln.compile(m, inputs=[x], **FULL)
    assert c(torch.tensor([-1.25])) == -1.25
    y = torch.randn(3, 4)
    check(lambda s, t: t * s.item() + s.sum().item(), [torch.tensor([[0.5]]), y])
    check(lambda s, t: t * s.item(), [torch.tensor(3), torch.randn(4)])  # an int item


def test_nonzero_and_argwhere_static_and_dynamic():
    x = torch.randn(4, 6)
    x[x.abs() < 0.5] = 0
    x[0, 0] = float("nan")  # non-zero
    for fn in (torch.nonzero, torch.argwhere):
        check(fn, [x], [dyn(x, {0, 1})], others=[(torch.zeros(2, 3),), (torch.randn(8, 12),)])
    xi = torch.randint(0, 2, (3, 2, 5), dtype=torch.int32)
    check(torch.nonzero, [xi])
    check(torch.nonzero, [torch.rand(7) > 0.5])


def test_nonzero_read_by_another_op_refused_at_partition_time_and_falls_back():
    x = torch.randn(4, 6)
    fn = lambda t: torch.nonzero(t > 0).float() * 2  # noqa: E731
    with pytest.raises(kiln.UnsupportedOperatorError, match="rows known only at run time"):
        kiln.compile(Fn(fn), inputs=[x], **FULL)
    c = kiln.compile(Fn(fn).eval(), inputs=[x], device="cpu", min_block_size=1)
    torch.testing.assert_close(c(x), fn(x))


@pytest.mark.parametrize("divisor", [-2, 3])
def test_avg_pool_divisor_override_of_either_sign(divisor):
    x = torch.randn(1, 2, 6, 7)
    check(lambda t: torch.nn.functional.avg_pool2d(t, 2, divisor_override=divisor), [x], [dyn(x, {0})])
    y = torch.randn(1, 2, 4, 5, 4)
    check(
        lambda t: torch.nn.functional.avg_pool3d(t, (2, 2, 3), stride=(2, 2, 1), divisor_override=divisor),
        [y],
    )
