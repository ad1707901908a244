"""ir="ts": the C++ TorchScript path through the bindings."""

import pytest
import torch

import kiln
from conftest import rel_err


def has_engine(script):
    return "kiln.execute_engine" in script.code


def test_script_module_passes_straight_through(convnet):
    script = torch.jit.script(convnet)
    x = torch.randn(2, 3, 16, 16)
    m = kiln.compile(script, inputs=[kiln.Input(x.shape)])  # default ir for a ScriptModule: ts
    assert isinstance(m, torch.jit.ScriptModule) and has_engine(m)
    with torch.no_grad():
        assert rel_err(m(x), convnet(x)) < 1e-5


def test_nn_module_is_scripted_with_dynamic_batch(convnet):
    inp = kiln.Input(min_shape=(1, 3, 16, 16), opt_shape=(2, 3, 16, 16), max_shape=(4, 3, 16, 16))
    m = kiln.compile(convnet, ir="ts", inputs=[inp])
    assert has_engine(m)
    with torch.no_grad():
        for b in (1, 3, 4):
            x = torch.randn(b, 3, 16, 16)
            assert rel_err(m(x), convnet(x)) < 1e-5


def test_unscriptable_module_is_traced():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l = torch.nn.Linear(8, 8)

        def forward(self, x):
            parts = [torch.relu(self.l(x)) for _ in range(2)]  # a comprehension over range: fine for tracing
            return sum(parts, torch.zeros_like(x)) * getattr(self, "scale", 1.0)

    net = Net().eval()
    x = torch.randn(2, 8)
    m = kiln.compile(net, ir="ts", inputs=[x], min_block_size=1)
    with torch.no_grad():
        assert rel_err(m(x), net(x)) < 1e-5


def test_ts_dry_run(capsys, convnet):
    rep = kiln.compile(convnet, ir="ts", inputs=[kiln.Input((1, 3, 16, 16))], dry_run=True)
    assert isinstance(rep, kiln.SupportReport) and rep.fully_supported and rep.num_engines == 1
    assert rep.ops["aten::conv2d"].kiln == 2
    assert "aten::conv2d: 2 in Kiln" in capsys.readouterr().out


def test_ts_require_full_compilation_error():
    class Net(torch.nn.Module):
        def forward(self, x):
            return torch.nonzero(torch.relu(x) > 0).float().sum() + x.sum()

    with pytest.raises(kiln.UnsupportedOperatorError, match="nonzero"):
        kiln.compile(Net().eval(), ir="ts", inputs=[torch.randn(4, 4)], require_full_compilation=True)


def test_ts_rejects_what_it_cannot_honour(convnet, tmp_path):
    with pytest.raises(ValueError, match="kwarg_inputs"):
        kiln.compile(convnet, ir="ts", inputs=[torch.randn(1, 3, 8, 8)], kwarg_inputs={"y": torch.randn(1)})
    with pytest.raises(ValueError, match="engine_cache_dir"):
        kiln.compile(convnet, ir="ts", inputs=[torch.randn(1, 3, 8, 8)], engine_cache_dir=str(tmp_path))


def test_convert_method_to_plan_and_check_support(convnet):
    plan = kiln.convert_method_to_plan(convnet, "forward", inputs=[kiln.Input((1, 3, 16, 16))], device="cpu")
    assert isinstance(plan, bytes) and len(plan) > 1000
    mod = kiln.EngineModule.from_plan(plan)  # the plan's own I/O names: the model's input is 'x'
    assert mod.input_names == ["x"] and mod.output_names == ["output_0"]
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert rel_err(mod(x), convnet(x)) < 1e-5
    rep = kiln.check_method_support(convnet, "forward", inputs=[kiln.Input((1, 3, 16, 16))])
    assert rep.fully_supported
