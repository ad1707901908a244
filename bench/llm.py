"""Language-model generation: HF eager (sdpa), HF + torch.compile(mode="reduce-overhead") with its static
cache, and kiln.llm, side by side in one run (docs/llm.md).

Random-weight models with the real architectures at real sizes (no download): Qwen2.5-0.5B, Llama-3.2-1B
and GPT-2 small configs. For each model, prompt length and batch: prefill ms (a generate of one new token),
decode ms per token ((generate of N new tokens - prefill) / (N - 1)), tokens/s (batch * N / total) and
device memory (the peak the torch allocator saw, plus for Kiln the device memory its engine and cache hold,
which live outside that allocator). Kiln's greedy tokens are compared with HF eager's (the share of the first
32 new tokens that agree; fp16 may legitimately diverge after a near tie). Prints a table with ratios
(Kiln's speedup over each peer) and writes JSON.

    python bench/llm.py [--quick] [--models qwen2.5-0.5b,llama-3.2-1b,gpt2] [--prompts 128,512]
                        [--batches 1,8] [--new 128] [--peers eager,compile] [--out llm.json]

--quick: Qwen2.5-0.5B, prompt 128, batch 1, 32 new tokens (< 3 minutes on an H100, torch.compile included).
KILN_BUILD_DIR=<build> uses an in-tree build's libraries (scripts/gpu_check.sh carried llm).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

if os.environ.get("KILN_BUILD_DIR"):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))


def config_of(name: str):
    import transformers as tf

    if name == "qwen2.5-0.5b":
        return tf.Qwen2ForCausalLM, tf.Qwen2Config(
            vocab_size=151936,
            hidden_size=896,
            intermediate_size=4864,
            num_hidden_layers=24,
            num_attention_heads=14,
            num_key_value_heads=2,
            max_position_embeddings=32768,
            rope_theta=1000000.0,
            rms_norm_eps=1e-6,
            tie_word_embeddings=True,
        )
    if name == "llama-3.2-1b":
        return tf.LlamaForCausalLM, tf.LlamaConfig(
            vocab_size=128256,
            hidden_size=2048,
            intermediate_size=8192,
            num_hidden_layers=16,
            num_attention_heads=32,
            num_key_value_heads=8,
            head_dim=64,
            max_position_embeddings=131072,
            rope_theta=500000.0,
            rms_norm_eps=1e-5,
            tie_word_embeddings=True,
            rope_scaling={
                "rope_type": "llama3",
                "factor": 32.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192,
            },
        )
    if name == "gpt2":
        return tf.GPT2LMHeadModel, tf.GPT2Config()
    raise SystemExit(f"unknown model {name}")


def make_model(name: str, dtype: torch.dtype):
    cls, cfg = config_of(name)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device("cuda"):
        m = cls(cfg).to(dtype).eval().requires_grad_(False)
    m.generation_config.eos_token_id = None
    m.generation_config.pad_token_id = 0
    return m


def weight_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def timed(fn, reps: int) -> tuple[float, object]:
    """Median milliseconds of `reps` runs of fn (each synchronized), and the last result."""
    out, times = None, []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2], out


def used_device_bytes() -> int:
    free, total = torch.cuda.mem_get_info()
    return total - free


def measure(run, new: int, reps: int) -> dict:
    """run(n) generates n new tokens; prefill = run(1), decode per token from run(new)."""
    run(1)
    run(new)  # warm-up: compiles, captures graphs
    torch.cuda.reset_peak_memory_stats()
    prefill, _ = timed(lambda: run(1), reps)
    total, out = timed(lambda: run(new), reps)
    return {
        "prefill_ms": prefill,
        "decode_ms_per_token": (total - prefill) / max(new - 1, 1),
        "total_ms": total,
        "peak_torch_bytes": torch.cuda.max_memory_allocated(),
        "tokens": out,
    }


def hf_runner(model, ids, mask, compiled: bool):
    kw = dict(attention_mask=mask, do_sample=False, pad_token_id=0, eos_token_id=None)
    if compiled:
        kw["cache_implementation"] = "static"

    def run(n):
        with torch.no_grad():
            return model.generate(ids, max_new_tokens=n, min_new_tokens=n, **kw)[:, ids.shape[1] :]

    return run


def bench_cell(name, model, prompt, batch, new, peers, reps, gens):
    import kiln

    torch.manual_seed(1)
    ids = torch.randint(1, model.config.vocab_size, (batch, prompt), device="cuda")
    mask = torch.ones_like(ids)
    row = {"model": name, "prompt": prompt, "batch": batch, "new": new}
    if "eager" in peers:
        row["eager"] = measure(hf_runner(model, ids, mask, False), new, reps)
    if "compile" in peers:
        fwd = model.forward
        model.forward = torch.compile(fwd, mode="reduce-overhead", fullgraph=True)
        try:
            row["compile"] = measure(hf_runner(model, ids, mask, True), new, reps)
        finally:
            model.forward = fwd
            torch._dynamo.reset()
    key = name
    if key not in gens:
        before = used_device_bytes()
        t0 = time.perf_counter()
        gens[key] = kiln.llm.compile(
            model, max_batch=max(ARGS.batches), max_seq_len=max(ARGS.prompts) + new, device="cuda"
        )
        row["kiln_compile_s"] = time.perf_counter() - t0
        gens[key + "/bytes"] = used_device_bytes() - before
    gen = gens[key]
    k = measure(lambda n: gen.generate(ids, attention_mask=mask, max_new_tokens=n)[:, prompt:], new, reps)
    k["engine_and_cache_bytes"] = gens[key + "/bytes"]
    row["kiln"] = k
    if "eager" in row:
        a, b = row["kiln"]["tokens"][:, :32].cpu(), row["eager"]["tokens"][:, :32].cpu()
        row["agree_first32"] = float((a == b).float().mean())
    for sys_name in ("eager", "compile", "kiln"):
        if sys_name in row:
            r = row[sys_name]
            r.pop("tokens", None)
            r["tokens_per_s"] = batch * new / (r["total_ms"] / 1e3)
    return row


def print_table(rows):
    hdr = (
        f"{'model':14} {'P':>4} {'B':>2} | {'prefill ms (eager/compile/kiln)':>32} | "
        f"{'decode ms/tok (eager/compile/kiln)':>36} | {'tok/s kiln':>10} | {'decode x':>15} | agree"
    )
    print(hdr)
    print("-" * len(hdr))

    def g(r, s, k):
        return f"{r[s][k]:.2f}" if s in r else "-"

    for r in rows:
        pre = "/".join(g(r, s, "prefill_ms") for s in ("eager", "compile", "kiln"))
        dec = "/".join(g(r, s, "decode_ms_per_token") for s in ("eager", "compile", "kiln"))
        ratios = "/".join(
            f"{r[s]['decode_ms_per_token'] / r['kiln']['decode_ms_per_token']:.2f}" if s in r else "-"
            for s in ("eager", "compile")
        )
        print(
            f"{r['model']:14} {r['prompt']:>4} {r['batch']:>2} | {pre:>32} | {dec:>36} | "
            f"{r['kiln']['tokens_per_s']:>10.0f} | {ratios:>15} | {r.get('agree_first32', float('nan')):.2f}"
        )
    print("decode x: HF eager / Kiln and HF compile / Kiln decode time per token (> 1: Kiln faster)")


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--models", default="qwen2.5-0.5b,llama-3.2-1b,gpt2")
    ap.add_argument("--prompts", default="128,512")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--peers", default="eager,compile")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dtype", default="fp16", choices=["fp16", "bf16", "fp32"])
    ap.add_argument("--out", default="")
    ARGS = ap.parse_args()
    if ARGS.quick:
        ARGS.models, ARGS.prompts, ARGS.batches, ARGS.new, ARGS.reps = "qwen2.5-0.5b", "128", "1", 32, 2
    ARGS.prompts = [int(x) for x in str(ARGS.prompts).split(",")]
    ARGS.batches = [int(x) for x in str(ARGS.batches).split(",")]
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[ARGS.dtype]
    peers = ARGS.peers.split(",") if ARGS.peers else []
    print(
        f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}  dtype {ARGS.dtype}", flush=True
    )
    rows = []
    for name in ARGS.models.split(","):
        model = make_model(name, dtype)
        gens: dict = {}
        print(f"{name}: {weight_bytes(model) / 1e9:.2f} GB of weights", flush=True)
        for prompt in ARGS.prompts:
            for batch in ARGS.batches:
                t0 = time.perf_counter()
                try:
                    rows.append(bench_cell(name, model, prompt, batch, ARGS.new, peers, ARGS.reps, gens))
                except Exception as e:  # noqa: BLE001 - one cell's failure is reported, the run goes on
                    print(
                        f"  {name} P={prompt} B={batch}: FAILED {type(e).__name__}: {str(e)[:800]}",
                        flush=True,
                    )
                    continue
                print(f"  {name} P={prompt} B={batch} done in {time.perf_counter() - t0:.0f} s", flush=True)
        for g in list(gens.values()):
            if hasattr(g, "close"):
                g.close()
        del model, gens
        torch.cuda.empty_cache()
    print_table(rows)
    if ARGS.out:
        with open(ARGS.out, "w") as f:
            json.dump(rows, f, indent=1)


ARGS = None
if __name__ == "__main__":
    main()
