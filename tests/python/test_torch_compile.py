"""torch.compile(model, backend="kiln", options={...})."""

import pytest
import torch

import kiln
from conftest import rel_err, requires_fake_kernel


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_backend_is_registered():
    assert "kiln" in torch._dynamo.list_backends()


def test_torch_compile_matches_and_recompiles_per_shape(convnet):
    m = torch.compile(convnet, backend="kiln", options={"min_block_size": 1, "device": "cpu"})
    with torch.no_grad():
        for b in (2, 1, 2):
            x = torch.randn(b, 3, 16, 16)
            assert rel_err(m(x), convnet(x)) < 1e-5


def test_graph_break_and_fallback():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(8, 8)
            self.b = torch.nn.Linear(8, 8)

        def forward(self, x):
            y = torch.relu(self.a(x))
            print("graph break")  # noqa: T201 - splits the dynamo graph
            return self.b(y).sigmoid()

    net = Net().eval()
    m = torch.compile(net, backend="kiln", options={"min_block_size": 1})
    x = torch.randn(3, 8)
    with torch.no_grad():
        assert rel_err(m(x), net(x)) < 1e-5


def test_unknown_option_raises(convnet):
    m = torch.compile(convnet, backend="kiln", options={"min_blocksize": 1})
    with pytest.raises(Exception, match="min_blocksize"):
        m(torch.randn(1, 3, 16, 16))


def test_bad_option_value_raises(convnet):
    m = torch.compile(convnet, backend="kiln", options={"optimization_level": 11})
    with pytest.raises(Exception, match="optimization_level"):
        m(torch.randn(1, 3, 16, 16))


def test_ir_torch_compile(mlp):
    m = kiln.compile(mlp, ir="torch_compile", min_block_size=1)
    x = torch.randn(2, 16)
    with torch.no_grad():
        assert rel_err(m(x), mlp(x)) < 1e-5
    with pytest.raises(ValueError, match="dry_run"):
        kiln.compile(mlp, ir="torch_compile", dry_run=True)
    with pytest.raises(ValueError, match="takes no inputs"):
        kiln.compile(mlp, ir="torch_compile", inputs=[x])


@requires_fake_kernel
def test_torch_compile_of_a_compiled_module(convnet):
    """Compiled modules trace again (fake class + fake kernel, symbolic batch)."""
    inp = kiln.Input(min_shape=(1, 3, 16, 16), opt_shape=(2, 3, 16, 16), max_shape=(4, 3, 16, 16))
    m = kiln.compile(convnet, inputs=[inp])
    t = torch.compile(m, backend="aot_eager", fullgraph=True, dynamic=True)
    with torch.no_grad():
        for b in (3, 2, 4):
            x = torch.randn(b, 3, 16, 16)
            assert rel_err(t(x), convnet(x)) < 1e-5
