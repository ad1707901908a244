"""kiln.llm.compile / kiln.llm.load: a transformers causal LM -> one engine -> Generator."""

from __future__ import annotations

import copy
from typing import Any, Optional, Union

import torch

from kiln._modes import eval_mode
from kiln._errors import CorruptPlanError, UnsupportedError
from kiln._input import Input
from kiln._settings import make_settings
from kiln.dynamo._compiler import build_single_engine
from kiln.llm._decoder import DecoderStep, cache_geometry
from kiln.llm._generator import FORMAT, FORMAT_VERSION, Generator

_DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}
_PRECISIONS = {torch.float32: set(), torch.float16: {torch.float16}, torch.bfloat16: {torch.bfloat16}}


def _model_device(model: torch.nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _specs(max_batch: int, max_seq_len: int, n_kv: int, kv_shape: tuple, dtype: torch.dtype) -> tuple:
    """Input ranges: batch 1..max_batch, step length 1..max_seq_len (prefill and decode share the engine;
    opt is a decode step of a full batch)."""
    b, L = max_batch, max_seq_len
    tok = Input(min_shape=(1, 1), opt_shape=(b, 1), max_shape=(b, L), dtype=torch.int64)
    pos = Input(min_shape=(1, 1), opt_shape=(b, 1), max_shape=(b, L), dtype=torch.int64)
    cache_pos = Input(min_shape=(1,), opt_shape=(1,), max_shape=(L,), dtype=torch.int64)
    mask = Input(min_shape=(1, 1, 1, L), opt_shape=(b, 1, 1, L), max_shape=(b, 1, L, L), dtype=dtype)
    kv = Input(min_shape=(1,) + kv_shape, opt_shape=(b,) + kv_shape, max_shape=(b,) + kv_shape, dtype=dtype)
    return (tok, pos, cache_pos, mask) + (kv,) * n_kv


def _vocab_size(model: torch.nn.Module) -> int:
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if emb is not None and hasattr(emb, "num_embeddings"):
        return int(emb.num_embeddings)
    return int(model.config.vocab_size)


def _default_max_seq_len(config: Any) -> int:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    n = getattr(text, "max_position_embeddings", None) or getattr(text, "n_positions", None) or 2048
    return int(min(n, 2048))


def compile(
    model: torch.nn.Module,
    *,
    max_batch: int = 1,
    max_seq_len: Optional[int] = None,
    dtype: Optional[torch.dtype] = None,
    device: Union[str, torch.device, None] = None,
    attn_implementation: Optional[str] = None,
    optimization_level: int = 3,
) -> Generator:
    """Compiles a transformers causal LM (Llama, Qwen2, Mistral, Gemma-style, GPT-2, ...) for generation.

    ``max_batch`` sequences of up to ``max_seq_len`` tokens (prompt + new, default the model's positions
    capped at 2048) fit the KV cache, allocated once in ``dtype`` (default: the model's) on ``device``
    (default: the model's; "cuda" builds for the GPU). The model is exported through ``torch.export`` with
    its attention layers writing the cache through ``kiln::kv_cache_write``; one engine serves prefill and
    decode. ``attn_implementation`` ("sdpa" or "eager") overrides the export's attention path (default: sdpa,
    then eager if sdpa does not export)."""
    if not hasattr(model, "config"):
        raise TypeError(f"kiln.llm.compile: expected a transformers causal LM, got {type(model).__name__}")
    for name, v in (("max_batch", max_batch), ("max_seq_len", max_seq_len)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"kiln.llm.compile: {name} must be a positive int, got {v!r}")
    if max_seq_len is None:
        max_seq_len = _default_max_seq_len(model.config)
    dtype = dtype or _model_dtype(model)
    if dtype not in _DTYPES:
        raise ValueError(f"kiln.llm.compile: dtype must be float32, float16 or bfloat16, got {dtype}")
    device = torch.device(device) if device is not None else _model_device(model)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"kiln.llm.compile: device must be cpu or cuda, got {device}")
    if _model_dtype(model) != dtype or _model_device(model) != device:
        model = copy.deepcopy(model).to(device=device, dtype=dtype)
    # The export runs in eval mode without autograd; the caller's model gets its own state back.
    grads = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in grads:
        p.requires_grad_(False)
    try:
        with eval_mode(model):
            return _compile_eval(
                model, max_batch, max_seq_len, dtype, device, attn_implementation, optimization_level
            )
    finally:
        for p, g in grads:
            p.requires_grad_(g)


def _compile_eval(
    model: torch.nn.Module,
    max_batch: int,
    max_seq_len: int,
    dtype: torch.dtype,
    device: torch.device,
    attn_implementation: Optional[str],
    optimization_level: int,
) -> Generator:
    num_layers, kv_heads, head_dim = cache_geometry(model.config)
    kv_shape = (kv_heads, max_seq_len, head_dim)
    specs = _specs(max_batch, max_seq_len, 2 * num_layers, kv_shape, dtype)
    settings = make_settings(
        enabled_precisions=_PRECISIONS[dtype], device=device, optimization_level=optimization_level
    )
    impls = [attn_implementation] if attn_implementation else ["sdpa", "eager"]
    old = getattr(model.config, "_attn_implementation", None)
    errors = []
    single = None
    for impl in impls:
        try:
            model.config._attn_implementation = impl
            single = build_single_engine(DecoderStep(model).eval(), specs, {}, specs, {}, settings)
            break
        except Exception as e:  # noqa: BLE001 - the next attention path, then all errors reported
            errors.append((impl, e))
        finally:
            model.config._attn_implementation = old
    if single is None:
        impl, e = errors[0]
        if len(errors) == 1:
            raise e
        raise UnsupportedError(
            "kiln.llm.compile: the decoder step of "
            f"{type(model).__name__} did not compile: "
            + "; ".join(f"with attn_implementation={i!r}: {type(x).__name__}: {x}" for i, x in errors)
        ) from e
    engine_inputs = list(single.engine.input_names())
    order = [single.input_names.index(n) for n in engine_inputs]
    meta = {
        "max_batch": max_batch,
        "max_seq_len": max_seq_len,
        "vocab_size": _vocab_size(model),
        "num_layers": num_layers,
        "kv_heads": kv_heads,
        "head_dim": head_dim,
        "dtype": _DTYPES[dtype],
        "device": str(device),
        "input_order": order,
        "model": type(model).__name__,
        "eos_token_id": _generation_id(model, "eos_token_id"),
        "pad_token_id": _generation_id(model, "pad_token_id"),
    }
    return Generator(single.engine, meta)


def _generation_id(model: torch.nn.Module, name: str) -> Any:
    gc = getattr(model, "generation_config", None)
    v = getattr(gc, name, None) if gc is not None else None
    if v is None:
        v = getattr(model.config, name, None)
    return v


def load(path: str, device: Union[str, torch.device, None] = None) -> Generator:
    """A generator saved with ``Generator.save``; ``device`` must be the backend it was built for."""
    data = torch.load(path, weights_only=True)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CorruptPlanError(f"kiln.llm.load: {path} is not a saved kiln.llm generator")
    if data.get("version") != FORMAT_VERSION:
        raise CorruptPlanError(
            f"kiln.llm.load: {path} has format version {data.get('version')}; this build reads {FORMAT_VERSION}"
        )
    meta = dict(data["meta"])
    if device is not None and torch.device(device).type != torch.device(meta["device"]).type:
        raise ValueError(
            f"kiln.llm.load: {path} was compiled for {meta['device']}; it cannot run on {device} (compile again)"
        )
    engine = torch.classes.kiln.Engine(data["plan"], data["input_names"], data["output_names"], "kiln_llm")
    return Generator(engine, meta)
