"""Typed errors: every failure reaches Python as the KilnError subclass of its C++ StatusCode
(registered with kiln._C by code, never read from the message), with a message naming what failed."""

import io
import pickle

import pytest
import torch

import kiln
from kiln import _errors


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


# ---- running an engine -------------------------------------------------------------------------------------
def test_shape_outside_profile_is_shape_error(mlp_dynamic):
    with pytest.raises(kiln.ShapeError, match="outside optimization profile") as ei:
        mlp_dynamic(torch.randn(9, 16))
    # Engine inputs are named input_<i> by the partitioner: the message names the engine, the input, the
    # offending dim and the profile's range.
    assert ei.value.code == "ShapeError"
    assert "engine 'kiln_engine_0'" in str(ei.value) and "input 'input_0' dim 0 = 9" in str(ei.value)
    assert "range [1, 4]" in str(ei.value)
    assert not isinstance(ei.value, kiln.CompilationError)


def test_shape_error_from_the_engine_module(mlp):
    m, _ = _plan_state(mlp)
    with pytest.raises(kiln.ShapeError, match="input 'input_0' dim 1 = 5 but the engine was built for 16"):
        m(torch.randn(2, 5))


def test_wrong_dtype_is_dtype_error(mlp_dynamic):
    with pytest.raises(kiln.DTypeError) as ei:
        mlp_dynamic(torch.randn(2, 16, dtype=torch.float64))
    assert isinstance(ei.value, TypeError) and ei.value.code == "TypeError"
    assert "input 0 ('input_0') must be Float, got Double" in str(ei.value)


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
