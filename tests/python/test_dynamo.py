"""The dynamo (torch.export) frontend: compile, dynamic shapes, fallbacks, options, dry run, caches."""

import logging

import pytest
import torch

import kiln
from conftest import MLP, ConvNet, rel_err


def engines_of(m):
    return [
        n
        for n in m.graph.nodes
        if n.op == "call_function" and n.target is torch.ops.kiln.execute_engine.default
    ]


def test_convnet_static_matches_eager(convnet):
    x = torch.randn(2, 3, 16, 16)
    m = kiln.compile(convnet, inputs=[x])
    assert isinstance(m, torch.fx.GraphModule)
    assert len(engines_of(m)) == 1
    rep = m.meta["kiln"]["report"]
    assert rep.fully_supported and rep.num_engines == 1
    with torch.no_grad():
        assert rel_err(m(x), convnet(x)) < 1e-5
    # Only the engine is left: no parameters on the PyTorch side.
    assert not list(m.parameters())


def test_dynamic_batch_across_range(convnet):
    inp = kiln.Input(min_shape=(1, 3, 16, 16), opt_shape=(4, 3, 16, 16), max_shape=(8, 3, 16, 16))
    m = kiln.compile(convnet, inputs=[inp])
    with torch.no_grad():
        for b in (1, 2, 5, 8):
            x = torch.randn(b, 3, 16, 16)
            out = m(x)
            assert out.shape == (b, 5)
            assert rel_err(out, convnet(x)) < 1e-5


def test_two_dynamic_dims():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l = torch.nn.Linear(16, 16)
            self.norm = torch.nn.LayerNorm(16)

        def forward(self, x):
            b, s, d = x.shape
            y = self.norm(torch.relu(self.l(x)))
            return y.reshape(b * s, d).softmax(-1), y.mean(1)

    net = Net().eval()
    inp = kiln.Input(min_shape=(1, 2, 16), opt_shape=(2, 8, 16), max_shape=(4, 12, 16))
    m = kiln.compile(net, inputs=[inp], min_block_size=1)
    with torch.no_grad():
        for shape in ((1, 2, 16), (3, 7, 16), (4, 12, 16)):
            x = torch.randn(shape)
            for o, r in zip(m(x), net(x)):
                assert o.shape == r.shape and rel_err(o, r) < 1e-5


def test_exported_program_input(mlp):
    batch = torch.export.Dim("batch", min=1, max=8)
    ep = torch.export.export(mlp, (torch.randn(4, 16),), dynamic_shapes={"x": {0: batch}})
    m = kiln.compile(ep, arg_inputs=[kiln.Input(min_shape=(1, 16), opt_shape=(4, 16), max_shape=(8, 16))])
    with torch.no_grad():
        for b in (1, 6):
            x = torch.randn(b, 16)
            assert rel_err(m(x), mlp(x)) < 1e-5
    # Without inputs: the program's example inputs and its own (bounded) dim ranges.
    m2 = kiln.compile(ep)
    with torch.no_grad():
        x = torch.randn(7, 16)
        assert rel_err(m2(x), mlp(x)) < 1e-5


def test_exported_program_unbounded_dim_needs_inputs(mlp):
    ep = torch.export.export(mlp, (torch.randn(4, 16),), dynamic_shapes={"x": {0: torch.export.Dim("b")}})
    with pytest.raises(ValueError, match="upper bound"):
        kiln.compile(ep)


def test_graph_module_input(mlp):
    gm = torch.fx.symbolic_trace(mlp)
    m = kiln.compile(gm, inputs=[torch.randn(3, 16)])
    with torch.no_grad():
        x = torch.randn(3, 16)
        assert rel_err(m(x), mlp(x)) < 1e-5


def test_kwarg_inputs_and_outputs_structure():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(8, 8)
            self.b = torch.nn.Linear(8, 8)

        def forward(self, x, *, scale=None, bias=None):
            y = torch.relu(self.a(x)) * scale
            return {"y": self.b(y) + bias, "parts": (y, y.max(dim=-1).values)}

    net = Net().eval()
    x, s, b = torch.randn(2, 8), torch.rand(2, 8), torch.randn(8)
    m = kiln.compile(net, inputs=[x], kwarg_inputs={"scale": s, "bias": b}, min_block_size=1)
    with torch.no_grad():
        out, ref = m(x, scale=s, bias=b), net(x, scale=s, bias=b)
    assert set(out) == {"y", "parts"}
    assert rel_err(out["y"], ref["y"]) < 1e-5
    assert rel_err(out["parts"][1], ref["parts"][1]) < 1e-5


def test_torch_executed_ops_fall_back(convnet):
    x = torch.randn(2, 3, 16, 16)
    m = kiln.compile(convnet, inputs=[x], torch_executed_ops={"aten::relu"}, min_block_size=1)
    rep = m.meta["kiln"]["report"]
    assert rep.ops["aten::relu"].torch == 2 and rep.ops["aten::relu"].kiln == 0
    assert "torch_executed_ops" in rep.ops["aten::relu"].reason
    assert rep.num_engines >= 2
    relus = [n for n in m.graph.nodes if n.target is torch.ops.aten.relu.default]
    assert len(relus) == 2
    with torch.no_grad():
        assert rel_err(m(x), convnet(x)) < 1e-5
    # Op objects work too.
    m2 = kiln.compile(convnet, inputs=[x], torch_executed_ops=[torch.ops.aten.relu.default], min_block_size=1)
    assert m2.meta["kiln"]["report"].ops["aten::relu"].torch == 2


class DataDependent(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(8, 8)
        self.l2 = torch.nn.Linear(8, 8)

    def forward(self, x):
        y = torch.relu(self.l1(x))
        n = torch.nonzero(y > 0.1).shape[0]  # its row count is read: runs in PyTorch
        return self.l2(y) * 2 + n


def test_unsupported_op_partitions():
    net = DataDependent().eval()
    x = torch.randn(4, 8)
    m = kiln.compile(net, inputs=[x], min_block_size=1)
    rep = m.meta["kiln"]["report"]
    assert rep.ops["aten::nonzero"].torch == 1
    assert "rows known only at run time" in rep.ops["aten::nonzero"].reason
    assert not rep.fully_supported and rep.num_engines >= 1
    with torch.no_grad():
        assert rel_err(m(x), net(x)) < 1e-5


def test_require_full_compilation_raises():
    with pytest.raises(kiln.UnsupportedOperatorError, match="aten::nonzero"):
        kiln.compile(DataDependent().eval(), inputs=[torch.randn(4, 8)], require_full_compilation=True)


def test_min_block_size_keeps_small_blocks_in_torch(mlp):
    x = torch.randn(2, 16)
    m = kiln.compile(mlp, inputs=[x], min_block_size=100)
    assert not engines_of(m)
    rep = m.meta["kiln"]["report"]
    assert rep.num_engines == 0 and "min_block_size" in rep.ops["aten::addmm"].reason
    with torch.no_grad():
        assert rel_err(m(x), mlp(x)) < 1e-6


def test_dry_run_reports_and_builds_nothing(capsys):
    rep = kiln.compile(DataDependent().eval(), inputs=[torch.randn(4, 8)], dry_run=True, min_block_size=1)
    assert isinstance(rep, kiln.SupportReport)
    printed = capsys.readouterr().out
    assert "aten::nonzero: 1 in PyTorch (its result (rows known only at run time) is read by" in printed
    assert rep.kiln_nodes > 0 and rep.torch_nodes == 1 and str(rep) == rep.text
    assert "aten::nonzero" in rep.summary()
    rep2 = kiln.dry_run(ConvNet().eval(), inputs=[torch.randn(1, 3, 8, 8)])
    assert rep2.fully_supported and rep2.num_engines == 1


def test_engine_cache_dir(tmp_path, mlp, caplog):
    x = torch.randn(2, 16)
    m1 = kiln.compile(mlp, inputs=[x], engine_cache_dir=str(tmp_path))
    assert len(list(tmp_path.glob("*.kiln"))) == 1
    with caplog.at_level(logging.INFO, logger="kiln"):
        m2 = kiln.compile(mlp, inputs=[x], engine_cache_dir=str(tmp_path))
    assert any("engine cache hit" in r.getMessage() for r in caplog.records)
    with torch.no_grad():
        assert torch.equal(m1(x), m2(x))
    # Other weights: another entry.
    other = MLP().eval()
    kiln.compile(other, inputs=[x], engine_cache_dir=str(tmp_path))
    assert len(list(tmp_path.glob("*.kiln"))) == 2


def test_ir_fx_builds_engine_submodules(convnet):
    x = torch.randn(2, 3, 16, 16)
    m = kiln.compile(convnet, ir="fx", inputs=[x])
    subs = dict(m.named_children())
    assert "kiln_engine_0" in subs and isinstance(subs["kiln_engine_0"], kiln.fx.KilnModule)
    with torch.no_grad():
        assert rel_err(m(x), convnet(x)) < 1e-5


def test_int_inputs_and_embedding():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(50, 8)
            self.l = torch.nn.Linear(8, 3)

        def forward(self, ids):
            return self.l(self.emb(ids)).sum(1)

    net = Net().eval()
    ids = torch.randint(0, 50, (2, 5))
    m = kiln.compile(
        net,
        inputs=[kiln.Input(min_shape=(1, 5), opt_shape=(2, 5), max_shape=(4, 5), dtype=torch.int64)],
        min_block_size=1,
    )
    with torch.no_grad():
        assert rel_err(m(ids), net(ids)) < 1e-5
        ids3 = torch.randint(0, 50, (3, 5))
        assert rel_err(m(ids3), net(ids3)) < 1e-5


def test_debug_flag_logs(caplog, mlp):
    before = kiln.logging.get_level()
    with caplog.at_level(logging.DEBUG, logger="kiln"):
        kiln.compile(mlp, inputs=[torch.randn(2, 16)], debug=True)
    assert any("Kiln:" in r.getMessage() for r in caplog.records)
    assert kiln.logging.get_level() == before


def test_two_scalar_tensor_constants():
    # Regression: constants were once cached by the TensorImpl* of temporaries, so the second
    # scalar_tensor reused the first one's value (seen in swin_t's attention mask).
    class Net(torch.nn.Module):
        def forward(self, a, b):
            s = a - b
            w = torch.where(s != 0, torch.scalar_tensor(-100.0), s)
            return torch.where(s == 0, torch.scalar_tensor(0.0), w)

    net = Net()
    a, b = torch.tensor([0.0, 1.0, 2.0, 0.0]).view(1, 1, 4), torch.tensor([0.0, 1.0, 2.0, 3.0]).view(1, 4, 1)
    m = kiln.compile(net, inputs=[a, b], min_block_size=1)
    assert torch.equal(m(a, b), net(a, b))
