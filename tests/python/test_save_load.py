"""kiln.save / kiln.load round trips, each checked in a fresh process."""

import pytest
import torch

import kiln
from conftest import rel_err, requires_fake_kernel, run_python


@pytest.fixture
def io_file(tmp_path, convnet):
    def make(*batches):
        data = {}
        with torch.no_grad():
            for b in batches:
                x = torch.randn(b, 3, 16, 16)
                data[b] = (x, convnet(x))
        path = tmp_path / "io.pt"
        torch.save(data, path)
        return str(path)

    return make


CHECK = """
        io = torch.load({io!r})
        worst = 0.0
        for b, (x, ref) in io.items():
            out = run(x)
            assert out.shape == ref.shape, (out.shape, ref.shape)
            worst = max(worst, ((out - ref).abs().max() / ref.abs().max()).item())
        print("ERR", worst)
"""


def check(out: str) -> None:
    assert float(out.split("ERR")[1]) < 1e-5


DYN = kiln.Input(min_shape=(1, 3, 16, 16), opt_shape=(2, 3, 16, 16), max_shape=(4, 3, 16, 16))


@requires_fake_kernel
def test_exported_program_roundtrip_dynamic(tmp_path, convnet, io_file):
    m = kiln.compile(convnet, inputs=[DYN])
    path = str(tmp_path / "model.pt2")
    kiln.save(m, path)  # the compiled module remembers its inputs (dynamic batch 1..4)
    io = io_file(1, 3, 4)
    check(
        run_python(
            f"""
        import torch, kiln
        ep = kiln.load({path!r})
        assert isinstance(ep, torch.export.ExportedProgram)
        assert any(n.target is torch.ops.kiln.execute_engine.default for n in ep.graph.nodes)
        run = ep.module()
    """
            + CHECK.format(io=io)
        )
    )


@requires_fake_kernel
def test_reexport_keeps_symbolic_batch(convnet):
    m = kiln.compile(convnet, inputs=[DYN])
    b = torch.export.Dim("b", min=1, max=4)
    ep = torch.export.export(m, (torch.randn(2, 3, 16, 16),), dynamic_shapes={"x": {0: b}})
    x_val = next(n for n in ep.graph.nodes if n.op == "placeholder" and n.name == "x").meta["val"]
    out_val = [n for n in ep.graph.nodes if n.op == "output"][0].args[0][0].meta["val"]
    assert isinstance(out_val.shape[0], torch.SymInt) and str(out_val.shape[0]) == str(x_val.shape[0])
    assert out_val.shape[1] == 5
    with torch.no_grad():
        x = torch.randn(3, 3, 16, 16)
        assert rel_err(ep.module()(x), convnet(x)) < 1e-5


def test_torchscript_roundtrip_needs_only_the_runtime(tmp_path, convnet, io_file):
    m = kiln.compile(convnet, inputs=[DYN])
    path = str(tmp_path / "model.ts")
    kiln.save(m, path, output_format="torchscript")
    io = io_file(1, 4)
    # A process that never imports kiln: torch + libkiln_runtime only.
    check(
        run_python(
            f"""
        import torch
        torch.ops.load_library({kiln.runtime_library_path()!r})
        run = torch.jit.load({path!r})
    """
            + CHECK.format(io=io)
        )
    )
    check(
        run_python(
            f"""
        import torch, kiln
        run = kiln.load({path!r})
        assert isinstance(run, torch.jit.ScriptModule)
    """
            + CHECK.format(io=io)
        )
    )


def test_ts_module_roundtrip(tmp_path, convnet, io_file):
    m = kiln.compile(convnet, ir="ts", inputs=[DYN])
    path = str(tmp_path / "model_ts.ts")
    kiln.save(m, path)  # a ScriptModule saves as TorchScript
    with pytest.raises(ValueError, match="torchscript"):
        kiln.save(m, str(tmp_path / "x.pt2"), output_format="exported_program")
    check(
        run_python(
            f"""
        import torch, kiln
        run = kiln.load({path!r})
    """
            + CHECK.format(io=io_file(2, 3))
        )
    )


def test_pickle_roundtrip(tmp_path, convnet, io_file):
    m = kiln.compile(convnet, inputs=[DYN])
    path = str(tmp_path / "model.pkl")
    kiln.save(m, path, output_format="pickle")
    check(
        run_python(
            f"""
        import torch, kiln
        run = kiln.load({path!r})
        assert isinstance(run, torch.fx.GraphModule)
    """
            + CHECK.format(io=io_file(1, 2))
        )
    )


def test_save_load_errors(tmp_path, convnet):
    m = kiln.compile(convnet, inputs=[torch.randn(1, 3, 16, 16)])
    with pytest.raises(ValueError, match="output_format"):
        kiln.save(m, str(tmp_path / "m"), output_format="onnx")
    with pytest.raises(ValueError, match="inputs"):
        kiln.save(torch.nn.Linear(2, 2), str(tmp_path / "m.pt2"))
    with pytest.raises(TypeError, match="file_path"):
        kiln.save(m, 3)
    with pytest.raises(FileNotFoundError):
        kiln.load(str(tmp_path / "missing.pt2"))
    bad = tmp_path / "garbage.bin"
    bad.write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="not an ExportedProgram"):
        kiln.load(str(bad))


@pytest.mark.skipif(kiln._fake.FAKE_KERNEL_ERROR is None, reason="this runtime supports re-export")
def test_exported_program_refused_with_reason_without_fake_kernel(tmp_path, convnet):
    m = kiln.compile(convnet, inputs=[DYN])
    with pytest.raises(kiln.KilnError, match="CompositeExplicitAutograd"):
        kiln.save(m, str(tmp_path / "m.pt2"))
