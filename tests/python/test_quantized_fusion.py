"""The Q/DQ fusion pass (src/passes/fuse_quantized_layers.cpp) against PyTorch eager, CPU backend:
DQ -> conv / linear -> (bias, residual, ReLU) -> Q becomes one quantized layer whose int8 result
matches what PyTorch computes for the unfused graph (to the element, except where the float32
summation order of the unfused convolution tips a value across a rounding boundary: one step, rarely).
Random int8 data, per-channel weight scales, negative zero points, saturation at both ends; FP8
linear layers; the per-layer precision report."""

import pytest
import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401  (registers quantized_decomposed ops)

import kiln

qd = torch.ops.quantized_decomposed
INT8 = {torch.int8, torch.float32}


def seeded():
    seed = torch.seed() % 2**31
    torch.manual_seed(seed)
    return seed


def int8_weight(cout, *rest):
    """A random float weight quantized per output channel (symmetric, as PT2E's weight observers)."""
    w = torch.randn(cout, *rest)
    scale = (w.abs().flatten(1).amax(1) / 127).float()
    zp = torch.zeros(cout, dtype=torch.int64)
    return qd.quantize_per_channel(w, scale, zp, 0, -127, 127, torch.int8), scale, zp


def compile_cpu(net, x, precisions=INT8):
    return kiln.compile(
        net,
        device="cpu",
        inputs=[x],
        enabled_precisions=precisions,
        require_full_compilation=True,
        min_block_size=1,
    )


def report_of(km):
    return {r.layer: r for r in kiln.precision_report(km)}


class ConvBlock(torch.nn.Module):
    """int8 x (negative zero point) -> conv (per-channel int8 weight) + bias + residual -> ReLU -> Q."""

    def __init__(self, cin=6, cout=10, out_scale=0.02, out_zp=-9):
        super().__init__()
        w, s, z = int8_weight(cout, cin, 3, 3)
        self.register_buffer("w", w)
        self.register_buffer("ws", s)
        self.register_buffer("wz", z)
        self.bias = torch.nn.Parameter(torch.randn(cout))
        self.out_scale, self.out_zp = out_scale, out_zp

    def forward(self, xq, r):
        xd = qd.dequantize_per_tensor(xq, 0.05, -7, -128, 127, torch.int8)
        wd = qd.dequantize_per_channel(self.w, self.ws, self.wz, 0, -127, 127, torch.int8)
        y = torch.nn.functional.conv2d(xd, wd, self.bias, stride=1, padding=1) + r
        return qd.quantize_per_tensor(y.relu(), self.out_scale, self.out_zp, -128, 127, torch.int8)


def test_conv_bias_residual_relu_q_is_one_int8_layer_matching_eager():
    seed = seeded()
    net = ConvBlock().eval()
    xq = torch.randint(-128, 128, (2, 6, 9, 11), dtype=torch.int8)
    r = torch.randn(2, 10, 9, 11)
    km = kiln.compile(
        net,
        device="cpu",
        inputs=[xq, r],
        enabled_precisions=INT8,
        require_full_compilation=True,
        min_block_size=1,
    )
    with torch.no_grad():
        want, got = net(xq, r), km(xq, r)
    assert got.dtype == torch.int8
    assert (want == 127).any() and (want == -9).any(), "the case must saturate and hit the ReLU floor"
    d = (got.int() - want.int()).abs()
    assert d.max() <= 1 and (d > 0).float().mean() < 0.01, (seed, d.max(), (d > 0).float().mean())
    rep = report_of(km)
    conv = [v for v in rep.values() if v.precision == "int8"]
    assert len(conv) == 1 and "residual add" in conv[0].reason and "Q(i8)" in conv[0].reason, rep


def test_saturation_at_both_ends_is_exact():
    seeded()
    net = ConvBlock(out_scale=0.002, out_zp=3).eval()  # tiny scale: most values clamp
    xq = torch.randint(-128, 128, (1, 6, 5, 5), dtype=torch.int8)
    r = torch.randn(1, 10, 5, 5) * 50 - 25
    km = kiln.compile(
        net,
        device="cpu",
        inputs=[xq, r],
        enabled_precisions=INT8,
        require_full_compilation=True,
        min_block_size=1,
    )
    with torch.no_grad():
        want, got = net(xq, r), km(xq, r)
    assert (want == 127).float().mean() > 0.15 and (want == 3).float().mean() > 0.15  # both ends
    assert (got.int() - want.int()).abs().max() <= 1


class QLinear(torch.nn.Module):
    """x float -> Q (uint8, zero point 131) -> DQ -> linear (per-channel int8 weight) + bias -> GELU:
    a float output (no trailing Q)."""

    def __init__(self, k=48, n=20):
        super().__init__()
        w, s, z = int8_weight(n, k)
        self.register_buffer("w", w)
        self.register_buffer("ws", s)
        self.register_buffer("wz", z)
        self.bias = torch.nn.Parameter(torch.randn(n))

    def forward(self, x):
        xq = qd.quantize_per_tensor(x, 0.03, 131, 0, 255, torch.uint8)
        xd = qd.dequantize_per_tensor(xq, 0.03, 131, 0, 255, torch.uint8)
        wd = qd.dequantize_per_channel(self.w, self.ws, self.wz, 0, -127, 127, torch.int8)
        return torch.nn.functional.gelu(torch.nn.functional.linear(xd, wd, self.bias))


def test_linear_with_float_output_matches_eager():
    seeded()
    net = QLinear().eval()
    for x in (torch.randn(21, 48) * 2, torch.randn(3, 7, 48) * 2):
        km = compile_cpu(net, x)
        with torch.no_grad():
            torch.testing.assert_close(km(x), net(x), rtol=1e-5, atol=1e-5)
        (row,) = kiln.precision_report(km)
        assert row.precision == "int8", row
    # 2-D input: the linear (exported as addmm), its bias and the GELU are one layer. (A 3-D input puts a
    # reshape between the GEMM and the GELU, which then runs on its own.)
    assert "bias add -> gelu" in kiln.precision_report(compile_cpu(net, torch.randn(5, 48)))[0].reason


def test_without_int8_precision_the_graph_stays_float_and_says_why():
    net = QLinear().eval()
    x = torch.randn(2, 48)
    km = compile_cpu(net, x, precisions={torch.float32})
    rows = kiln.precision_report(km)
    assert rows and all(r.precision == "float" for r in rows)
    assert any("int8 precision is not enabled" in r.reason for r in rows), rows


class QNet(torch.nn.Module):
    """A small PT2E-style CNN: Q/DQ around every conv, max pooling and flatten between Q/DQ pairs
    (they commute), a softmax that stays float."""

    def __init__(self):
        super().__init__()
        for name, shape in (("w1", (8, 3, 3, 3)), ("w2", (8, 8, 3, 3)), ("w3", (10, 8 * 4 * 4))):
            w, s, z = int8_weight(*shape[:1], *shape[1:])
            self.register_buffer(name, w)
            self.register_buffer(name + "s", s)
            self.register_buffer(name + "z", z)
        self.b1 = torch.nn.Parameter(torch.randn(8) * 0.1)
        self.b2 = torch.nn.Parameter(torch.randn(8) * 0.1)
        self.b3 = torch.nn.Parameter(torch.randn(10) * 0.1)

    def qdq(self, t, s, z):
        return qd.dequantize_per_tensor(
            qd.quantize_per_tensor(t, s, z, -128, 127, torch.int8), s, z, -128, 127, torch.int8
        )

    def dqw(self, name):
        return qd.dequantize_per_channel(
            getattr(self, name),
            getattr(self, name + "s"),
            getattr(self, name + "z"),
            0,
            -127,
            127,
            torch.int8,
        )

    def forward(self, x):
        x = self.qdq(x, 0.04, -3)
        y = torch.nn.functional.conv2d(x, self.dqw("w1"), self.b1, padding=1).relu()
        y = self.qdq(y, 0.08, -128)
        y = self.qdq(torch.nn.functional.max_pool2d(y, 2), 0.08, -128)
        z = torch.nn.functional.conv2d(y, self.dqw("w2"), self.b2, padding=1) + y
        z = self.qdq(z.relu(), 0.1, -128)
        z = torch.nn.functional.max_pool2d(z, 2).flatten(1)
        return torch.softmax(torch.nn.functional.linear(z, self.dqw("w3"), self.b3), -1)


def test_small_cnn_runs_in_int8_and_matches_eager():
    seeded()
    net = QNet().eval()
    x = torch.randn(4, 3, 16, 16)
    km = compile_cpu(net, x)
    with torch.no_grad():
        want, got = net(x), km(x)
    cos = torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0)
    assert cos > 0.9999, cos
    torch.testing.assert_close(got, want, rtol=0.05, atol=0.02)
    rows = kiln.precision_report(km)
    assert [r.precision for r in rows] == ["int8", "int8", "int8"], rows


def test_fp8_linear_matches_eager():
    seeded()
    w = torch.randn(24, 64)
    ws = float(w.abs().max() / 448)
    w8 = (w / ws).to(torch.float8_e4m3fn)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("w8", w8)

        def forward(self, x):
            x8 = (x / 0.01).clamp(-448, 448).to(torch.float8_e4m3fn)
            xd = qd.dequantize_per_tensor(x8, 0.01, 0, -448, 448, torch.float8_e4m3fn)
            wd = qd.dequantize_per_tensor(self.w8, ws, 0, -448, 448, torch.float8_e4m3fn)
            return torch.nn.functional.linear(xd, wd).relu()

    net = Net().eval()
    x = torch.randn(5, 64)
    km = compile_cpu(net, x, precisions={torch.float8_e4m3fn, torch.float32})
    torch.testing.assert_close(km(x), net(x), rtol=1e-5, atol=1e-5)
    (row,) = kiln.precision_report(km)
    assert row.precision == "fp8", row


@pytest.mark.parametrize("bad", [0.0, float("nan"), -0.5])
def test_bad_scales_stay_unfused_and_are_reported(bad):
    """A zero / NaN / negative activation scale is not folded into an 8-bit layer."""

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            w, s, z = int8_weight(4, 8)
            self.register_buffer("w", w)
            self.register_buffer("ws", s)
            self.register_buffer("wz", z)

        def forward(self, xq):
            xd = qd.dequantize_per_tensor(xq, bad, 0, -128, 127, torch.int8)
            wd = qd.dequantize_per_channel(self.w, self.ws, self.wz, 0, -127, 127, torch.int8)
            return torch.nn.functional.linear(xd, wd)

    xq = torch.randint(-128, 128, (2, 8), dtype=torch.int8)
    km = compile_cpu(Net().eval(), xq)
    (row,) = kiln.precision_report(km)
    assert row.precision == "float" and "zero, negative or NaN scale" in row.reason, row
