"""The legacy FX API (kiln.fx): compile, InputTensorSpec, KilnInterpreter, KilnModule."""

import pytest
import torch

import kiln
import kiln.fx as kfx
from conftest import rel_err, run_python


def test_input_tensor_spec_helpers():
    x, y = torch.randn(4, 3, 8, 8), torch.randn(4, 10)
    specs = kfx.InputTensorSpec.from_tensors([x, y])
    assert specs[0].shape == (4, 3, 8, 8) and specs[1].dtype == torch.float32
    dyn = kfx.InputTensorSpec.from_tensors_with_dynamic_batch_size([x, y], (1, 4, 16))
    assert dyn[0].shape == (-1, 3, 8, 8)
    assert dyn[0].shape_ranges == [((1, 3, 8, 8), (4, 3, 8, 8), (16, 3, 8, 8))]
    inp = dyn[1].to_input()
    assert inp.min_shape == (1, 10) and inp.max_shape == (16, 10)
    with pytest.raises(ValueError, match="batch_size_range"):
        kfx.InputTensorSpec.from_tensors_with_dynamic_batch_size([x], (0, 4, 2))
    with pytest.raises(ValueError, match="shape_ranges"):
        kfx.InputTensorSpec((-1, 3), torch.float32).to_input()


def test_interpreter_and_kiln_module(convnet, tmp_path):
    x = torch.randn(2, 3, 16, 16)
    specs = kfx.InputTensorSpec.from_tensors_with_dynamic_batch_size([x], (1, 2, 4))
    interp = kfx.KilnInterpreter(convnet, specs, explicit_batch_dimension=True)
    res = interp.run(max_workspace_size=1 << 25, lower_precision=kfx.LowerPrecision.FP32)
    assert list(res.input_names) == ["x"] and len(res.output_names) == 1
    assert isinstance(res.serialized_cache, bytes)
    mod = kfx.KilnModule(res.engine, res.input_names, res.output_names)
    with torch.no_grad():
        for b in (1, 4):
            xb = torch.randn(b, 3, 16, 16)
            assert rel_err(mod(xb), convnet(xb)) < 1e-5
    path = tmp_path / "kiln_module.pt"
    torch.save(mod, path)
    torch.save({"x": x, "ref": convnet(x).detach()}, tmp_path / "io.pt")
    out = run_python(f"""
        import torch, kiln
        m = torch.load({str(path)!r}, weights_only=False)
        io = torch.load({str(tmp_path / "io.pt")!r})
        assert isinstance(m, kiln.fx.KilnModule)
        err = ((m(io["x"]) - io["ref"]).abs().max() / io["ref"].abs().max()).item()
        print("ERR", err)
    """)
    assert float(out.split("ERR")[1]) < 1e-5


def test_interpreter_needs_full_conversion():
    class Net(torch.nn.Module):
        def forward(self, x):
            return torch.nonzero(x > 0).float().sum() + x.sum()

    interp = kfx.KilnInterpreter(Net(), [kfx.InputTensorSpec((4, 4), torch.float32)])
    with pytest.raises(kiln.UnsupportedOperatorError, match="nonzero"):
        interp.run()


def test_interpreter_and_compile_argument_errors(convnet):
    with pytest.raises(ValueError, match="explicit_batch_dimension"):
        kfx.KilnInterpreter(convnet, [torch.randn(1, 3, 8, 8)], explicit_batch_dimension=False)
    interp = kfx.KilnInterpreter(convnet, [torch.randn(1, 3, 8, 8)])
    with pytest.raises(ValueError, match="sparse_weights"):
        interp.run(sparse_weights=True)
    with pytest.raises(ValueError, match="lower_precision"):
        interp.run(lower_precision="fp8")
    with pytest.raises(TypeError, match="unexpected keyword"):
        interp.run(max_batchsize=4)
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="cuda_graph_batch_size"):
        kfx.compile(convnet, [x], cuda_graph_batch_size=8)
    with pytest.raises(ValueError, match="explicit_batch_dimension"):
        kfx.compile(convnet, [x], explicit_batch_dimension=False)
    with pytest.raises(ValueError, match="max_batch_size"):
        kfx.compile(convnet, [torch.randn(4, 3, 8, 8)], max_batch_size=2)
    with pytest.raises(ValueError, match="timing_cache_prefix"):
        kfx.compile(convnet, [x], save_timing_cache=True)


def test_fx_compile_dynamic_batch(convnet, tmp_path):
    x = torch.randn(2, 3, 16, 16)
    m = kfx.compile(
        convnet,
        [x],
        max_batch_size=8,
        min_acc_module_size=1,
        timing_cache_prefix=str(tmp_path / "tc"),
        save_timing_cache=True,
    )
    assert any(isinstance(s, kfx.KilnModule) for s in m.children())
    with torch.no_grad():
        for b in (1, 2, 8):
            xb = torch.randn(b, 3, 16, 16)
            assert rel_err(m(xb), convnet(xb)) < 1e-5


def test_fx_compile_static_small_blocks_stay_in_torch(mlp):
    x = torch.randn(2, 16)
    m = kfx.compile(mlp, [x], dynamic_batch=False)  # min_acc_module_size=10 > the 8 nodes of the MLP
    assert not any(isinstance(s, kfx.KilnModule) for s in m.children())
    with torch.no_grad():
        assert rel_err(m(x), mlp(x)) < 1e-6
