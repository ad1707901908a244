"""float64 and int16 tensors (issue 16): computed in their own dtype on the CPU backend (never silently
narrowed), refused at partition time where a kernel would compute in float32 or where the backend has
no kernels for them (CUDA), against eager PyTorch in float64."""

import pytest
import torch

import kiln
from conftest import Fn, dyn

FULL = dict(device="cpu", require_full_compilation=True, min_block_size=1)


def check(fn, inputs, specs=None, others=(), **opts):
    m = Fn(fn).eval()
    c = kiln.compile(m, inputs=list(specs or inputs), **{**FULL, **opts})
    for xs in [inputs, *others]:
        with torch.no_grad():
            ref, out = m(*xs), c(*xs)
        ref = ref if isinstance(ref, (tuple, list)) else (ref,)
        out = out if isinstance(out, (tuple, list)) else (out,)
        for o, r in zip(out, ref):
            assert o.dtype == r.dtype and o.shape == r.shape, (o.dtype, r.dtype, o.shape, r.shape)
            if r.dtype.is_floating_point:
                # float64 precision: a float32 step anywhere would miss this by ~1e-8
                torch.testing.assert_close(o, r, rtol=1e-12, atol=1e-12, equal_nan=True)
            else:
                assert torch.equal(o, r)
    return c


def f64(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def test_float64_pointwise_reductions_and_norms_keep_float64_precision():
    x, y = f64(3, 7), f64(3, 7)
    check(
        lambda a, b: (a * b + 1e-9).exp().sum(-1),
        [x, y],
        [dyn(x, {0}), dyn(y, {0})],
        others=[(f64(5, 7), f64(5, 7))],
    )
    check(lambda a: torch.softmax(a, -1) + torch.nn.functional.layer_norm(a, (7,)), [x])
    check(lambda a: (a.cumsum(1), a.amax(0), a.var(1), a.sort(1).values, a[:, 1:5:2]), [x])
    # a python scalar and a float64 constant keep float64 (1 + 1e-12 is not 1 in float32)
    check(lambda a: a * (1 + 1e-12) - a, [x])


def test_float64_matmul_linear_and_pooling():
    a, b = f64(2, 5, 9), f64(2, 9, 4)
    check(torch.matmul, [a, b], [dyn(a, {0, 1}), dyn(b, {0})], others=[(f64(3, 7, 9), f64(3, 9, 4))])
    lin = torch.nn.Linear(9, 6).double().eval()
    check(lin, [a])
    check(lambda t: torch.nn.functional.max_pool2d(t, 2, return_indices=True), [f64(1, 2, 6, 6)])
    check(lambda t: torch.nn.functional.avg_pool2d(t, 3, 1, 1), [f64(1, 2, 6, 6)])


def test_float64_mixed_with_float32_promotes_like_torch():
    x32, x64 = torch.randn(4, 3), f64(4, 3)
    check(lambda a, b: (a + b, a * 2.5, b.float()), [x32, x64])
    check(lambda a: a.double() / 3, [x32])


def test_float64_convolution_refused_at_partition_time_and_falls_back():
    conv = torch.nn.Conv2d(2, 3, 3).double().eval()
    x = f64(1, 2, 6, 6)
    with pytest.raises(kiln.UnsupportedOperatorError, match="float64 input .* computes this op in float32"):
        kiln.compile(conv, inputs=[x], **FULL)
    m = Fn(lambda t: conv(t).relu() * 2).eval()
    c = kiln.compile(m, inputs=[x], device="cpu", min_block_size=1)  # the convolution runs in PyTorch
    with torch.no_grad():
        torch.testing.assert_close(c(x), m(x), rtol=1e-12, atol=1e-12)


def test_float64_refused_at_partition_time_for_cuda():
    # The refusal names the dtype and the backend at partition time, before any build.
    if "cuda" not in kiln.available_backends() or not torch.cuda.is_available():
        pytest.skip("needs a GPU and a Kiln build with the CUDA backend")
    with pytest.raises(kiln.UnsupportedOperatorError, match="CPU backend only"):
        kiln.compile(
            Fn(lambda a: a * 2), inputs=[f64(3).cuda()], device="cuda", require_full_compilation=True
        )


def test_float64_with_fp16_enabled_stays_float64():
    x = f64(4, 8)
    check(lambda a: (a @ a.T).sqrt(), [x.abs()], enabled_precisions={torch.float16, torch.float32})


def test_int16_arithmetic_and_casts():
    x = torch.randint(-300, 300, (4, 6), dtype=torch.int16)
    y = torch.randint(1, 9, (4, 6), dtype=torch.int16)
    check(
        lambda a, b: (a + b, a * b, a // b, a.max(1).values, (a > b), a.float() / 2, a.to(torch.int64)),
        [x, y],
        [dyn(x, {0}), dyn(y, {0})],
        others=[
            (
                torch.randint(-300, 300, (7, 6), dtype=torch.int16),
                torch.randint(1, 9, (7, 6), dtype=torch.int16),
            )
        ],
    )
    # wraps on overflow as torch does
    check(lambda a: a * 300, [torch.tensor([200, -200, 7], dtype=torch.int16)])
