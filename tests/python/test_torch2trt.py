"""torch2trt-style kiln.convert and EngineModule (state_dict round trips)."""

import pytest
import torch

import kiln
from conftest import rel_err, run_python


def test_convert_and_state_dict_roundtrip_in_fresh_process(convnet, tmp_path):
    x = torch.randn(1, 3, 16, 16)
    m = kiln.convert(convnet, [x])
    assert isinstance(m, kiln.EngineModule) and isinstance(m, torch.nn.Module)
    with torch.no_grad():
        assert rel_err(m(x), convnet(x)) < 1e-5
    sd = m.state_dict()
    assert "_extra_state" in sd
    m2 = kiln.EngineModule()
    m2.load_state_dict(sd)
    with torch.no_grad():
        assert torch.equal(m2(x), m(x))
    torch.save(sd, tmp_path / "m_kiln.pth")
    torch.save({"x": x, "ref": convnet(x).detach()}, tmp_path / "io.pt")
    out = run_python(f"""
        import torch, kiln
        m = kiln.EngineModule()
        m.load_state_dict(torch.load({str(tmp_path / "m_kiln.pth")!r}, weights_only=False))
        io = torch.load({str(tmp_path / "io.pt")!r})
        print("ERR", ((m(io["x"]) - io["ref"]).abs().max() / io["ref"].abs().max()).item())
    """)
    assert float(out.split("ERR")[1]) < 1e-5


def test_convert_dynamic_batch_and_shapes(convnet):
    x = torch.randn(2, 3, 16, 16)
    m = kiln.convert(convnet, [x], max_batch_size=6)
    with torch.no_grad():
        for b in (1, 6):
            xb = torch.randn(b, 3, 16, 16)
            assert rel_err(m(xb), convnet(xb)) < 1e-5
    m2 = kiln.convert(
        convnet, [x], min_shapes=[(1, 3, 8, 8)], opt_shapes=[(2, 3, 16, 16)], max_shapes=[(2, 3, 24, 24)]
    )
    with torch.no_grad():
        xs = torch.randn(1, 3, 12, 20)
        assert rel_err(m2(xs), convnet(xs)) < 1e-5


def test_convert_multiple_outputs_structure():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l = torch.nn.Linear(8, 8)

        def forward(self, a, b):
            y = self.l(a) + b
            return {"sum": y, "act": (torch.relu(y), y.sigmoid())}

    net = Net().eval()
    a, b = torch.randn(2, 8), torch.randn(2, 8)
    m = kiln.convert(net, [a, b])
    out, ref = m(a, b), net(a, b)
    assert set(out) == {"sum", "act"} and rel_err(out["act"][1], ref["act"][1]) < 1e-5
    m2 = kiln.EngineModule()
    m2.load_state_dict(m.state_dict())
    assert rel_err(m2(a, b)["sum"], ref["sum"]) < 1e-5


def test_convert_errors(convnet):
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="int8_calib_batch_size"):
        kiln.convert(convnet, [x], int8_mode=True, int8_calib_batch_size=0)
    with pytest.raises(ValueError, match="min_shapes"):
        kiln.convert(convnet, [x], min_shapes=[(1, 3, 8, 8)])
    with pytest.raises(TypeError, match="input 0"):
        kiln.convert(convnet, [3])
    with pytest.raises(TypeError, match="unexpected keyword"):
        kiln.convert(convnet, [x], fp16=True)

    class Net(torch.nn.Module):
        def forward(self, x):
            return torch.nonzero(x > 0).float().sum() + x.sum()

    with pytest.raises(kiln.UnsupportedOperatorError, match="nonzero"):
        kiln.convert(Net(), [torch.randn(4, 4)])
    with pytest.raises(RuntimeError, match="no engine"):
        kiln.EngineModule()(x)
