"""kiln.debug.compare: finds the layer where Kiln's result departs from PyTorch eager (CPU backend).

The faults are real discrepancies between what the engine computes and what eager computes: a weight
corrupted only in the copy Kiln's importer hands to the converters, or one op's argument changed on its
way into Kiln (a converter computing with the wrong parameter). Eager runs the untouched exported graph.
"""

import io

import pytest
import torch
from torch import nn

import kiln
import kiln.debug
from conftest import alter_args_into_kiln
from kiln.dynamo import _graph


class Block(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        y = torch.relu(self.conv1(x))
        return torch.relu(self.conv2(y) + x)  # the line compare() names for conv2


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layer1 = nn.Sequential(Block(8), Block(8))
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.layer1(torch.relu(self.stem(x)))
        return self.fc(x.mean((2, 3)))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(32, 32)
        self.act2 = nn.LeakyReLU(0.01)
        self.fc3 = nn.Linear(32, 4)

    def forward(self, x):
        return self.fc3(self.act2(self.fc2(self.act1(self.fc1(x)))))


def _convnet():
    torch.manual_seed(0)
    return ConvNet().eval(), torch.randn(2, 3, 8, 8)


def _mlp():
    torch.manual_seed(0)
    return MLP().eval(), torch.randn(4, 16)


def _corrupt_weight_in_kiln(monkeypatch, param: torch.Tensor, only_fused_build: bool = False) -> None:
    """The importer's copy of `param` (what Kiln's converters bake into the engine) gets one channel
    negated; the model, and so eager, keep the real weight. `only_fused_build`: only in the build as
    kiln.compile makes it, not in compare()'s build with every intermediate as an output (a fault that
    only a fusion would have)."""
    real = _graph.fetch_attr

    def fetch(root, target):
        obj = real(root, target)
        if only_fused_build and type(root).__name__ == "KilnProbeGraph":
            return obj
        if isinstance(obj, torch.Tensor) and obj.shape == param.shape and torch.equal(obj, param):
            obj = obj.detach().clone()
            obj[0] = -obj[0]
        return obj

    monkeypatch.setattr(_graph, "fetch_attr", fetch)


def _wrong_slope_in_kiln(monkeypatch, module_path: str, slope: float) -> None:
    """aten::leaky_relu of the module at `module_path` reaches Kiln with another negative slope."""

    def set_slope(args):
        args[1] = slope

    alter_args_into_kiln(monkeypatch, "aten::leaky_relu", module_path, set_slope)


# ---- correct models: no departure ---------------------------------------------------------------------------
@pytest.mark.parametrize("make", [_convnet, _mlp])
def test_correct_model_has_no_departure(make):
    model, x = make()
    out = io.StringIO()
    res = kiln.debug.compare(model, [x], min_block_size=1, file=out)
    assert res.ok and res.first is None and res.origins == []
    assert "No layer departs" in out.getvalue()
    assert len(res.layers) >= 5 and all(d.where == "kiln" for d in res.layers)
    assert all(d.max_abs_err <= d.allowed and d.cosine > 0.9999 for d in res.layers)
    # The model is left as it was.
    assert not model.training
    # The module as kiln.compile builds it agrees too.
    assert res.outputs and not any(o.departs for o in res.outputs)
    assert "nor the 1 output(s) of the kiln.compile build" in out.getvalue()


# ---- a broken layer is found and named by its module path ----------------------------------------------------
def test_finds_corrupted_conv_weight():
    model, x = _convnet()
    mp = pytest.MonkeyPatch()
    with mp.context() as m:
        _corrupt_weight_in_kiln(m, model.layer1[1].conv2.weight)
        out = io.StringIO()
        res = kiln.debug.compare(model, [x], min_block_size=1, file=out)
    first = res.first
    assert first is not None and not res.ok
    assert first.module == "layer1.1.conv2" and first.module_type == "Conv2d"
    assert first.op == "aten::convolution" and first.where == "kiln"
    # The model's own line, not torch's conv.py.
    assert first.source.startswith("test_debug_compare.py:") and "self.conv2(y)" in first.code
    assert first.max_abs_err > 1e-2 and first.cosine < 0.999
    # Everything before it agrees; only that fault starts a departure.
    before = res.layers[: first.index]
    assert before and not any(d.departs for d in before)
    assert [o.module for o in res.origins] == ["layer1.1.conv2"]
    text = out.getvalue()
    assert "First layer that departs" in text and "layer1.1.conv2 (Conv2d)" in text
    assert "<- first" in text and "max abs err" in text


def test_finds_wrong_activation_parameter_and_tolerance_options():
    model, x = _mlp()
    mp = pytest.MonkeyPatch()
    with mp.context() as m:
        _wrong_slope_in_kiln(m, "act2", 0.03)
        res = kiln.debug.compare(model, [x], min_block_size=1, verbose=False)
        assert res.first is not None and res.first.module == "act2" and res.first.module_type == "LeakyReLU"
        assert res.first.op == "aten::leaky_relu"
        assert [d.module for d in res.layers[: res.first.index]] == ["fc1", "act1", "fc2"]
        # A loose tolerance accepts the small error (a slope off by 0.02 on negative values only).
        loose = kiln.debug.compare(model, [x], min_block_size=1, verbose=False, atol=1.0, rtol=0.0)
        assert loose.ok and loose.rtol == 0.0 and loose.atol == 1.0
        # Left to PyTorch, the op is computed right: the fault was Kiln's.
        fallback = kiln.debug.compare(
            model, [x], min_block_size=1, verbose=False, torch_executed_ops=["aten::leaky_relu"]
        )
    assert fallback.ok
    assert [d.where for d in fallback.layers if d.module == "act2"] == ["torch"]


def test_default_tolerance_follows_precision():
    model, x = _mlp()
    res = kiln.debug.compare(model, [x], verbose=False)
    assert res.precision == "fp32" and (res.rtol, res.atol) == kiln.debug.TOLERANCES["fp32"]
    res16 = kiln.debug.compare(model.half(), [x.half()], verbose=False)
    assert res16.precision == "fp16" and res16.ok


def test_exported_program_keyword_inputs_and_tuple_items():
    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 8)
            self.pool = nn.MaxPool1d(2, return_indices=True)

        def forward(self, x, gate=None):
            values, _ = self.pool(torch.sigmoid(self.proj(x)) * gate)
            return values

    torch.manual_seed(0)
    x, gate = torch.randn(2, 3, 8), torch.rand(2, 3, 8)
    ep = torch.export.export(Gated().eval(), (x,), {"gate": gate}, strict=False)
    res = kiln.debug.compare(ep, [x], kwarg_inputs={"gate": gate}, min_block_size=1, verbose=False)
    assert res.ok
    pool = [d for d in res.layers if d.module == "pool"]
    # An item of a tuple-returning op is named by that op and index.
    items = [d for d in pool if d.op.endswith("max_pool2d_with_indices[0]")]
    assert len(items) == 1 and items[0].node.startswith("getitem") and pool[-1].shape == (2, 3, 4)


def test_fault_only_in_the_compiled_build_is_reported():
    model, x = _convnet()
    with pytest.MonkeyPatch.context() as m:
        _corrupt_weight_in_kiln(m, model.layer1[0].conv1.weight, only_fused_build=True)
        out = io.StringIO()
        res = kiln.debug.compare(model, [x], min_block_size=1, file=out)
        quick = kiln.debug.compare(model, [x], min_block_size=1, check_fused=False, verbose=False)
    assert res.first is None and not res.ok
    assert [o.departs for o in res.outputs] == [True]
    assert "but the module as kiln.compile builds it does" in out.getvalue()
    assert "KILN_DISABLE_FUSION" in out.getvalue()
    assert quick.ok and quick.outputs == []


def test_refuses_what_it_cannot_compare():
    model, x = _mlp()
    with pytest.raises(TypeError, match="pass the nn.Module itself"):
        kiln.debug.compare(torch.jit.script(model), [x], verbose=False)
    with pytest.raises(TypeError, match="nn.Module or ExportedProgram"):
        kiln.debug.compare(lambda t: t, [x], verbose=False)
    with pytest.raises(TypeError, match="check_fused"):
        kiln.debug.compare(model, [x], check_fused="yes", verbose=False)
