"""Model zoo report: compiles torchvision and transformers models (random weights, no downloads) with
kiln.compile and prints, per model, whether it compiled fully, how many ops fell back to PyTorch (and
why), the cosine similarity to eager, and on a GPU the speedup over eager.

    python bench/zoo.py                       # every model, CPU backend unless a GPU is there
    python bench/zoo.py --models resnet18 bert_small --device cpu
    python bench/zoo.py --json zoo.json       # also write the rows as JSON
    python bench/zoo.py --device cuda --dtype fp16   # half-precision weights and inputs, fp16 engines
    KILN_BUILD_DIR=build python bench/zoo.py  # an in-tree CMake build instead of the installed kiln
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from typing import Any, Callable

import torch

if os.environ.get("KILN_BUILD_DIR"):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import kiln  # noqa: E402


def _randomize_zero_params(m: torch.nn.Module) -> None:
    """Heads initialised to zero would make outputs constant and hide errors."""
    with torch.no_grad():
        for p in m.parameters():
            if p.numel() > 1 and bool((p == 0).all()):
                p.normal_(0.0, 0.02)


def _tv(name: str, **kw: Any) -> Callable[[], tuple]:
    def make() -> tuple:
        import torchvision

        m = getattr(torchvision.models, name)(**kw)
        return m, (torch.randn(1, 3, 224, 224),), {}

    return make


def _bert_small() -> tuple:
    from transformers import BertConfig, BertModel

    cfg = BertConfig(
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        vocab_size=1000,
        attn_implementation="eager",
    )
    ids = torch.randint(0, 1000, (2, 16))
    return BertModel(cfg), (ids,), {"attention_mask": torch.ones(2, 16, dtype=torch.long)}


def _gpt2_small() -> tuple:
    from transformers import GPT2Config, GPT2Model

    cfg = GPT2Config(
        n_embd=128,
        n_layer=2,
        n_head=4,
        vocab_size=1000,
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="eager",
    )
    return GPT2Model(cfg), (torch.randint(0, 1000, (1, 16)),), {"use_cache": False}


def _vit_hf_small() -> tuple:
    from transformers import ViTConfig, ViTModel

    cfg = ViTConfig(
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        image_size=64,
        patch_size=16,
        attn_implementation="eager",
    )
    return ViTModel(cfg), (torch.randn(1, 3, 64, 64),), {}


def _distilbert_small() -> tuple:
    from transformers import DistilBertConfig, DistilBertModel

    cfg = DistilBertConfig(
        dim=128, n_layers=2, n_heads=4, hidden_dim=256, vocab_size=1000, attn_implementation="eager"
    )
    return DistilBertModel(cfg), (torch.randint(0, 1000, (2, 16)),), {}


def _t5_small() -> tuple:
    from transformers import T5Config, T5Model

    cfg = T5Config(
        d_model=128,
        d_kv=32,
        d_ff=256,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        vocab_size=1000,
        use_cache=False,
        attn_implementation="eager",
    )
    ids = torch.randint(0, 1000, (2, 16))
    return T5Model(cfg), (ids,), {"decoder_input_ids": torch.randint(0, 1000, (2, 8))}


def _llama_small() -> tuple:
    from transformers import LlamaConfig, LlamaModel

    cfg = LlamaConfig(
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=1000,
        max_position_embeddings=64,
        use_cache=False,
        attn_implementation="eager",
    )
    return LlamaModel(cfg), (torch.randint(0, 1000, (2, 16)),), {}


MODELS: dict[str, Callable[[], tuple]] = {
    "resnet18": _tv("resnet18"),
    "resnet50": _tv("resnet50"),
    "mobilenet_v2": _tv("mobilenet_v2"),
    "mobilenet_v3_small": _tv("mobilenet_v3_small"),
    "efficientnet_b0": _tv("efficientnet_b0"),
    "squeezenet1_1": _tv("squeezenet1_1"),
    "densenet121": _tv("densenet121"),
    "shufflenet_v2_x1_0": _tv("shufflenet_v2_x1_0"),
    "convnext_tiny": _tv("convnext_tiny"),
    "vit_b_16": _tv("vit_b_16"),
    "swin_t": _tv("swin_t"),
    "bert_small": _bert_small,
    "distilbert_small": _distilbert_small,
    "gpt2_small": _gpt2_small,
    "vit_hf_small": _vit_hf_small,
    "t5_small": _t5_small,
    "llama_small": _llama_small,
}


def _first_tensor(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if hasattr(x, "to_tuple"):
        x = x.to_tuple()
    if isinstance(x, dict):
        x = list(x.values())
    for y in x:
        try:
            return _first_tensor(y)
        except (TypeError, StopIteration, ValueError):
            continue
    raise ValueError("no tensor output")


def _time(fn: Callable[[], Any], device: torch.device, iters: int) -> float:
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters


def run_one(name: str, device: torch.device, iters: int, dtype: torch.dtype = torch.float32) -> dict:
    row: dict[str, Any] = {"model": name}
    torch.manual_seed(0)
    try:
        model, args, kwargs = MODELS[name]()
    except ImportError as e:
        row["error"] = f"skipped: {e}"
        return row
    _randomize_zero_params(model)
    model = model.eval().to(device=device, dtype=dtype)

    def move(v: Any) -> Any:  # floating inputs take the model's dtype; ids and masks keep theirs
        if not isinstance(v, torch.Tensor):
            return v
        return v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device)

    args = tuple(move(a) for a in args)
    kwargs = {k: move(v) for k, v in kwargs.items()}
    row["dtype"] = str(dtype).replace("torch.", "")
    try:
        t0 = time.perf_counter()
        compiled = kiln.compile(
            model, inputs=list(args), kwarg_inputs=kwargs or None, device=device, enabled_precisions={dtype}
        )
        row["compile_s"] = round(time.perf_counter() - t0, 1)
        rep: kiln.SupportReport = compiled.meta["kiln"]["report"]
        row["full"] = rep.fully_supported
        row["engines"] = rep.num_engines
        row["kiln_ops"] = rep.kiln_nodes
        row["fallback_ops"] = rep.torch_nodes
        row["fallback"] = {op: {"count": s.torch, "reason": s.reason} for op, s in rep.fallback_ops.items()}
        with torch.no_grad():
            ref = _first_tensor(model(*args, **kwargs)).float()
            out = _first_tensor(compiled(*args, **kwargs)).float()
        row["cosine"] = torch.nn.functional.cosine_similarity(out.flatten(), ref.flatten(), dim=0).item()
        row["max_rel_err"] = ((out - ref).abs().max() / ref.abs().max().clamp_min(1e-12)).item()
        if device.type == "cuda":
            with torch.no_grad():
                te = _time(lambda: model(*args, **kwargs), device, iters)
                tk = _time(lambda: compiled(*args, **kwargs), device, iters)
            row["eager_ms"], row["kiln_ms"] = te * 1e3, tk * 1e3
            row["speedup"] = te / tk
    except Exception as e:  # noqa: BLE001 - one row per model, keep going
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
        if os.environ.get("KILN_ZOO_TRACEBACK"):
            traceback.print_exc()
    return row


def _fmt(row: dict) -> str:
    if "error" in row:
        return f"{row['model']:<20} ERROR {row['error']}"
    sp = f"{row['speedup']:.2f}x" if "speedup" in row else "-"
    return (
        f"{row['model']:<20} {'yes' if row['full'] else 'no':<5} {row['engines']:>3} {row['kiln_ops']:>6} "
        f"{row['fallback_ops']:>6}  {row['cosine']:.6f}  {row['max_rel_err']:.2e}  {sp:>7}  {row['compile_s']:>6}s"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list(MODELS), help=f"from: {', '.join(MODELS)}")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when Kiln and torch have one)")
    ap.add_argument("--iters", type=int, default=20, help="timed iterations on a GPU")
    ap.add_argument("--json", default=None, help="write the rows to this JSON file")
    ap.add_argument(
        "--dtype",
        default="fp32",
        choices=["fp32", "fp16", "bf16"],
        help="weights, floating inputs and the engines' precision (eager runs in the same dtype)",
    )
    a = ap.parse_args()
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    unknown = [m for m in a.models if m not in MODELS]
    if unknown:
        ap.error(f"unknown models {unknown}; known: {', '.join(MODELS)}")
    if a.device is None:
        device = torch.device(
            "cuda" if torch.cuda.is_available() and "cuda" in kiln.available_backends() else "cpu"
        )
    else:
        device = torch.device(a.device)
    print(f"kiln {kiln.__version__}, torch {torch.__version__}, device {device}, dtype {a.dtype}")
    print(
        f"{'model':<20} {'full':<5} {'eng':>3} {'kiln':>6} {'torch':>6}  {'cosine':<8}  {'rel err':<8}  "
        f"{'speedup':>7}  {'build':>7}"
    )
    rows = []
    for name in a.models:
        row = run_one(name, device, a.iters, dtype)
        rows.append(row)
        print(_fmt(row), flush=True)
        for op, s in sorted(row.get("fallback", {}).items(), key=lambda kv: -kv[1]["count"])[:6]:
            print(f"{'':<22}fallback {op} x{s['count']}: {s['reason'][:120]}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    bad = [r for r in rows if "error" in r and not r["error"].startswith("skipped")]
    print(f"{len(rows) - len(bad)} compiled, {len(bad)} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
