"""Torch-TensorRT / torch2trt drop-in: the programs in dropin/ (written from those projects' documentation, with
only the import line changed) run in fresh interpreters; and the keyword table (kiln._keywords) warns on
keywords that change nothing in Kiln and refuses the ones it cannot honour, at every entry point."""

import os
import re
import subprocess
import sys
import warnings

import pytest
import torch

import kiln
from conftest import REPO
from kiln import _keywords

DROPIN = os.path.join(os.path.dirname(__file__), "dropin")
PROGRAMS = sorted(f for f in os.listdir(DROPIN) if f.endswith(".py"))

# The one line each program changed: what it was in the original program.
_IMPORT_LINES = {
    "import kiln as torch_tensorrt": "import torch_tensorrt",
    'import kiln as torch_tensorrt  # noqa: F401 - registers the "torch_tensorrt" backend': "import torch_tensorrt",
    "from kiln.torch2trt import TRTModule, torch2trt": "from torch2trt import TRTModule, torch2trt",
}


def test_programs_are_there():
    trt = [p for p in PROGRAMS if p.startswith("trt_")]
    t2t = [p for p in PROGRAMS if p.startswith("t2t_")]
    assert len(trt) >= 5 and len(t2t) >= 2, PROGRAMS


@pytest.mark.parametrize("program", PROGRAMS)
def test_only_the_import_line_names_kiln(program):
    with open(os.path.join(DROPIN, program)) as f:
        lines = f.read().splitlines()
    kiln_lines = [ln for ln in lines if re.search(r"\bkiln\b", ln)]
    assert len(kiln_lines) == 1 and kiln_lines[0] in _IMPORT_LINES, kiln_lines


@pytest.mark.parametrize("program", PROGRAMS)
def test_program_runs(program):
    env = dict(os.environ)
    if os.environ.get("KILN_BUILD_DIR"):
        env["PYTHONPATH"] = os.path.join(REPO, "python") + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "2")
    r = subprocess.run(
        [sys.executable, os.path.join(DROPIN, program)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=DROPIN,
    )
    assert r.returncode == 0 and r.stdout.strip().endswith("PASS"), (
        f"{program} failed ({r.returncode}):\nstdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-8000:]}"
    )


# ---- the keyword table ------------------------------------------------------------------------------
def test_table_is_well_formed():
    for name, kw in _keywords.KEYWORDS.items():
        assert kw.kind in (_keywords.TRANSLATED, _keywords.NO_OP, _keywords.UNSUPPORTED), name
        assert kw.note.strip(), name
        assert (kw.apply is not None) == (kw.kind == _keywords.TRANSLATED), name
        assert kw.scope in ("trt", "torch2trt", "both"), name


def test_no_op_keyword_warns_with_its_name(mlp):
    x = torch.randn(2, 16)
    with pytest.warns(kiln.CompatibilityWarning, match=r"dla_sram_size=.*no effect in Kiln.*DLA"):
        m = kiln.compile(mlp, inputs=[x], dla_sram_size=2 << 20)
    assert torch.allclose(m(x), mlp(x), atol=1e-5)
    with pytest.warns(kiln.CompatibilityWarning, match="hardware_compatible"):
        kiln.dynamo.compile(torch.export.export(mlp, (x,)), [x], hardware_compatible=True)


def test_default_values_are_silent(mlp):
    x = torch.randn(2, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", kiln.CompatibilityWarning)
        kiln.compile(
            mlp,
            inputs=[x],
            truncate_double=False,
            immutable_weights=True,
            use_python_runtime=False,
            engine_capability=kiln.EngineCapability.STANDARD,
            torch_executed_modules=[],
        )


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"truncate_double": True}, "never narrows float64"),
        ({"truncate_long_and_double": True}, "float64 in float64 on the CPU backend"),
        ({"immutable_weights": False}, "cannot be refitted"),
        ({"refit": True}, "cannot be refitted"),
        ({"use_explicit_typing": True, "enabled_precisions": {torch.half}}, "own dtype"),
        ({"autocast_excluded_ops": {"torch.ops.aten.relu.default"}}, "torch_executed_ops"),
        ({"enable_weight_streaming": True}, "every weight"),
        ({"torch_executed_modules": ["l1"]}, "torch_executed_ops"),
        ({"engine_capability": kiln.EngineCapability.SAFETY}, "standard engines only"),
        ({"cache_built_engines": True}, "both stores and reuses"),
    ],
)
def test_unsupported_keyword_says_what_kiln_does(mlp, kwargs, says):
    x = torch.randn(2, 16)
    name = next(iter(kwargs))
    with pytest.raises(kiln.UnsupportedOptionError, match=rf"{name}=.*not supported.*{says}"):
        kiln.compile(mlp, inputs=[x], **kwargs)


def test_explicit_typing_and_autocast(mlp):
    # Kiln with float32 only enabled keeps the model's dtypes (Torch-TensorRT's explicit typing); autocast enables
    # the low precision, which float layers then take.
    x = torch.randn(2, 16)
    half = type(mlp)().eval()
    half.load_state_dict(mlp.state_dict())
    half = half.half()
    with warnings.catch_warnings():
        warnings.simplefilter("error", kiln.CompatibilityWarning)
        m = kiln.compile(half, inputs=[x.half()], use_explicit_typing=True, min_block_size=1)
    out = m(x.half())
    assert out.dtype == torch.float16 and torch.allclose(out, half(x.half()), atol=1e-2)
    m = kiln.compile(mlp, inputs=[x], enable_autocast=True, autocast_low_precision_type=torch.bfloat16)
    out = m(x)
    assert (
        out.dtype == torch.float32 and not torch.equal(out, mlp(x)) and torch.allclose(out, mlp(x), atol=5e-2)
    )


def test_unknown_keyword_is_a_type_error(mlp):
    with pytest.raises(TypeError, match="unknown keyword 'no_such_option'"):
        kiln.compile(mlp, inputs=[torch.randn(2, 16)], no_such_option=1)


def test_translated_keywords(mlp, tmp_path):
    x = torch.randn(2, 16)
    report = kiln.compile(mlp, inputs=[x], dryrun=True, optimization_level=None, workspace_size=None)
    assert isinstance(report, kiln.SupportReport)
    cache = tmp_path / "cache"
    m = kiln.compile(
        mlp,
        inputs=[x],
        cache_built_engines=True,
        reuse_cached_engines=True,
        engine_cache_dir=str(cache),
        enabled_precisions={kiln.dtype.f32},
        device=kiln.Device("cpu"),
    )
    assert os.listdir(cache) and torch.allclose(m(x), mlp(x), atol=1e-5)


def test_torch_compile_options_go_through_the_table(mlp):
    torch._dynamo.reset()
    x = torch.randn(2, 16)
    with pytest.raises(Exception, match="truncate_double=True is not supported"):
        torch.compile(mlp, backend="torch_tensorrt", options={"truncate_double": True})(x)
    torch._dynamo.reset()
    with pytest.warns(kiln.CompatibilityWarning, match="num_avg_timing_iters"):
        out = torch.compile(mlp, backend="kiln", options={"num_avg_timing_iters": 4, "min_block_size": 1})(x)
    assert torch.allclose(out, mlp(x), atol=1e-5)
    torch._dynamo.reset()


def test_ts_and_torch2trt_entry_points_use_the_table(mlp):
    x = torch.randn(2, 16)
    with pytest.raises(kiln.UnsupportedOptionError, match="refit=True"):
        kiln.ts.compile(torch.jit.script(mlp), inputs=[x], refit=True)
    with pytest.warns(kiln.CompatibilityWarning, match="use_onnx"):
        kiln.torch2trt.torch2trt(mlp, [x], use_onnx=True)
    with pytest.raises(kiln.UnsupportedOptionError, match="strict_type_constraints"):
        kiln.torch2trt.torch2trt(mlp, [x], strict_type_constraints=True)
    with pytest.raises(TypeError, match="unknown keyword 'truncate_double'"):
        kiln.torch2trt.torch2trt(mlp, [x], truncate_double=True)  # a Torch-TensorRT keyword, not torch2trt's


def test_types_and_runtime():
    assert kiln.dtype._from(torch.half) == kiln.dtype.f16 and kiln.dtype.half.to(torch.dtype) == torch.float16
    assert kiln.Device("cuda:1").gpu_id == 1 and kiln.Device("cpu").to(torch.device) == torch.device("cpu")
    with pytest.raises(ValueError, match="no DLA"):
        kiln.Device("dla:0")
    i = kiln.Input(min_shape=(1, 3), opt_shape=(2, 3), max_shape=(4, 3), tensor_domain=(5, 6))
    assert i.shape_mode == kiln.Input._ShapeMode.DYNAMIC
    t = i.example_tensor("max_shape")
    assert t.shape == (4, 3) and bool(((t >= 5) & (t < 6)).all())
    with pytest.raises(ValueError, match="torch_tensor has shape"):
        kiln.Input((2, 3), torch_tensor=torch.zeros(3, 3))
    assert kiln.runtime.get_cudagraphs_mode()  # Kiln's default: replay on
    kiln.runtime.set_cudagraphs_mode(False)
    try:
        assert not kiln.runtime.get_cudagraphs_mode() and not torch.ops.kiln.cuda_graphs_enabled()
        with kiln.runtime.enable_cudagraphs("m") as m:
            assert m == "m" and kiln.runtime.get_cudagraphs_mode()
        assert not kiln.runtime.get_cudagraphs_mode()  # restored after the block
    finally:
        kiln.runtime.set_cudagraphs_mode(True)
    with pytest.raises(TypeError, match="expected a bool"):
        kiln.runtime.set_cudagraphs_mode(0)
    with kiln.logging.debug():
        assert kiln.logging.get_reportable_log_level() == kiln.logging.Level.Debug


def test_migration_page_lists_every_keyword():
    with open(os.path.join(REPO, "docs", "migrating.md")) as f:
        text = f.read()
    missing = [k for k in _keywords.KEYWORDS if f"`{k}" not in text]
    assert not missing, f"docs/migrating.md does not mention {missing}"


def test_plan_bytes_embed_from_either_frontend(mlp):
    x = torch.randn(2, 16)
    for plan in (
        kiln.ts.convert_method_to_trt_engine(torch.jit.script(mlp), "forward", inputs=[kiln.Input((2, 16))]),
        kiln.convert_method_to_trt_engine(mlp, inputs=[x]),  # ir="dynamo"
    ):
        for given in (plan, bytes(plan)):  # bytes alone: the I/O names are probed from the plan
            m = kiln.ts.embed_engine_in_new_module(given)
            assert isinstance(m, torch.jit.ScriptModule)
            assert torch.allclose(m(x), mlp(x), atol=1e-5)


def test_save_formats(mlp, tmp_path):
    x = torch.randn(2, 16)
    m = kiln.compile(mlp, inputs=[kiln.Input(min_shape=(1, 16), opt_shape=(2, 16), max_shape=(8, 16))])
    kiln.save(m, tmp_path / "m.ep", output_format="ep", retrace=False)
    kiln.save(m, tmp_path / "m.ts", output_format="ts")
    assert torch.allclose(kiln.load(tmp_path / "m.ep").module()(x), mlp(x), atol=1e-5)
    assert torch.allclose(kiln.load(tmp_path / "m.ts")(x), mlp(x), atol=1e-5)
    with pytest.raises(kiln.UnsupportedError, match="aot_inductor.*not supported.*exported_program"):
        kiln.save(m, tmp_path / "m.pt2", output_format="aot_inductor")


def test_device_spec_dict(mlp):
    # Torch-TensorRT's PTQ example passes compile keywords inside the device dict; they go through the table.
    x = torch.randn(2, 16)
    spec = {
        "device_type": kiln.DeviceType.CPU,
        "dla_core": 0,
        "allow_gpu_fallback": False,
        "disable_tf32": True,
    }
    with pytest.warns(kiln.CompatibilityWarning, match=r"device spec.*disable_tf32=True has no effect"):
        m = kiln.compile(mlp, inputs=[x], device=spec)
    assert torch.allclose(m(x), mlp(x), atol=1e-5)
    with pytest.warns(kiln.CompatibilityWarning, match="disable_tf32"):  # as a keyword of kiln.dynamo.compile
        kiln.dynamo.compile(torch.export.export(mlp, (x,)), [x], device=spec)
    with pytest.raises(kiln.UnsupportedOptionError, match="refit"):
        kiln.compile(mlp, inputs=[x], device={"device_type": kiln.DeviceType.CPU, "refit": True})


def test_refit_entry_points_say_there_is_no_refit(mlp):
    with pytest.raises(kiln.UnsupportedOptionError, match="cannot be refitted"):
        kiln.MutableTorchTensorRTModule(mlp)
    with pytest.raises(kiln.UnsupportedOptionError, match="cannot be refitted"):
        kiln.dynamo.refit_module_weights(mlp, mlp)
