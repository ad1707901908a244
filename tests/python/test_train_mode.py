"""Compiling leaves the caller's model in the mode it had: a model in eval mode stays in eval mode (every
submodule), a model in train mode comes back in train mode, and submodules the user set apart keep their
own mode — for every frontend (dynamo, fx, ts, kiln.convert, kiln.dynamo.trace, kiln.llm.compile), on
the CPU backend."""

import pytest
import torch

import kiln


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.drop = torch.nn.Dropout(0.5)
        self.head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 5))

    def forward(self, x):
        return self.head(self.drop(torch.relu(self.bn(self.conv(x)))))


def _modes(model):
    return {name: m.training for name, m in model.named_modules()}


def _compile(how, model, x):
    if how == "dynamo":
        return kiln.compile(model, ir="dynamo", inputs=[x], device="cpu", min_block_size=1)
    if how == "fx":
        return kiln.compile(model, ir="fx", inputs=[x], device="cpu", min_block_size=1)
    if how == "ts":
        return kiln.compile(model, ir="ts", inputs=[x], device="cpu", min_block_size=1)
    if how == "convert":
        return kiln.convert(model, [x], device="cpu")
    if how == "trace":
        return kiln.dynamo.trace(model, inputs=[x], device="cpu")
    raise AssertionError(how)


HOW = ["dynamo", "fx", "ts", "convert", "trace"]


def _model_in(mode):
    torch.manual_seed(0)
    model = _Net()
    if mode == "eval":
        model.eval()
    elif mode == "train":
        model.train()
    else:  # mixed: eval, but the user keeps dropout in train mode (e.g. MC dropout)
        model.eval()
        model.drop.train()
    return model


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("mode", ["eval", "train", "mixed"])
def test_compile_keeps_the_callers_mode(how, mode):
    model = _model_in(mode)
    before = _modes(model)
    x = torch.randn(2, 3, 6, 6)
    try:
        _compile(how, model, x)
    except kiln.KilnError:
        # A train-mode graph (batch statistics, random dropout) may be refused: the mode must still be back.
        pass
    assert _modes(model) == before


@pytest.mark.parametrize("how", ["dynamo", "fx", "ts", "convert"])
def test_compiled_eval_model_runs_in_eval_mode(how):
    """The compiled module of an eval-mode model reports eval mode and computes inference (running
    statistics, no dropout): its outputs equal the eval model's, twice in a row."""
    model = _model_in("eval")
    with torch.no_grad():  # running statistics away from the initial ones
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 6, 6)
    compiled = _compile(how, model, x)
    assert not model.training
    if not isinstance(compiled, torch.jit.ScriptModule):  # a TorchScript result has no Python mode
        assert not compiled.training
    with torch.no_grad():
        want = model(x)
        got1, got2 = compiled(x), compiled(x)
    torch.testing.assert_close(got1, want, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got2, want, rtol=1e-4, atol=1e-4)
