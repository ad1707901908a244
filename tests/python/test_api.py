"""The package surface: import, kiln.Input, argument checking (every bad argument raises, naming it)."""

import os
import subprocess
import sys

import pytest
import torch

import kiln
from conftest import REPO


def test_import_registers_runtime():
    assert hasattr(torch.classes.kiln, "Engine")
    assert callable(torch.ops.kiln.execute_engine)
    assert kiln.build_info.torch_version == torch.__version__
    assert "cpu" in kiln.available_backends()
    ops = kiln.supported_ops()
    assert "aten::convolution" in ops and "aten::size.int" in ops
    assert os.path.exists(kiln.runtime_library_path())


def test_input_static_and_dynamic():
    a = kiln.Input((1, 3, 8, 8))
    assert a.shape == (1, 3, 8, 8) and not a.is_dynamic() and a.dtype == torch.float32
    b = kiln.Input(min_shape=(1, 4), opt_shape=(2, 4), max_shape=(8, 4), dtype=torch.int64)
    assert b.is_dynamic() and b.dynamic_dims() == [0]
    assert b.example_tensor("max").shape == (8, 4) and b.example_tensor().dtype == torch.int64
    with pytest.raises(ValueError, match="shape"):
        _ = b.shape
    c = kiln.Input.from_tensor(torch.zeros(2, 3, 4, 4).contiguous(memory_format=torch.channels_last))
    assert c.format == torch.channels_last
    assert "min_shape" in repr(b) and "shape=(1, 3, 8, 8)" in repr(a)


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"shape": (1, 2), "min_shape": (1, 2)}, ValueError, "not both"),
        ({"min_shape": (1, 2), "max_shape": (2, 2)}, ValueError, "opt_shape"),
        ({"min_shape": (3, 2), "opt_shape": (2, 2), "max_shape": (4, 2)}, ValueError, "min <= opt <= max"),
        ({"min_shape": (1,), "opt_shape": (1, 2), "max_shape": (1, 2)}, ValueError, "same rank"),
        ({"shape": (1, -1)}, ValueError, "negative"),
        ({"shape": (1, 2.5)}, TypeError, "ints"),
        ({"shape": (1, 2), "dtype": "float"}, TypeError, "dtype"),
        ({"shape": (1, 2), "format": "nhwc"}, ValueError, "format"),
        ({}, ValueError, "shape"),
    ],
)
def test_input_errors(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        kiln.Input(**kwargs)


def test_input_unknown_keyword():
    with pytest.raises(TypeError, match="batch"):
        kiln.Input(shape=(1, 2), batch=3)


def test_compile_unknown_argument(mlp):
    with pytest.raises(TypeError, match="max_batch"):
        kiln.compile(mlp, inputs=[torch.randn(2, 16)], max_batch=4)


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"min_block_size": 0}, ValueError, "min_block_size"),
        ({"min_block_size": 2.0}, TypeError, "min_block_size"),
        ({"enabled_precisions": {torch.float64}}, ValueError, "enabled_precisions"),
        ({"enabled_precisions": {"fp12"}}, ValueError, "enabled_precisions"),
        ({"optimization_level": 9}, ValueError, "optimization_level"),
        ({"workspace_size": -1}, ValueError, "workspace_size"),
        ({"require_full_compilation": "yes"}, TypeError, "require_full_compilation"),
        ({"debug": 1}, TypeError, "debug"),
        ({"device": "tpu"}, ValueError, "device"),
        ({"device": 3}, TypeError, "device"),
        ({"timing_cache_path": 5}, TypeError, "timing_cache_path"),
        ({"kernel_cache_dir": 5}, TypeError, "kernel_cache_dir"),
        ({"engine_cache_dir": ""}, TypeError, "engine_cache_dir"),
        ({"torch_executed_ops": [3]}, TypeError, "torch_executed_ops"),
        ({"ir": "onnx"}, ValueError, "ir"),
        ({"dry_run": "no"}, TypeError, "dry_run"),
        ({"arg_inputs": [torch.randn(2, 16)]}, ValueError, "inputs or arg_inputs"),
        ({"kwarg_inputs": [1]}, TypeError, "kwarg_inputs"),
    ],
)
def test_compile_bad_arguments(mlp, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        kiln.compile(mlp, inputs=[torch.randn(2, 16)], **kwargs)


@pytest.mark.skipif("cuda" in kiln.available_backends(), reason="checks the message of a build without CUDA")
def test_cuda_device_on_cpu_build(mlp):
    with pytest.raises(ValueError, match="no CUDA backend"):
        kiln.compile(mlp, inputs=[torch.randn(2, 16)], device="cuda")


def test_compile_needs_inputs(mlp):
    with pytest.raises(ValueError, match="inputs"):
        kiln.compile(mlp)
    with pytest.raises(TypeError, match="kiln.Input"):
        kiln.compile(mlp, inputs=[object()])


def test_ir_and_module_kind_mismatch(mlp):
    script = torch.jit.script(mlp)
    with pytest.raises(TypeError, match="ir='ts'"):
        kiln.compile(script, ir="dynamo", inputs=[torch.randn(2, 16)])
    ep = torch.export.export(mlp, (torch.randn(2, 16),))
    with pytest.raises(TypeError, match="ExportedProgram"):
        kiln.compile(ep, ir="ts", inputs=[torch.randn(2, 16)])
    with pytest.raises(TypeError, match="nn.Module"):
        kiln.compile(lambda x: x, inputs=[torch.randn(2, 16)])


def test_default_device_is_cpu_without_cuda(mlp):
    m = kiln.compile(mlp, inputs=[torch.randn(2, 16)])
    eng = next(v for k, v in vars(m).items() if k.startswith("kiln_engine"))
    assert eng.backend() == (
        "cuda" if torch.cuda.is_available() and "cuda" in kiln.available_backends() else "cpu"
    )


def test_op_name_normalization():
    from kiln._settings import op_name

    assert op_name(torch.ops.aten.relu.default) == "aten::relu"
    assert op_name(torch.ops.aten.add.Tensor) == "aten::add.Tensor"
    assert op_name(torch.ops.aten.relu) == "aten::relu"
    assert op_name("aten.add.Tensor") == "aten::add.Tensor"
    assert op_name("torch.ops.aten.relu.default") == "aten::relu"
    assert op_name("aten::relu") == "aten::relu"


def test_engine_error_names_profile(mlp):
    m = kiln.compile(mlp, inputs=[kiln.Input(min_shape=(1, 16), opt_shape=(2, 16), max_shape=(4, 16))])
    with pytest.raises(RuntimeError, match="outside the range the module was compiled for, \\[1, 4\\]"):
        m(torch.randn(9, 16))


def test_mismatched_torch_version_explains_itself(tmp_path):
    """A build recorded for another torch must refuse to load with an explanation, not crash."""
    d = tmp_path / "kiln_torch" / "python"
    d.mkdir(parents=True)
    (d / "_build_info.py").write_text(
        'torch_version = "0.0.1+fake"\npython_version = "%d.%d"\nkiln_version = "0.1.0"\nwith_cuda = False\n'
        'build_type = "Release"\nbuilt_at = ""\n' % sys.version_info[:2]
    )
    env = dict(
        os.environ,
        KILN_BUILD_DIR=str(tmp_path),
        PYTHONPATH=os.path.join(REPO, "python") + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    if not os.environ.get("KILN_BUILD_DIR"):
        env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")  # the installed package
    r = subprocess.run(
        [sys.executable, "-c", "import kiln"], capture_output=True, text=True, env=env, timeout=300
    )
    assert r.returncode != 0
    assert "NativeLibraryError" in r.stderr
    assert "0.0.1+fake" in r.stderr and torch.__version__ in r.stderr and "Rebuild" in r.stderr


def test_missing_native_parts_explain_themselves(tmp_path):
    env = dict(os.environ, KILN_BUILD_DIR=str(tmp_path))
    if os.environ.get("KILN_BUILD_DIR"):
        env["PYTHONPATH"] = os.path.join(REPO, "python") + os.pathsep + os.environ.get("PYTHONPATH", "")
    r = subprocess.run(
        [sys.executable, "-c", "import kiln"], capture_output=True, text=True, env=env, timeout=300
    )
    assert r.returncode != 0 and "native parts are missing" in r.stderr


def test_kernel_cache_dir_is_accepted(mlp, tmp_path):
    """kernel_cache_dir reaches the builder (the CPU backend generates no kernels: nothing is written)."""
    m = kiln.compile(mlp, inputs=[torch.randn(2, 16)], kernel_cache_dir=str(tmp_path), device="cpu")
    x = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.allclose(m(x), mlp(x), atol=1e-5)
