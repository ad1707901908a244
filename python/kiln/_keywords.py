"""The one table of Torch-TensorRT and torch2trt keywords, and what Kiln does with each.

Every entry point that takes Torch-TensorRT's keywords (``kiln.compile``, ``kiln.dynamo.compile`` /
``trace``, ``kiln.ts.compile`` / ``convert_method_to_trt_engine``, the ``torch.compile`` options dict) and
``kiln.torch2trt.torch2trt`` passes the keywords that are not Kiln's own through ``translate_keywords``.

A keyword is one of
  * translated: it has a Kiln meaning (``dryrun`` -> ``dry_run``, ``cache_built_engines`` ->
    ``engine_cache_dir``, ...);
  * no-op: it asks for something that changes nothing in Kiln (DLA sizes, the Python runtime, timing
    iterations, ...). Accepted with a one-line ``kiln.CompatibilityWarning`` naming the keyword;
  * unsupported: Kiln cannot honour it (refit, weight streaming, truncating float64, ...). Raises
    ``kiln.UnsupportedOptionError`` saying what Kiln does instead.
A no-op or unsupported keyword given Torch-TensorRT's default value asks for nothing, and is accepted
silently. A keyword that is in neither Kiln's options nor this table is a TypeError.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import warnings
from typing import Any, Callable, Optional

import torch

from kiln._enums import DEVICE_SPEC_KEYS, EngineCapability, to_torch_device, to_torch_dtype
from kiln._errors import UnsupportedError

TRANSLATED, NO_OP, UNSUPPORTED = "translated", "no-op", "unsupported"
_ANY = object()  # "no default": every explicit value warns / raises


class CompatibilityWarning(UserWarning):
    """A Torch-TensorRT / torch2trt keyword that has no effect in Kiln (named in the message)."""


class UnsupportedOptionError(UnsupportedError, ValueError):
    """A Torch-TensorRT / torch2trt keyword Kiln cannot honour; the message says what Kiln does instead."""


@dataclasses.dataclass(frozen=True)
class Keyword:
    kind: str
    note: str  # no-op: why nothing changes; unsupported: what Kiln does instead; translated: its Kiln meaning
    default: Any = _ANY  # Torch-TensorRT's default: asks for nothing, accepted silently
    apply: Optional[Callable[[Any, dict], None]] = None  # translated: writes Kiln options into the dict
    scope: str = "trt"  # "trt" (Torch-TensorRT), "torch2trt" or "both"


def _to(name: str, convert: Callable[[Any], Any] = lambda v: v) -> Callable[[Any, dict], None]:
    def apply(v: Any, out: dict) -> None:
        out[name] = convert(v)

    return apply


def _precisions(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v
    if not isinstance(v, (set, frozenset, list, tuple)):
        v = {v}
    return {to_torch_dtype(p) for p in v}


def _optimization_level(v: Any) -> Any:
    # Torch-TensorRT: None is the builder's default (3); above the maximum (5) behaves as the maximum.
    if v is None:
        return 3
    return min(v, 5) if isinstance(v, int) and not isinstance(v, bool) else v


def _engine_cache(flag: str) -> Callable[[Any, dict], None]:
    def apply(v: Any, out: dict) -> None:
        if not isinstance(v, bool):
            raise TypeError(f"{flag} must be a bool, got {v!r}")
        out.setdefault("_cache_flags", {})[flag] = v

    return apply


def _typing_flag(flag: str) -> Callable[[Any, dict], None]:
    def apply(v: Any, out: dict) -> None:
        out.setdefault("_typing", {})[flag] = v

    return apply


def default_engine_cache_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "kiln_engine_cache")


_NO_DLA = "Kiln has no DLA backend; engines run on the GPU or the CPU"
_BY_OP_KIND = (
    "Kiln decides which layers stay float32 by op kind (overflow-prone reductions and exponentials), not by "
    "measured ranges"
)
NO_REFIT = (
    "Kiln engines cannot be refitted yet (they are built with their weights, as immutable_weights=True "
    "builds them); recompile the module after changing its weights"
)

KEYWORDS: dict[str, Keyword] = {
    # ---- translated ----------------------------------------------------------------------------------
    # enabled_precisions and device pass through; normalize_types converts them (for native names too).
    "enabled_precisions": Keyword(TRANSLATED, "enabled_precisions", apply=_to("enabled_precisions")),
    "device": Keyword(TRANSLATED, "device", apply=_to("device")),
    "workspace_size": Keyword(TRANSLATED, "workspace_size", apply=_to("workspace_size", lambda v: v or 0)),
    "optimization_level": Keyword(
        TRANSLATED, "optimization_level", apply=_to("optimization_level", _optimization_level)
    ),
    "dryrun": Keyword(TRANSLATED, "dry_run (returns a kiln.SupportReport)", apply=_to("dry_run")),
    "use_explicit_typing": Keyword(
        TRANSLATED,
        "with enabled_precisions float32 only (as Torch-TensorRT requires), Kiln keeps every layer in the "
        "model's own dtype: that is its default",
        apply=_typing_flag("use_explicit_typing"),
    ),
    "enable_autocast": Keyword(
        TRANSLATED,
        "adds autocast_low_precision_type (default float16) to enabled_precisions: float layers then take it, "
        "overflow-prone ones stay float32",
        apply=_typing_flag("enable_autocast"),
    ),
    "autocast_low_precision_type": Keyword(
        TRANSLATED, "the precision enable_autocast enables", apply=_typing_flag("autocast_low_precision_type")
    ),
    "cache_built_engines": Keyword(
        TRANSLATED, "engine_cache_dir", apply=_engine_cache("cache_built_engines")
    ),
    "reuse_cached_engines": Keyword(
        TRANSLATED, "engine_cache_dir", apply=_engine_cache("reuse_cached_engines")
    ),
    # ---- no-ops ---------------------------------------------------------------------------------------
    "disable_tf32": Keyword(
        NO_OP,
        "Kiln's float32 layers never use TF32 unless enabled_precisions contains 'tf32'",
        default=False,
    ),
    "use_fp32_acc": Keyword(
        NO_OP,
        "Kiln's fp16/bf16 GEMMs, convolutions and attention always accumulate in float32",
        default=False,
    ),
    "sparse_weights": Keyword(NO_OP, "Kiln has no structured-sparsity kernels to allow", default=False),
    "num_avg_timing_iters": Keyword(
        NO_OP, "Kiln times its tactics itself; optimization_level sets how many are tried", default=1
    ),
    "max_aux_streams": Keyword(NO_OP, "each Kiln engine runs on the caller's CUDA stream", default=None),
    "use_python_runtime": Keyword(
        NO_OP, "Kiln has one runtime, the kiln::execute_engine op (usable from Python and C++)", default=False
    ),
    "use_fast_partitioner": Keyword(NO_OP, "Kiln has one partitioner", default=True),
    "enable_experimental_decompositions": Keyword(
        NO_OP, "Kiln always lowers to the Core ATen opset", default=False
    ),
    "assume_dynamic_shape_support": Keyword(
        NO_OP, "Kiln's partitioner already knows which converters take dynamic shapes", default=False
    ),
    "pass_through_build_failures": Keyword(
        NO_OP, "Kiln always raises build failures (it never falls back silently)", default=False
    ),
    "fallback_to_inductor": Keyword(
        NO_OP, "Kiln raises build failures instead of falling back", default=True
    ),
    "hardware_compatible": Keyword(
        NO_OP,
        "Kiln has no hardware-compatibility build mode; a plan's generated kernels recompile for the GPU "
        "architecture it is loaded on",
        default=False,
    ),
    "lazy_engine_init": Keyword(NO_OP, "Kiln engines are loaded when the module is built", default=False),
    "engine_cache_size": Keyword(NO_OP, "Kiln's engine cache has no size limit", default=1 << 30),
    "dla_core": Keyword(NO_OP, _NO_DLA, default=None, scope="both"),
    "dla_sram_size": Keyword(NO_OP, _NO_DLA, default=1048576),
    "dla_local_dram_size": Keyword(NO_OP, _NO_DLA, default=1073741824),
    "dla_global_dram_size": Keyword(NO_OP, _NO_DLA, default=536870912),
    "tiling_optimization_level": Keyword(NO_OP, "Kiln chooses its kernels' tiles itself", default="none"),
    "l2_limit_for_tiling": Keyword(NO_OP, "Kiln chooses its kernels' tiles itself", default=-1),
    "offload_module_to_cpu": Keyword(
        NO_OP, "the compiled module keeps only the weights its PyTorch parts need", default=False
    ),
    "use_distributed_mode_trace": Keyword(NO_OP, "Kiln captures with torch.export", default=False),
    "autocast_max_output_threshold": Keyword(NO_OP, _BY_OP_KIND, default=512),
    "autocast_max_depth_of_reduction": Keyword(NO_OP, _BY_OP_KIND, default=None),
    "autocast_calibration_dataloader": Keyword(NO_OP, _BY_OP_KIND, default=None),
    "enable_resource_partitioning": Keyword(
        NO_OP, "Kiln builds engines without a host-memory budget", default=False
    ),
    "cpu_memory_budget": Keyword(NO_OP, "Kiln builds engines without a host-memory budget", default=None),
    "dynamically_allocate_resources": Keyword(
        NO_OP, "Kiln engines hold their memory from load to release", default=False
    ),
    "decompose_attention": Keyword(
        NO_OP, "Kiln converts attention to its own attention layer", default=False
    ),
    "allow_shape_tensors": Keyword(
        NO_OP, "Kiln tracks shape values through shape arithmetic by itself", default=False
    ),
    # torch2trt
    "keep_network": Keyword(
        NO_OP, "Kiln keeps no network object on the module", default=True, scope="torch2trt"
    ),
    "use_onnx": Keyword(
        NO_OP, "Kiln captures the model with torch.export, not ONNX", default=False, scope="torch2trt"
    ),
    "onnx_opset": Keyword(NO_OP, "Kiln does not go through ONNX", default=None, scope="torch2trt"),
    "gpu_fallback": Keyword(NO_OP, _NO_DLA, default=True, scope="torch2trt"),
    "avg_timing_iterations": Keyword(
        NO_OP,
        "Kiln times its tactics itself; optimization_level sets how many",
        default=None,
        scope="torch2trt",
    ),
    # ---- unsupported ----------------------------------------------------------------------------------
    "truncate_double": Keyword(
        UNSUPPORTED,
        "Kiln never narrows float64 behind your back: on the CPU backend float64 ops compute in float64; "
        "the CUDA backend has no float64 kernels, so there float64 ops stay in PyTorch (refused under "
        "require_full_compilation); cast the model and its inputs to float32 to compile them for the GPU",
        default=False,
    ),
    "truncate_long_and_double": Keyword(
        UNSUPPORTED,
        "Kiln computes int64 natively, and float64 in float64 on the CPU backend (on CUDA float64 ops "
        "stay in PyTorch); cast the model and its inputs to float32 to compile them for the GPU",
        default=False,
    ),
    "immutable_weights": Keyword(UNSUPPORTED, NO_REFIT, default=True),
    "refit": Keyword(UNSUPPORTED, NO_REFIT, default=False),
    "make_refittable": Keyword(UNSUPPORTED, NO_REFIT, default=False),
    "refit_identical_engine_weights": Keyword(UNSUPPORTED, NO_REFIT, default=False),
    "strip_engine_weights": Keyword(
        UNSUPPORTED,
        "Kiln plans always carry their weights (there is no refit to put them back)",
        default=False,
    ),
    "enable_weight_streaming": Keyword(
        UNSUPPORTED, "Kiln keeps every weight of an engine in device memory", default=False
    ),
    "autocast_excluded_nodes": Keyword(
        UNSUPPORTED,
        "Kiln keeps overflow-prone layers (sum/var/prod reductions, exp, pow, cumsum) and what only they feed in "
        "float32, with no per-node or per-op exclusions; run such ops in PyTorch with torch_executed_ops",
        default=None,
    ),
    "autocast_excluded_ops": Keyword(
        UNSUPPORTED,
        "Kiln keeps overflow-prone layers (sum/var/prod reductions, exp, pow, cumsum) and what only they feed in "
        "float32, with no per-node or per-op exclusions; run such ops in PyTorch with torch_executed_ops",
        default=None,
    ),
    "version_compatible": Keyword(
        UNSUPPORTED,
        "a Kiln plan loads only in Kiln versions with the same plan format (a format change refuses older "
        "plans with VersionMismatchError); rebuild the module with the new version",
        default=False,
    ),
    "engine_capability": Keyword(
        UNSUPPORTED,
        "Kiln builds standard engines only (no safety or DLA-standalone capability)",
        default=EngineCapability.STANDARD,
    ),
    "capability": Keyword(
        UNSUPPORTED,
        "Kiln builds standard engines only (no safety or DLA-standalone capability)",
        default=EngineCapability.STANDARD,
    ),
    "torch_executed_modules": Keyword(
        UNSUPPORTED,
        "Kiln partitions by op: list the module's ops in torch_executed_ops instead",
        default=None,
    ),
    "custom_engine_cache": Keyword(
        UNSUPPORTED, "Kiln caches engines in a folder: pass engine_cache_dir", default=None
    ),
    "enable_cross_compile_for_windows": Keyword(
        UNSUPPORTED, "Kiln builds for the platform it runs on (Linux)", default=False
    ),
    "strict_type_constraints": Keyword(
        UNSUPPORTED,
        "Kiln assigns layer precisions from fp16_mode / int8_mode; use fp16_mode=False for float32 layers",
        default=False,
        scope="torch2trt",
    ),
    "default_device_type": Keyword(UNSUPPORTED, _NO_DLA, default=None, scope="torch2trt"),
    "device_types": Keyword(UNSUPPORTED, _NO_DLA, default=None, scope="torch2trt"),
}

_EMPTY_OK = {
    "torch_executed_modules",
    "device_types",
    "autocast_excluded_nodes",
    "autocast_excluded_ops",
}  # an empty collection asks for nothing either


def _is_default(name: str, kw: Keyword, v: Any) -> bool:
    if name in _EMPTY_OK and v is not None and hasattr(v, "__len__") and len(v) == 0:
        return True
    if kw.default is _ANY:
        return False
    if name in ("engine_capability", "capability"):
        try:
            return v is None or EngineCapability._from(v) == EngineCapability.STANDARD
        except TypeError:
            return False
    if name == "default_device_type":
        return v is None or str(getattr(v, "name", v)).upper() in ("GPU", "DEVICETYPE.GPU")
    try:
        return bool(v == kw.default) and type(v) is type(kw.default)
    except Exception:  # noqa: BLE001 - odd __eq__: not the default
        return False


def translate_keywords(
    kwargs: dict,
    where: str,
    native: tuple = (),
    scope: str = "trt",
    stacklevel: int = 3,
    given: Optional[dict] = None,
) -> dict:
    """Kiln options for `kwargs`: names in `native` pass through; the rest go through KEYWORDS (warning on
    no-ops, raising on unsupported values). Unknown names raise TypeError. `given`: the options the caller
    already has (its named arguments), which translations do not override."""
    out: dict = {}
    for name, v in kwargs.items():
        if name in native:
            out[name] = v
            continue
        kw = KEYWORDS.get(name)
        if kw is None or (kw.scope != "both" and kw.scope != scope):
            project = "torch2trt" if scope == "torch2trt" else "Torch-TensorRT"
            raise TypeError(
                f"{where}: unknown keyword {name!r}: neither a Kiln option nor a {project} keyword Kiln knows "
                "(docs/migrating.md lists them)"
            )
        if kw.kind == TRANSLATED:
            kw.apply(v, out)  # type: ignore[misc]
        elif _is_default(name, kw, v):
            continue
        elif kw.kind == NO_OP:
            warnings.warn(
                f"{where}: {name}={v!r} has no effect in Kiln ({kw.note})", CompatibilityWarning, stacklevel
            )
        else:
            raise UnsupportedOptionError(f"{where}: {name}={v!r} is not supported: {kw.note}")
    normalize_types(out, where)
    _apply_typing(out.pop("_typing", None), out, given or {}, where)
    flags = out.pop("_cache_flags", None)
    if flags:
        store, reuse = flags.get("cache_built_engines", False), flags.get("reuse_cached_engines", False)
        if store != reuse and (store or reuse):
            raise UnsupportedOptionError(
                f"{where}: cache_built_engines={store} with reuse_cached_engines={reuse} is not supported: "
                "Kiln's engine cache always both stores and reuses engines; set both (or pass engine_cache_dir)"
            )
        if store and not out.get("engine_cache_dir") and not (given or {}).get("engine_cache_dir"):
            out["engine_cache_dir"] = default_engine_cache_dir()
    return out


def normalize_types(opts: dict, where: str = "kiln") -> dict:
    """In place: Torch-TensorRT's types in Kiln options (kiln.dtype in ``enabled_precisions``, kiln.Device or
    the TorchScript spec's dict as ``device``) become torch types, which kiln._settings validates. Keys of a
    device dict that are not device fields (Torch-TensorRT's examples put ``disable_tf32`` there) go through
    the keyword table like any other keyword."""
    if "enabled_precisions" in opts:
        opts["enabled_precisions"] = _precisions(opts["enabled_precisions"])
    dev = opts.get("device")
    if isinstance(dev, dict):
        extra = {k: v for k, v in dev.items() if k not in DEVICE_SPEC_KEYS}
        dev = {k: v for k, v in dev.items() if k in DEVICE_SPEC_KEYS}
        for k, v in translate_keywords(extra, f"{where} (device spec)", stacklevel=4).items():
            opts.setdefault(k, v)
    if "device" in opts:
        opts["device"] = to_torch_device(dev)
    return opts


def _apply_typing(flags: Optional[dict], out: dict, given: dict, where: str) -> None:
    """use_explicit_typing / enable_autocast: checked against, and folded into, enabled_precisions."""
    if not flags:
        return
    prec = out.get("enabled_precisions", given.get("enabled_precisions"))
    prec = _precisions(prec)
    lowered = {p for p in (prec or ()) if p not in (torch.float32, "fp32", "float32")}
    if flags.get("use_explicit_typing") and lowered:
        raise UnsupportedOptionError(
            f"{where}: use_explicit_typing=True with enabled_precisions={sorted(map(str, lowered))} is not "
            "supported (Torch-TensorRT refuses it too): with enabled_precisions float32 only, Kiln keeps every "
            "layer in the model's own dtype; with a lower precision enabled, float layers take it"
        )
    if flags.get("enable_autocast"):
        low = to_torch_dtype(flags.get("autocast_low_precision_type") or torch.float16)
        out["enabled_precisions"] = set(prec or {torch.float32}) | {torch.float32, low}


class MutableTorchTensorRTModule:
    """Torch-TensorRT's module that refits itself when its weights change: not available in Kiln."""

    def __init__(self, *args: Any, **kwargs: Any):
        raise UnsupportedOptionError(
            "kiln.MutableTorchTensorRTModule is not supported: "
            + NO_REFIT
            + " (kiln.compile the module again)"
        )
