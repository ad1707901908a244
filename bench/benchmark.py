"""Kiln vs PyTorch eager vs torch.compile, side by side in one run.

For each model, batch size and precision: PyTorch eager, torch.compile(mode="reduce-overhead") and Kiln
(the model traced to TorchScript, compiled by `kilnc`, loaded with torch.jit.load beside
libkiln_runtime) are timed with CUDA events (warm-up, then the median of --iters runs). Kiln's output
is checked against eager (cosine similarity, max relative error). Prints a table of milliseconds and
ratios and writes JSON.

    python bench/benchmark.py --out bench.json [--models resnet50,bert] [--batches 1,64] [--dtypes fp16,fp32]

KILN_BUILD_DIR points at the CMake build holding tools/kilnc/kilnc and kiln_torch/libkiln_runtime.so.
"""

import argparse
import functools
import json
import math
import os
import subprocess
import tempfile
import time

import torch

BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "build"))
KILNC = os.path.join(BUILD, "tools", "kilnc", "kilnc")
RUNTIME = os.path.join(BUILD, "kiln_torch", "libkiln_runtime.so")

VISION = ["resnet50", "mobilenet_v3_large", "efficientnet_b0", "vit_b_16", "convnext_tiny"]
NLP = ["bert", "gpt2"]


def make_model(name, batch, dtype):
    """Model (eval, on cuda, in dtype) and its example inputs (tuple)."""
    torch.manual_seed(0)
    if name in VISION:
        import torchvision

        m = getattr(torchvision.models, name)()
        with torch.no_grad():  # zero-initialised heads would hide errors
            for p in m.parameters():
                if p.numel() > 1 and bool((p == 0).all()):
                    p.normal_(0.0, 0.02)
        x = torch.randn(batch, 3, 224, 224)
        return (
            m.eval().to("cuda", dtype),
            (x.to("cuda", dtype),),
            f"{batch}x3x224x224@{'f16' if dtype == torch.float16 else 'f32'}",
        )
    from transformers import BertConfig, BertModel, GPT2Config, GPT2Model

    if name == "bert":
        cfg = BertConfig(torchscript=True, attn_implementation="sdpa")
        m = BertModel(cfg)
        vocab = cfg.vocab_size
    else:
        cfg = GPT2Config(torchscript=True, attn_implementation="sdpa", use_cache=False)
        m = GPT2Model(cfg)
        vocab = cfg.vocab_size
    ids = torch.randint(0, vocab, (batch, 128))
    return m.eval().to("cuda", dtype), (ids.cuda(),), f"{batch}x128@i64"


def first_tensor(out):
    while isinstance(out, (tuple, list)):
        out = out[0]
    if isinstance(out, dict):
        out = next(iter(out.values()))
    return out


def time_fn(fn, iters, warmup=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def compare(got, want):
    g, w = got.float().flatten(), want.float().flatten()
    cos = torch.nn.functional.cosine_similarity(g, w, dim=0).item()
    rel = ((g - w).abs().max() / w.abs().max().clamp_min(1e-12)).item()
    return cos, rel


KILN_OPT_LEVEL = None  # --kiln-opt-level: kilnc -O


def run_kiln(model, inputs, shape_arg, precision, tmp, name, variant=""):
    ts_path = os.path.join(tmp, f"{name}.ts")
    out_path = os.path.join(tmp, f"{name}_kiln.ts")
    with torch.no_grad():
        traced = torch.jit.trace(model, inputs, strict=False)
    traced.save(ts_path)
    # One compiled-kernel cache per run: variants of a model reuse its generated kernels.
    cmd = [
        KILNC,
        "-q",
        "-d",
        "cuda",
        "--kernel-cache",
        os.path.join(tmp, "kernel_cache"),
        "--timing-cache",
        os.path.join(tmp, "timing.cache"),
        "-i",
        shape_arg,
        ts_path,
        out_path,
    ]
    if precision == "fp16":
        cmd[1:1] = ["-p", "fp16"]
    if KILN_OPT_LEVEL is not None:
        cmd[1:1] = ["-O", str(KILN_OPT_LEVEL)]
    env = dict(os.environ)
    for assignment in [a for a in variant.split("+") if a]:  # e.g. "KILN_LAYOUT=nchw+KILN_CUDNN_LEGACY=1"
        key, _, value = assignment.partition("=")
        env[key] = value
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    compile_s = time.time() - t0
    if r.returncode != 0:
        raise RuntimeError(f"kilnc failed: {r.stderr.strip()[-2000:]}")
    return torch.jit.load(out_path), compile_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(VISION + NLP))
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--dtypes", default="fp16")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (same as --peers eager)")
    ap.add_argument(
        "--peers",
        default="eager,compile",
        help="PyTorch paths to time beside Kiln: eager, compile (torch.compile mode=reduce-overhead), "
        "autotune (mode=max-autotune; compiles for minutes)",
    )
    ap.add_argument(
        "--variants",
        default="",
        help="also time Kiln built with these environment settings, comma-separated; one variant is "
        "NAME=VALUE[+NAME=VALUE...] (e.g. KILN_LAYOUT=nchw,KILN_CUDNN_LEGACY=1)",
    )
    ap.add_argument(
        "--warm-build",
        action="store_true",
        help="build each Kiln engine a second time with the run's timing and kernel caches warm, and "
        "report that build time too",
    )
    ap.add_argument(
        "--kiln-opt-level",
        type=int,
        default=None,
        help="kilnc optimization level (default: kilnc's, 3); 4 also times CUTLASS GEMM epilogues",
    )
    ap.add_argument("--out", default="bench.json")
    ap.add_argument(
        "--dump-plans", default="", help="directory to write each Kiln engine plan to (for kiln_profile)"
    )
    args = ap.parse_args()
    global KILN_OPT_LEVEL
    KILN_OPT_LEVEL = args.kiln_opt_level
    peers = [p for p in args.peers.split(",") if p]
    if args.no_compile:
        peers = [p for p in peers if p == "eager"]
    unknown = set(peers) - {"eager", "compile", "autotune"}
    if unknown or "eager" not in peers:
        ap.error(f"--peers takes eager (always), compile, autotune; got {args.peers}")
    torch.ops.load_library(RUNTIME)
    torch.backends.cudnn.benchmark = True
    rows = []
    tmp = tempfile.mkdtemp(prefix="kiln_bench_")
    print(f"GPU: {torch.cuda.get_device_name()}  torch {torch.__version__}", flush=True)
    for name in args.models.split(","):
        for batch in [int(b) for b in args.batches.split(",")]:
            for prec in args.dtypes.split(","):
                dtype = torch.float16 if prec == "fp16" else torch.float32
                row = {"model": name, "batch": batch, "precision": prec}
                try:
                    model, inputs, shape_arg = make_model(name, batch, dtype)
                    with torch.inference_mode():
                        ref = first_tensor(model(*inputs))
                        row["eager_ms"] = time_fn(functools.partial(model, *inputs), args.iters)
                    kmod, row["kiln_compile_s"] = run_kiln(
                        model, inputs, shape_arg, prec, tmp, f"{name}_{batch}_{prec}"
                    )
                    if args.warm_build:
                        kmod, row["kiln_warm_compile_s"] = run_kiln(
                            model, inputs, shape_arg, prec, tmp, f"{name}_{batch}_{prec}"
                        )
                    if args.dump_plans:
                        os.makedirs(args.dump_plans, exist_ok=True)
                        for k in range(64):
                            try:
                                eng = getattr(kmod, f"__kiln_engine_{k}")
                            except (AttributeError, RuntimeError):
                                break
                            path = os.path.join(args.dump_plans, f"{name}_{batch}_{prec}_{k}.plan")
                            with open(path, "wb") as f:
                                f.write(eng.plan().numpy().tobytes())
                    with torch.inference_mode():
                        got = first_tensor(kmod(*inputs))
                        row["cosine"], row["max_rel_err"] = compare(got, ref)
                        row["kiln_ms"] = time_fn(functools.partial(kmod, *inputs), args.iters)
                    del kmod
                    for variant in [v for v in args.variants.split(",") if v]:
                        tag = variant.replace("=", "_").replace("+", "_")
                        km, row[f"kiln[{variant}]_compile_s"] = run_kiln(
                            model, inputs, shape_arg, prec, tmp, f"{name}_{batch}_{prec}_{tag}", variant
                        )
                        with torch.inference_mode():
                            row[f"kiln[{variant}]_cosine"], row[f"kiln[{variant}]_max_rel_err"] = compare(
                                first_tensor(km(*inputs)), ref
                            )
                            row[f"kiln[{variant}]_ms"] = time_fn(functools.partial(km, *inputs), args.iters)
                        if args.dump_plans:
                            with open(
                                os.path.join(args.dump_plans, f"{name}_{batch}_{prec}_{tag}.plan"), "wb"
                            ) as f:
                                f.write(km.__kiln_engine_0.plan().numpy().tobytes())
                        del km
                    for peer, mode in (("compile", "reduce-overhead"), ("autotune", "max-autotune")):
                        if peer not in peers:
                            continue
                        torch._dynamo.reset()
                        t0 = time.time()
                        cm = torch.compile(model, mode=mode)
                        with torch.inference_mode():
                            cm(*inputs)
                            cm(*inputs)
                            row[f"{peer}_compile_s"] = time.time() - t0
                            row[f"{peer}_ms"] = time_fn(functools.partial(cm, *inputs), args.iters)
                        del cm
                    del model
                except Exception as e:  # a failure is a row in the table, not the end of the run
                    row["error"] = str(e)[-500:]
                torch.cuda.empty_cache()
                rows.append(row)
                print(json.dumps(row), flush=True)
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=1)
    print()
    print(
        f"{'model':<20}{'b':>4}{'prec':>6}{'eager':>9}{'compile':>9}{'autotune':>9}{'kiln':>9}{'k/eager':>9}"
        f"{'k/comp':>9}{'x best':>8}{'cos':>9}{'maxrel':>9}{'kc s':>7}{'tc s':>7}"
    )
    speedups = []
    for r in rows:
        if "error" in r and "kiln_ms" not in r:
            print(f"{r['model']:<20}{r['batch']:>4}{r['precision']:>6}  ERROR {r['error'][:120]}")
            continue
        e, c, a, k = r.get("eager_ms"), r.get("compile_ms"), r.get("autotune_ms"), r.get("kiln_ms")
        best = min([v for v in (e, c, a) if isinstance(v, float)], default=None)
        x = best / k if best and k else None
        if x:
            r["speedup_over_best"] = x
            speedups.append(x)

        def f(v):
            return f"{v:9.3f}" if isinstance(v, float) else f"{'-':>9}"

        print(
            f"{r['model']:<20}{r['batch']:>4}{r['precision']:>6}{f(e)}{f(c)}{f(a)}{f(k)}"
            f"{f(k / e if k and e else None)}{f(k / c if k and c else None)}"
            f"{(f'{x:8.2f}' if x else f'{chr(45):>8}')}"
            f"{r.get('cosine', float('nan')):9.5f}{r.get('max_rel_err', float('nan')):9.2e}"
            f"{r.get('kiln_compile_s', 0):7.1f}{r.get('compile_compile_s', 0):7.1f}"
            + (f"  warm build {r['kiln_warm_compile_s']:.1f} s" if "kiln_warm_compile_s" in r else "")
        )
    if speedups:
        geo = math.exp(sum(math.log(v) for v in speedups) / len(speedups))
        slower = sum(1 for v in speedups if v < 1.0)
        print(
            f"geometric mean of Kiln's speedup over the best peer ({'/'.join(peers)}): {geo:.3f}x over "
            f"{len(speedups)} cells; Kiln slower on {slower}"
        )
    for r in rows:
        for key in [k for k in r if k.startswith("kiln[") and k.endswith("_ms")]:
            k, v = r.get("kiln_ms"), r[key]
            cos = r.get(key[:-3] + "_cosine", float("nan"))
            print(
                f"  {r['model']} b{r['batch']} {r['precision']}: {key[:-3]} {v:.3f} ms "
                f"(default kiln {k:.3f} ms, ratio {v / k if k else float('nan'):.2f}, cosine {cos:.5f})"
            )
    print(
        "ratios < 1 mean Kiln is faster (k/eager: Kiln over eager; k/comp: Kiln over torch.compile reduce-overhead); "
        "x best: the best peer's time over Kiln's (> 1: Kiln faster)"
    )


if __name__ == "__main__":
    main()
