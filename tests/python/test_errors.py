"""Typed errors: every failure reaches Python as the KilnError subclass of its C++ StatusCode
(registered with kiln._C by code, never read from the message), with a message naming what failed."""

import io
import logging
import pickle
import zipfile

import pytest
import torch

import kiln
from conftest import alter_args_into_kiln, requires_fake_kernel
from kiln import _errors
from kiln.dynamo import _graph
from kiln.dynamo._compiler import lower_exported


@pytest.fixture
def mlp_dynamic(mlp):
    return kiln.compile(mlp, inputs=[kiln.Input(min_shape=(1, 16), opt_shape=(2, 16), max_shape=(4, 16))])


def _plan_state(mlp):
    m = kiln.convert(mlp, [torch.randn(2, 16)])
    return m, m.state_dict()


def _reload(state):
    m = kiln.EngineModule()
    m.load_state_dict(state)
    return m


# ---- the table --------------------------------------------------------------------------------------------
def test_every_status_code_has_its_class():
    names = list(kiln._C.status_code_names())
    assert set(names) == set(_errors.CODE_CLASSES) == set(_errors.COMPILE_CLASSES)
    seen = set()
    for code in names:
        cls = _errors.CODE_CLASSES[code]
        assert issubclass(cls, kiln.KilnError) and cls.code == code and cls not in seen
        seen.add(cls)
        comp = _errors.COMPILE_CLASSES[code]
        assert issubclass(comp, kiln.CompilationError) and issubclass(comp, cls) and comp().code == code
    assert _errors.COMPILE_CLASSES["Unsupported"] is kiln.UnsupportedOperatorError


def test_hierarchy_kept():
    assert issubclass(kiln.KilnError, RuntimeError)
    assert issubclass(kiln.CompilationError, kiln.KilnError)
    assert issubclass(kiln.UnsupportedOperatorError, kiln.CompilationError)
    assert issubclass(kiln.ExportError, kiln.KilnError)
    assert issubclass(kiln.InvalidArgumentError, ValueError)  # what InvalidArgument raised before
    assert issubclass(kiln.DTypeError, TypeError)
    assert kiln.KilnError("m", "ShapeError").code == "ShapeError"  # the old (message, code) constructor


def test_compile_phase_errors_pickle():
    e = _errors.COMPILE_CLASSES["ShapeError"]("[builder] bad shape")
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is type(e) and isinstance(e2, kiln.ShapeError) and str(e2) == str(e)


def test_class_comes_from_the_code_not_the_message():
    # A message that names another category does not change the class.
    with pytest.raises(kiln.ShapeError) as ei:
        _errors.raise_status("ShapeError", "Unsupported: require_full_compilation InvalidArgument")
    assert not isinstance(ei.value, kiln.UnsupportedOperatorError) and ei.value.code == "ShapeError"


def test_cpp_backtraces_never_reach_the_user():
    # c10::Error::what() appends libtorch's backtrace; Kiln messages that quote one drop it.
    msg = (
        "[frontend.torchscript] lowering the TorchScript module failed: bad thing\n"
        "Exception raised from foo at /src/x.cpp:12 (most recent call first):\n"
        "frame #0: c10::Error::Error(c10::SourceLocation, std::string) + 0x1 (0x7f in /lib/libc10.so)\n"
        "frame #1: bar + 0x2 (0x7f in /lib/libtorch_cpu.so)\n"
    )
    with pytest.raises(kiln.InvalidArgumentError) as ei:
        _errors.raise_status("InvalidArgument", msg, "kiln.compile")
    assert (
        str(ei.value)
        == "kiln.compile: [frontend.torchscript] lowering the TorchScript module failed: bad thing"
    )
    for exc in (RuntimeError(msg), _errors.COMPILE_CLASSES["InvalidArgument"](msg)):
        with pytest.raises(kiln.KilnError) as ei:
            with _errors.error_context("kiln.compile(ir='ts')"):
                raise exc
        assert "frame #" not in str(ei.value) and "Exception raised from" not in str(ei.value)
        assert str(ei.value).endswith("bad thing")


# ---- running an engine -------------------------------------------------------------------------------------
def test_shape_outside_profile_is_shape_error(mlp_dynamic):
    # The compiled module checks its inputs before any engine runs, in forward()'s terms: the argument's
    # name, the shape given and the range compiled for.
    with pytest.raises(kiln.ShapeError) as ei:
        mlp_dynamic(torch.randn(9, 16))
    e = ei.value
    assert e.code == "ShapeError" and not isinstance(e, kiln.CompilationError)
    assert "input 'x' has shape (9, 16); dim 0 = 9 is outside the range" in str(e)
    assert "[1, 4]" in str(e) and "max_shape=(4, 16)" in str(e)
    with pytest.raises(
        kiln.ShapeError, match="input 'x' has shape \\(2, 5\\); dim 1 = 5 but the module was compiled for 16"
    ):
        mlp_dynamic(torch.randn(2, 5))
    with pytest.raises(kiln.ShapeError, match="input 'x' has shape \\(16,\\) \\(1 dims\\)"):
        mlp_dynamic(torch.randn(16))


def test_engine_checks_the_profile_itself(mlp_dynamic):
    # Under the module's check, the engine's own: the engine, its input, the dim and the profile's range.
    eng = mlp_dynamic.kiln_engine_0
    name = eng.input_names()[0]
    with pytest.raises(kiln.ShapeError, match="outside optimization profile") as ei:
        torch.ops.kiln.execute_engine([torch.randn(9, 16)], eng)
    assert "engine 'kiln_engine_0'" in str(ei.value) and f"input '{name}' of shape [9,16]: dim 0 = 9" in str(
        ei.value
    )
    assert "range [1, 4]" in str(ei.value)
    assert not isinstance(ei.value, kiln.CompilationError)


def test_shape_error_from_the_engine_module(mlp):
    m, _ = _plan_state(mlp)
    with pytest.raises(
        kiln.ShapeError, match="input 'x' of shape \\[2,5\\]: dim 1 = 5 but the engine was built for 16"
    ):
        m(torch.randn(2, 5))


def test_engine_inputs_are_named_after_the_model(mlp_dynamic, mlp):
    # Engines name their inputs after the model's values (forward()'s arguments), so the engine's own
    # errors (a reloaded module, TorchScript, kiln.convert) say 'x' too, not 'input_0'.
    assert list(mlp_dynamic.kiln_engine_0.input_names()) == ["x"]
    ts = kiln.compile(
        mlp, ir="ts", inputs=[kiln.Input(min_shape=(1, 16), opt_shape=(2, 16), max_shape=(4, 16))]
    )
    with pytest.raises(
        RuntimeError,
        match="input 'x' of shape \\[9,16\\]: dim 0 = 9 is outside optimization profile 0 range \\[1, 4\\]",
    ):
        ts(torch.randn(9, 16))


def test_wrong_dtype_is_dtype_error(mlp_dynamic):
    with pytest.raises(kiln.DTypeError) as ei:
        mlp_dynamic(torch.randn(2, 16, dtype=torch.float64))
    assert isinstance(ei.value, TypeError) and ei.value.code == "TypeError"
    assert "input 'x' is torch.float64; the module was compiled for torch.float32" in str(ei.value)
    eng = mlp_dynamic.kiln_engine_0
    with pytest.raises(kiln.DTypeError, match="must be Float, got Double"):
        torch.ops.kiln.execute_engine([torch.randn(2, 16, dtype=torch.float64)], eng)


def test_input_names_come_from_forward():
    class TwoInputs(torch.nn.Module):
        def forward(self, image, mask=None):
            return torch.relu(image) * mask

    m = kiln.compile(TwoInputs().eval(), inputs=[torch.randn(2, 3)], kwarg_inputs={"mask": torch.ones(2, 3)})
    with pytest.raises(kiln.ShapeError, match="input 'mask' has shape \\(2, 4\\)"):
        m(torch.randn(2, 3), mask=torch.ones(2, 4))
    with pytest.raises(kiln.ShapeError, match="input 'image'"):
        m(torch.randn(3, 3), mask=torch.ones(2, 3))


@requires_fake_kernel
def test_input_check_is_skipped_while_tracing(mlp_dynamic, tmp_path):
    # kiln.save re-exports the module with symbolic shapes: the check must stay out of the way.
    kiln.save(mlp_dynamic, str(tmp_path / "m.ep"), inputs=[torch.randn(2, 16)])
    assert (tmp_path / "m.ep").exists()


def test_corrupt_plan_is_corrupt_plan_error(mlp):
    m, sd = _plan_state(mlp)
    st = dict(sd["_extra_state"])
    plan = st["plan"].clone()
    plan[-1] ^= 0xFF
    st["plan"] = plan
    with pytest.raises(kiln.CorruptPlanError, match="checksum") as ei:
        _reload({"_extra_state": st})
    assert f"engine '{m.engine_name}'" in str(ei.value)
    st["plan"] = sd["_extra_state"]["plan"][:20].clone()
    with pytest.raises(kiln.CorruptPlanError, match="truncated"):
        _reload({"_extra_state": st})


def test_plan_of_another_format_version_is_version_mismatch(mlp):
    m, sd = _plan_state(mlp)
    st = dict(sd["_extra_state"])
    plan = st["plan"].clone()
    plan[8:12] = torch.tensor([0xE7, 0x03, 0, 0], dtype=torch.uint8)  # format version 999 (little endian)
    st["plan"] = plan
    with pytest.raises(kiln.VersionMismatchError, match="version 999") as ei:
        _reload({"_extra_state": st})
    assert f"engine '{m.engine_name}'" in str(ei.value)


def test_typed_errors_survive_a_pickled_module(mlp):
    m, _ = _plan_state(mlp)
    buf = io.BytesIO()
    torch.save(m, buf)
    m2 = torch.load(io.BytesIO(buf.getvalue()), weights_only=False)
    with pytest.raises(kiln.ShapeError):
        m2(torch.randn(3, 16))


# ---- compiling -------------------------------------------------------------------------------------------
class _Nonzero(torch.nn.Module):
    def forward(self, x):
        return torch.nonzero(torch.relu(x) + 1.0).float().sum() + x.sum()


@pytest.mark.parametrize("ir", ["dynamo", "ts"])
def test_unsupported_op_with_full_compilation(ir):
    x = torch.randn(4, 4)
    with pytest.raises(kiln.UnsupportedOperatorError, match="aten::nonzero") as ei:
        kiln.compile(_Nonzero().eval(), ir=ir, inputs=[x], require_full_compilation=True, min_block_size=1)
    e = ei.value
    assert (
        isinstance(e, kiln.UnsupportedError)
        and isinstance(e, kiln.CompilationError)
        and e.code == "Unsupported"
    )
    assert str(e).startswith("kiln.compile")


def test_single_engine_refusal_is_unsupported():
    with pytest.raises(kiln.UnsupportedOperatorError, match="nonzero"):
        kiln.convert(_Nonzero().eval(), [torch.randn(4, 4)])


def test_save_without_fake_kernel_is_unsupported_error(monkeypatch, mlp):
    monkeypatch.setattr(kiln._fake, "FAKE_KERNEL_ERROR", "catch-all kernel")
    m = kiln.compile(mlp, inputs=[torch.randn(2, 16)])
    with pytest.raises(kiln.UnsupportedError, match="CompositeExplicitAutograd") as ei:
        kiln.save(m, "/nonexistent/m.ep", inputs=[torch.randn(2, 16)])
    assert ei.value.code == "Unsupported"


def test_export_failure_is_export_error():
    class DataDependent(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: torch.export refuses it
                return x + 1
            return x - 1

    with pytest.raises(kiln.ExportError):
        kiln.compile(DataDependent().eval(), inputs=[torch.randn(2, 3)])


# ---- loading ------------------------------------------------------------------------------------------------
def _corrupt_plan_in_archive(path, out):
    """Rewrites the zip archive `path` to `out` with one byte of the first engine plan inside flipped."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        hit = False
        for info in src.infolist():
            data = src.read(info.filename)
            i = data.find(b"KILNPLAN")
            if i >= 0 and not hit:
                data = data[: i + 200] + bytes([data[i + 200] ^ 0xFF]) + data[i + 201 :]
                hit = True
            dst.writestr(info, data)
    assert hit, "no plan found in the archive"


@pytest.mark.parametrize(
    "fmt",
    [pytest.param("exported_program", marks=requires_fake_kernel), "torchscript", "pickle"],
)
def test_corrupt_plan_in_a_saved_file_is_the_exception(fmt, mlp, tmp_path):
    x = torch.randn(2, 16)
    m = kiln.compile(mlp, inputs=[x])
    path, bad = tmp_path / "m.bin", tmp_path / "bad.bin"
    if fmt == "pickle":
        buf = io.BytesIO()
        torch.save(m, buf)
        data = buf.getvalue()
        i = data.find(b"KILNPLAN")
        bad.write_bytes(data[: i + 200] + bytes([data[i + 200] ^ 0xFF]) + data[i + 201 :])
    else:
        kiln.save(m, str(path), inputs=[x], output_format=fmt)
        _corrupt_plan_in_archive(path, bad)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    torch_export_log = logging.getLogger("torch.export")  # torch's loggers do not propagate to caplog
    torch_export_log.addHandler(handler)
    try:
        with pytest.raises(kiln.CorruptPlanError, match="checksum mismatch") as ei:
            kiln.load(str(bad))
    finally:
        torch_export_log.removeHandler(handler)
    assert str(ei.value).startswith(f"kiln.load: {bad}: ") and "engine 'kiln_engine_0'" in str(ei.value)
    # The reason is the exception's text, not a warning logged beside a generic error.
    assert not [r for r in records if r.exc_info]
    assert "Traceback" not in str(ei.value) and "frame #" not in str(ei.value)


def test_raw_plan_passed_to_load_says_what_it_is(mlp, tmp_path):
    m = kiln.convert(mlp, [torch.randn(2, 16)])
    path = tmp_path / "model.plan"
    path.write_bytes(m.engine.plan().numpy().tobytes())
    with pytest.raises(kiln.InvalidArgumentError, match="is a raw Kiln engine plan") as ei:
        kiln.load(str(path))
    assert "kiln.EngineModule.from_plan(" in str(ei.value) and "kilnc --plan" in str(ei.value)
    # ... and what it advises runs the plan, with the plan's own input and output names.
    x = torch.randn(2, 16)
    em = kiln.EngineModule.from_plan(str(path))
    assert em.input_names == ["x"] and em.output_names == ["output_0"]
    with torch.no_grad():
        torch.testing.assert_close(em(x), mlp(x), rtol=1e-5, atol=1e-5)


# ---- compile errors name the model's module and line --------------------------------------------------------
class _Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv2(x) + x  # the line the messages name


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = torch.nn.Sequential(_Block(), _Block())

    def forward(self, x):
        return self.layer1(x)


def test_graph_nodes_name_the_module_and_line():
    ep = torch.export.export(_Net().eval(), (torch.randn(1, 4, 8, 8),), strict=False)
    gm = lower_exported(ep)
    convs = [n for n in gm.graph.nodes if n.target is torch.ops.aten.convolution.default]
    src = _graph._source(convs[1], "aten::convolution", convs[1].args)
    assert "# self.layer1[1].conv2 (Conv2d) at test_errors.py:" in src, src
    assert "torch/nn/modules" not in src


def test_converter_error_names_the_module_and_line(monkeypatch):
    # A convolution that reaches the converter with stride 0 (its arguments altered on the way into Kiln):
    # the build error names the layer as the model's code does, not the FX node alone.

    def zero_stride(args):
        args[3] = [0, 0]

    alter_args_into_kiln(monkeypatch, "aten::convolution", "layer1.1.conv2", zero_stride)
    with pytest.raises(kiln.CompilationError, match="strides and dilations must be >= 1") as ei:
        kiln.compile(_Net().eval(), inputs=[torch.randn(1, 4, 8, 8)], min_block_size=1)
    assert "# self.layer1[1].conv2 (Conv2d) at test_errors.py:" in str(ei.value)
