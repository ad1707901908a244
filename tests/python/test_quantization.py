"""Quantize / dequantize graphs against PyTorch eager, on the CPU backend (per-channel Q/DQ is refused on CUDA
for now): fake quantization (QAT, FakeQuantize modules),
PT2E's quantized_decomposed ops (per tensor and per channel), float8 e4m3 casts; both frontends,
dynamic batch. Kiln computes what PyTorch computes (float32, x * (1/scale), round half to even), so
results agree to the element except where 1/scale rounds differently in float32 (one step, rarely)."""

import pytest
import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401  (registers quantized_decomposed ops)

import kiln

qd = torch.ops.quantized_decomposed


def steps_off(got, want, step):
    """Fraction of elements that differ, and the largest difference in quantization steps."""
    d = (got.float() - want.float()).abs()
    return (d > 0).float().mean().item(), (d / step).max().item()


class FakeQuantLinear(torch.nn.Module):
    """QAT-style: per-tensor fake quant on the activation, per-channel on the weight."""

    def __init__(self, k=32, n=24):
        super().__init__()
        self.l = torch.nn.Linear(k, n)
        w = self.l.weight.detach()
        self.register_buffer("w_scale", (w.abs().amax(1) / 127).float())
        self.register_buffer("w_zp", torch.zeros(n, dtype=torch.int32))

    def forward(self, x):
        xq = torch.fake_quantize_per_tensor_affine(x, 0.03125, 3, -128, 127)
        wq = torch.fake_quantize_per_channel_affine(self.l.weight, self.w_scale, self.w_zp, 0, -127, 127)
        return torch.nn.functional.linear(xq, wq, self.l.bias).relu()


def test_fake_quant_export_path_matches_eager():
    m = FakeQuantLinear().eval()
    x = torch.randn(5, 32) * 2
    km = kiln.compile(m, device="cpu", inputs=[x], require_full_compilation=True, min_block_size=1)
    with torch.no_grad():
        want, got = m(x), km(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_fake_quant_is_exact_on_the_grid():
    # A power-of-two scale: 1/scale is exact, so every element matches bit for bit, including
    # clamping at both ends and ties rounded to even.
    class Net(torch.nn.Module):
        def forward(self, x):
            return torch.fake_quantize_per_tensor_affine(x, 0.25, 10, 0, 255)

    x = torch.cat([torch.randn(1000) * 30, torch.tensor([0.125, 0.375, -0.125, -2.625, 1e6, -1e6])])
    km = kiln.compile(Net(), device="cpu", inputs=[x], require_full_compilation=True, min_block_size=1)
    torch.testing.assert_close(km(x), Net()(x), rtol=0, atol=0)


def test_fake_quant_random_scales_within_one_step():
    torch.manual_seed(torch.seed() % 2**31)
    scales = torch.rand(16) * 0.1 + 0.001
    zps = torch.randint(-20, 20, (16,), dtype=torch.int32)

    class Net(torch.nn.Module):
        def forward(self, x):
            return torch.fake_quantize_per_channel_affine(x, scales, zps, 1, -128, 127)

    x = torch.randn(4, 16, 9) * 3
    km = kiln.compile(Net(), device="cpu", inputs=[x], require_full_compilation=True, min_block_size=1)
    frac, worst = steps_off(km(x), Net()(x), scales.view(1, 16, 1))
    assert frac < 0.01 and worst <= 1.0 + 1e-4, (frac, worst)


def test_pt2e_quantized_decomposed_graph_dynamic_batch():
    """The graph convert_pt2e produces: q/dq on activations (per tensor), dq on int8 weights (per
    channel), float ops in between."""
    torch.manual_seed(0)
    w = torch.randn(8, 3, 3, 3)
    w_scale = (w.abs().amax((1, 2, 3)) / 127).float()
    w_zp = torch.zeros(8, dtype=torch.int64)
    w_int8 = qd.quantize_per_channel(w, w_scale, w_zp, 0, -127, 127, torch.int8)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("w_int8", w_int8)
            self.register_buffer("w_scale", w_scale)
            self.register_buffer("w_zp", w_zp)
            self.bias = torch.nn.Parameter(torch.randn(8))

        def forward(self, x):
            xq = qd.quantize_per_tensor(x, 0.02, 128, 0, 255, torch.uint8)
            xd = qd.dequantize_per_tensor(xq, 0.02, 128, 0, 255, torch.uint8)
            wd = qd.dequantize_per_channel(self.w_int8, self.w_scale, self.w_zp, 0, -127, 127, torch.int8)
            y = torch.nn.functional.conv2d(xd, wd, self.bias, padding=1).relu()
            yq = qd.quantize_per_tensor(y, 0.05, 0, 0, 255, torch.uint8)
            return qd.dequantize_per_tensor(yq, 0.05, 0, 0, 255, torch.uint8)

    net = Net().eval()
    inp = kiln.Input(min_shape=(1, 3, 12, 12), opt_shape=(2, 3, 12, 12), max_shape=(4, 3, 12, 12))
    km = kiln.compile(net, device="cpu", inputs=[inp], require_full_compilation=True, min_block_size=1)
    for b in (1, 3, 4):
        x = torch.rand(b, 3, 12, 12) * 4 - 2
        with torch.no_grad():
            frac, worst = steps_off(km(x), net(x), 0.05)
        assert frac < 0.01 and worst <= 1.0 + 1e-4, (b, frac, worst)


def test_quantize_outputs_integers_like_pytorch():
    class Net(torch.nn.Module):
        def forward(self, x):
            return qd.quantize_per_tensor(x, 0.0625, -3, -128, 127, torch.int8)

    x = torch.randn(64) * 5
    km = kiln.compile(Net(), device="cpu", inputs=[x], require_full_compilation=True, min_block_size=1)
    got = km(x)
    assert got.dtype == torch.int8
    torch.testing.assert_close(got, Net()(x), rtol=0, atol=0)


def test_float8_cast_round_trip_matches_eager():
    class Net(torch.nn.Module):
        def forward(self, x):
            s = 0.01
            return (x / s).clamp(-448, 448).to(torch.float8_e4m3fn).to(torch.float32) * s

    x = torch.randn(3, 200) * 2
    x[0, 0] = 100.0  # saturates
    km = kiln.compile(Net(), device="cpu", inputs=[x], require_full_compilation=True, min_block_size=1)
    torch.testing.assert_close(km(x), Net()(x), rtol=0, atol=0)


def test_float8_dequantize_per_tensor():
    class Net(torch.nn.Module):
        def forward(self, x):
            q = (x / 0.5).clamp(-448, 448).to(torch.float8_e4m3fn)
            return qd.dequantize_per_tensor(q, 0.5, 0, -448, 448, torch.float8_e4m3fn)

    x = torch.randn(50) * 20
    km = kiln.compile(Net(), device="cpu", inputs=[x], require_full_compilation=True, min_block_size=1)
    torch.testing.assert_close(km(x), Net()(x), rtol=0, atol=0)


def test_fake_quant_torchscript_path():
    m = FakeQuantLinear().eval()
    x = torch.randn(3, 32)
    km = kiln.compile(
        m,
        device="cpu",
        ir="ts",
        inputs=[kiln.Input(x.shape)],
        require_full_compilation=True,
        min_block_size=1,
    )
    with torch.no_grad():
        torch.testing.assert_close(km(x), m(x), rtol=1e-5, atol=1e-5)


def test_float8_quantized_decomposed_quantize_is_refused_with_the_reason():
    class Net(torch.nn.Module):
        def forward(self, x):
            return qd.quantize_per_tensor(x, 0.5, 0, -448, 448, torch.float8_e4m3fn).to(torch.float32)

    with pytest.raises(kiln.KilnError, match="float8"):
        kiln.compile(
            Net(), device="cpu", inputs=[torch.randn(8)], require_full_compilation=True, min_block_size=1
        )
