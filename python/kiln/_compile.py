"""kiln.compile: one entry point, several frontends (ir=)."""

from __future__ import annotations

import contextlib
import logging as _pylogging
from typing import Any, Optional

import torch

from kiln import _progress
from kiln._modes import eval_mode
from kiln._engine_module import PlanBytes, single_engine_io_names
from kiln._errors import error_context
from kiln._input import Input, normalize_inputs
from kiln._keywords import normalize_types, translate_keywords
from kiln._native import C
from kiln._report import SupportReport, engines_of
from kiln._settings import OPTION_NAMES, CompileSettings, debug_logging, make_settings, settings_to_options
from kiln.dynamo._compiler import build_single_engine, compile_dynamo
from kiln.ptq import DataLoaderCalibrator

_log = _pylogging.getLogger("kiln")

IRS = ("default", "dynamo", "ts", "torch_compile", "fx")


def _resolve_ir(module: Any, ir: str) -> str:
    if ir == "torchscript":  # Torch-TensorRT's other name for "ts"
        ir = "ts"
    if not isinstance(ir, str) or ir not in IRS:
        raise ValueError(f"kiln.compile: ir must be one of {', '.join(map(repr, IRS))}, got {ir!r}")
    is_script = isinstance(module, (torch.jit.ScriptModule, torch.jit.ScriptFunction))
    if ir == "default":
        return "ts" if is_script else "dynamo"
    if ir in ("dynamo", "torch_compile", "fx") and is_script:
        raise TypeError(
            f"kiln.compile: ir={ir!r} needs an nn.Module, GraphModule or ExportedProgram; this is a "
            "TorchScript module (use ir='ts' or ir='default')"
        )
    if ir == "ts" and isinstance(module, torch.export.ExportedProgram):
        raise TypeError(
            "kiln.compile: ir='ts' needs an nn.Module or ScriptModule; an ExportedProgram goes through "
            "ir='dynamo'"
        )
    return ir


def compile(
    module: Any,
    ir: str = "default",
    inputs: Any = None,
    arg_inputs: Any = None,
    kwarg_inputs: Optional[dict] = None,
    *,
    enabled_precisions: Any = None,
    min_block_size: int = 3,
    torch_executed_ops: Any = None,
    require_full_compilation: bool = False,
    workspace_size: int = 0,
    device: Any = None,
    optimization_level: int = 3,
    timing_cache_path: Optional[str] = None,
    kernel_cache_dir: Optional[str] = None,
    engine_cache_dir: Optional[str] = None,
    use_cuda_graphs: bool = True,
    debug: bool = False,
    dry_run: bool = False,
    calibrator: Any = None,
    **kwargs: Any,
) -> Any:
    """Compiles `module` with Kiln.

    module: nn.Module, torch.jit.ScriptModule, torch.fx.GraphModule or torch.export.ExportedProgram.
    ir: "default" (ScriptModule -> "ts", anything else -> "dynamo"), "dynamo" (torch.export), "ts"
        (TorchScript; an nn.Module is scripted, or traced when scripting fails), "torch_compile" (returns
        torch.compile(module, backend="kiln")), "fx" (the dynamo frontend with engines as KilnModule
        submodules, as the legacy FX API builds them).
    inputs / arg_inputs: kiln.Input objects or example tensors for forward()'s positional args;
    kwarg_inputs: the same for keyword args (dynamo only).
    enabled_precisions: set of torch.float32 / torch.float16 / torch.bfloat16 / torch.int8 /
        torch.float8_e4m3fn / "tf32". 8-bit precisions need quantize/dequantize in the graph (PT2E, fake
        quantization) or a ``calibrator``.
    calibrator: kiln.ptq.DataLoaderCalibrator (or CacheCalibrator): calibrates the model and compiles it
        with int8 quantize/dequantize on every convolution and weight GEMM (needs torch.int8 in
        enabled_precisions; dynamo frontend).
    min_block_size: smallest number of compute nodes worth an engine.
    torch_executed_ops: ops forced to PyTorch ("aten::relu", torch.ops.aten.relu.default, ...).
    require_full_compilation: fail unless everything runs in Kiln.
    workspace_size: scratch memory cap per kernel in bytes (0: backend default).
    device: "cuda[:N]" or "cpu"; default cuda when available, else cpu.
    optimization_level: 0 (fastest build) .. 5 (most tactics timed).
    timing_cache_path: persistent timing cache file.
    kernel_cache_dir: folder of compiled generated kernels (NVRTC cubins) reused across builds.
    engine_cache_dir: folder where built plans are cached by graph + weights + settings (dynamo).
    use_cuda_graphs: CUDA backend captures graphs per input shape (False is refused: switch replay at run time
            with kiln.runtime.set_cudagraphs_mode).
    debug: DEBUG logging while compiling.
    dry_run: build nothing; print and return a kiln.SupportReport.
    **kwargs: Torch-TensorRT's other keywords, through the table in kiln._keywords: translated where Kiln has
        the meaning (``dryrun``, ``cache_built_engines``, ...), accepted with a kiln.CompatibilityWarning where
        they change nothing in Kiln (``dla_sram_size``, ``use_python_runtime``, ...), refused with
        kiln.UnsupportedOptionError where Kiln cannot honour them (``truncate_double=True``, ``refit``, ...).

    Returns a module that runs like the original (for dry_run, the report).
    """
    ir = _resolve_ir(module, ir)
    opts = dict(
        enabled_precisions=enabled_precisions,
        min_block_size=min_block_size,
        torch_executed_ops=torch_executed_ops,
        require_full_compilation=require_full_compilation,
        workspace_size=workspace_size,
        device=device,
        optimization_level=optimization_level,
        timing_cache_path=timing_cache_path,
        kernel_cache_dir=kernel_cache_dir,
        engine_cache_dir=engine_cache_dir,
        use_cuda_graphs=use_cuda_graphs,
        debug=debug,
    )
    normalize_types(opts, "kiln.compile")
    opts.update(translate_keywords(kwargs, "kiln.compile", given=opts))
    dry_run = opts.pop("dry_run", dry_run)
    settings = make_settings(**opts)
    if not isinstance(dry_run, bool):
        raise TypeError(f"dry_run must be a bool, got {dry_run!r}")
    # ir="torch_compile" builds on first call, under the backend's own progress line.
    progress = (
        _progress.compile_progress("kiln.compile") if ir != "torch_compile" else contextlib.nullcontext()
    )
    with debug_logging(settings), progress:
        result = _compile(module, ir, inputs, arg_inputs, kwarg_inputs, settings, dry_run, calibrator)
    if dry_run:
        print(result.text, end="" if result.text.endswith("\n") else "\n")
    return result


def _compile(
    module: Any,
    ir: str,
    inputs: Any,
    arg_inputs: Any,
    kwarg_inputs: Any,
    settings: CompileSettings,
    dry_run: bool,
    calibrator: Any = None,
) -> Any:
    if calibrator is not None:
        if not isinstance(calibrator, DataLoaderCalibrator):
            raise TypeError(
                f"kiln.compile: calibrator must be a kiln.ptq.DataLoaderCalibrator, got {type(calibrator).__name__}"
            )
        want = "fp8" if calibrator.quant_dtype == torch.float8_e4m3fn else "int8"
        if want not in settings.enabled_precisions:
            spelled = "torch.float8_e4m3fn" if want == "fp8" else "torch.int8"
            raise ValueError(f"kiln.compile: a {want} calibrator needs {spelled} in enabled_precisions")
        if ir not in ("dynamo", "fx"):
            raise ValueError(
                f"kiln.compile: calibration runs on the exported graph (ir='dynamo'), not ir={ir!r}; "
                "TorchScript modules with quantize/dequantize (fake quantization) compile with ir='ts'"
            )
    if ir == "torch_compile":
        if dry_run:
            raise ValueError(
                "kiln.compile: dry_run is not available with ir='torch_compile' (graphs are captured "
                "lazily); use ir='dynamo'"
            )
        if inputs is not None or arg_inputs is not None or kwarg_inputs is not None:
            raise ValueError(
                "kiln.compile: ir='torch_compile' takes no inputs (graphs are compiled for the shapes "
                "they are called with); drop inputs / arg_inputs / kwarg_inputs"
            )
        if isinstance(module, torch.export.ExportedProgram):
            module = module.module()
        return torch.compile(module, backend="kiln", options=settings_to_options(settings))
    if ir == "ts":
        return _compile_ts(module, inputs, arg_inputs, kwarg_inputs, settings, dry_run)
    arg_specs, kw_specs, arg_ex, kw_ex = normalize_inputs(inputs, arg_inputs, kwarg_inputs)
    return compile_dynamo(
        module,
        arg_specs,
        kw_specs,
        arg_ex,
        kw_ex,
        settings,
        dry_run=dry_run,
        engine_modules=(ir == "fx"),
        calibrator=calibrator,
    )


def dry_run(module: Any, ir: str = "default", inputs: Any = None, **kwargs: Any) -> SupportReport:
    """kiln.compile(..., dry_run=True): prints and returns the SupportReport."""
    if "dry_run" in kwargs:
        raise TypeError("kiln.dry_run: dry_run is implied")
    return compile(module, ir=ir, inputs=inputs, dry_run=True, **kwargs)


# ---- TorchScript ----------------------------------------------------------------------------------------
def ts_options(specs: list, settings: CompileSettings) -> dict:
    opts = settings.partition_options()
    opts["inputs"] = [
        (
            list(s.min_shape),
            list(s.opt_shape),
            list(s.max_shape),
            s.dtype,
            "channels_last" if s.format == torch.channels_last else "contiguous",
        )
        for s in specs
    ]
    return opts


def _ts_specs(inputs: Any, arg_inputs: Any, kwarg_inputs: Any) -> tuple[list[Input], list[Any]]:
    if kwarg_inputs:
        raise ValueError(
            "kiln.compile: kwarg_inputs are not supported with ir='ts' (TorchScript takes positional "
            "inputs); use ir='dynamo'"
        )
    specs, _, examples, _ = normalize_inputs(inputs, arg_inputs, None)
    out = []
    for i, s in enumerate(specs):
        if not isinstance(s, Input):
            raise TypeError(
                f"kiln.compile: ir='ts' input {i} must be a kiln.Input or a tensor, got {type(s).__name__}"
            )
        out.append(s)
    if not out:
        raise ValueError("kiln.compile: inputs are required (kiln.Input or example tensors)")
    return out, list(examples)


def to_torchscript(module: Any, specs: list[Input], examples: list[Any], device: torch.device) -> Any:
    """nn.Module -> ScriptModule the way Torch-TensorRT does: torch.jit.script, or torch.jit.trace with example
    inputs when scripting fails. ScriptModules pass straight through."""
    if isinstance(module, torch.jit.ScriptModule):
        return module
    if not isinstance(module, torch.nn.Module):
        raise TypeError(
            f"kiln.compile: ir='ts' needs an nn.Module or ScriptModule, got {type(module).__name__}"
        )
    # Scripted / traced in eval mode; the caller's module keeps its own modes (kiln._modes).
    with eval_mode(module):
        try:
            return torch.jit.script(module)
        except Exception as script_error:  # noqa: BLE001 - any scripting failure falls back to tracing
            _log.info(
                "torch.jit.script failed (%s); tracing instead",
                str(script_error).splitlines()[0] if str(script_error) else script_error,
            )
            ex = [
                e.to(device) if isinstance(e, torch.Tensor) else s.example_tensor("opt", device)
                for s, e in zip(specs, examples)
            ]
            with torch.no_grad():
                return torch.jit.trace(module, tuple(ex))


def _compile_ts(
    module: Any, inputs: Any, arg_inputs: Any, kwarg_inputs: Any, settings: CompileSettings, dry_run: bool
) -> Any:
    if settings.engine_cache_dir:
        raise ValueError(
            "kiln.compile: engine_cache_dir is supported by ir='dynamo' / 'fx' / 'torch_compile', not ir='ts'"
        )
    specs, examples = _ts_specs(inputs, arg_inputs, kwarg_inputs)
    _progress.stage("TorchScript (script, else trace)")
    script = to_torchscript(module, specs, examples, settings.device)
    opts = ts_options(specs, settings)
    # kiln._C raises the KilnError subclass of the status code (see _errors.py).
    with error_context("kiln.compile(ir='ts')"):
        if dry_run:
            return SupportReport.from_text(C.ts_check_method_support(script._c, "forward", opts))
        _progress.stage("lower, partition")
        with _progress.engine_builds() as cb:
            cpp, report_json = C.ts_compile(script._c, opts, cb)
    out = torch.jit._recursive.wrap_cpp_module(cpp)
    # For kiln.report: the partition and the engines as the compile saw them, and the input specs.
    out._kiln_report = {"data": report_json, "arg_inputs": tuple(specs)}
    _progress.engines_built(*engines_of(out))
    return out


def convert_method_to_plan(
    module: Any, method_name: str = "forward", inputs: Any = None, **kwargs: Any
) -> bytes:
    """One engine for the whole TorchScript method (everything must convert); returns the plan bytes."""
    settings = make_settings(**translate_keywords(kwargs, "kiln.convert_method_to_plan", native=OPTION_NAMES))
    specs, examples = _ts_specs(inputs, None, None)
    script = to_torchscript(module, specs, examples, settings.device)
    with error_context("kiln.convert_method_to_plan"):
        plan = C.ts_convert_method_to_plan(script._c, method_name, ts_options(specs, settings))
    return bytes(plan.numpy().tobytes())


def check_method_support(
    module: Any, method_name: str = "forward", inputs: Any = None, **kwargs: Any
) -> SupportReport:
    """Torch-TensorRT's check_method_support on the TorchScript path: which ops of ``method_name`` would run
    in Kiln and which in PyTorch, with the reasons, as a kiln.SupportReport (no engine is built)."""
    settings = make_settings(**translate_keywords(kwargs, "kiln.check_method_support", native=OPTION_NAMES))
    specs, examples = _ts_specs(inputs, None, None)
    script = to_torchscript(module, specs, examples, settings.device)
    with error_context("kiln.check_method_support"):
        return SupportReport.from_text(
            C.ts_check_method_support(script._c, method_name, ts_options(specs, settings))
        )


def convert_method_to_trt_engine(
    module: Any,
    method_name: str = "forward",
    *,
    ir: str = "default",
    inputs: Any = None,
    arg_inputs: Any = None,
    kwarg_inputs: Optional[dict] = None,
    enabled_precisions: Any = None,
    **kwargs: Any,
) -> bytes:
    """Torch-TensorRT's torch_tensorrt.convert_method_to_trt_engine: the whole method as one engine (every op
    must convert), returned as plan bytes (a PlanBytes that knows its I/O names, which
    kiln.ts.embed_engine_in_new_module runs). ir "ts" (TorchScript) or "dynamo"/"default" (torch.export;
    forward only)."""
    ir = _resolve_ir(module, ir)
    where = "kiln.convert_method_to_trt_engine"
    opts = translate_keywords(kwargs, where, native=OPTION_NAMES)
    settings = make_settings(**normalize_types(dict(opts, enabled_precisions=enabled_precisions)))
    if ir == "ts":
        specs, examples = _ts_specs(inputs if inputs is not None else arg_inputs, None, kwarg_inputs)
        script = to_torchscript(module, specs, examples, settings.device)
        with error_context(where):
            plan = bytes(
                C.ts_convert_method_to_plan(script._c, method_name, ts_options(specs, settings)).numpy()
            )
        return PlanBytes.of(plan, *single_engine_io_names(plan, len(specs)))
    if ir not in ("dynamo", "fx"):
        raise ValueError(f"{where}: ir={ir!r} builds no engine ahead of time (use 'dynamo' or 'ts')")
    if method_name != "forward":
        raise ValueError(f"{where}: the dynamo path converts forward only")
    arg_specs, kw_specs, arg_ex, kw_ex = normalize_inputs(inputs, arg_inputs, kwarg_inputs)
    single = build_single_engine(module, arg_specs, kw_specs, arg_ex, kw_ex, settings)
    plan = bytes(single.engine.plan().numpy().tobytes())
    # The plan's own input order is forward's tensor inputs in order (the partitioner takes them so).
    return PlanBytes.of(plan, single.engine.input_names(), single.engine.output_names())
