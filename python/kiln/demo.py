"""The demo of the main job: compile real models with kiln.compile and check them.

    python -m kiln.demo            # what scripts/demo.sh runs
    python -m kiln.demo --small    # small inputs (CI's run on the CPU backend)

For torchvision's resnet18 and a small transformers BertModel (random weights, nothing downloads): prints the
support report (which ops run in Kiln, which stay in PyTorch and why), compiles with kiln.compile, prints the
error against eager PyTorch, saves the compiled module with kiln.save and reloads and checks it in a fresh
Python process, and on a GPU prints the speedup over eager and torch.compile. Without a GPU it says so and
runs Kiln's CPU backend (the reference backend: correct, not fast; no timings). Exit status 0 when every
check passes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import torch

from kiln._compile import compile as kiln_compile
from kiln._input import Input
from kiln._native import C, build_info
from kiln._save import load, save

# (relative error, cosine) a model must reach against eager, per compute precision.
_TOLERANCE = {torch.float32: (1e-4, 0.99999), torch.float16: (3e-2, 0.999)}


def _resnet18(small: bool, dtype: torch.dtype, device: str) -> dict:
    import torchvision

    size = 64 if small else 224
    model = torchvision.models.resnet18().eval().to(device, dtype)
    x = torch.randn(2, 3, size, size, device=device, dtype=dtype)
    # A batch range: one engine serves batches 1..8 (the reload below runs batch 2 and batch 1).
    inputs = [
        Input(
            min_shape=(1, 3, size, size),
            opt_shape=(2, 3, size, size),
            max_shape=(8, 3, size, size),
            dtype=dtype,
        )
    ]
    return {
        "model": model,
        "args": (x,),
        "kwargs": {},
        "inputs": inputs,
        "kwarg_inputs": None,
        "shape": f"batch 1..8 x 3 x {size} x {size}",
    }


def _bert(small: bool, dtype: torch.dtype, device: str) -> dict:
    import transformers

    cfg = transformers.BertConfig(
        hidden_size=128 if small else 256,
        num_hidden_layers=2 if small else 4,
        num_attention_heads=4,
        intermediate_size=256 if small else 1024,
        vocab_size=1000,
        attn_implementation="sdpa",
    )
    # The encoder's last hidden state: torch.export cannot serialize transformers' output classes, so the
    # saved program returns the tensor.
    model = _LastHiddenState(transformers.BertModel(cfg)).eval().to(device, dtype)
    seq = 16 if small else 128
    ids = torch.randint(0, cfg.vocab_size, (2, seq), device=device)
    mask = torch.ones(2, seq, dtype=torch.long, device=device)
    mask[1, seq * 3 // 4 :] = 0  # the second sequence is padded
    return {
        "model": model,
        "args": (ids,),
        "kwargs": {"attention_mask": mask},
        "inputs": [ids],
        "kwarg_inputs": {"attention_mask": mask},
        "shape": f"2 x {seq} tokens, padding mask",
    }


class _LastHiddenState(torch.nn.Module):
    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids, attention_mask=attention_mask).last_hidden_state


MODELS: dict[str, Callable[[bool, torch.dtype, str], dict]] = {"resnet18": _resnet18, "bert": _bert}


def _errors(out: Any, ref: Any) -> tuple[float, float, float]:
    """(max abs error, relative error, cosine similarity) of out against ref, in float32."""
    a, b = out.float(), ref.float()
    err = (a - b).abs().max().item()
    rel = err / max(b.abs().max().item(), 1e-12)
    cos = torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()
    return err, rel, cos


def _time_ms(fn: Callable[[], Any], device: str, iters: int = 50) -> float:
    with torch.no_grad():
        for _ in range(5):
            fn()
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        if device == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3 / iters


def _reload_in_fresh_process(saved: str, check: str) -> tuple[bool, str]:
    """Runs `python -m kiln.demo --check-saved` in a new interpreter: loads the saved module, runs the
    stored inputs and compares with the stored eager outputs."""
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-m", "kiln.demo", "--check-saved", saved, check],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    text = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0, text


def check_saved(saved: str, check: str) -> int:
    """The fresh process: kiln.load and run (the import of kiln registers the engine op)."""
    data = torch.load(check, weights_only=False)
    module = load(saved).module()
    worst_ok = True
    lines = []
    with torch.no_grad():
        for case in data["cases"]:
            out = module(*case["args"], **case["kwargs"])
            err, rel, cos = _errors(out, case["ref"])
            ok = rel < data["rtol"] and cos > data["cos"]
            worst_ok &= ok
            lines.append(
                f"{case['name']}: max abs error {err:.2e}, relative {rel:.2e}, cosine {cos:.6f}"
                f"{'' if ok else '  <- FAIL'}"
            )
    print("; ".join(lines))
    return 0 if worst_ok else 1


def run_model(name: str, args: argparse.Namespace, device: str, dtype: torch.dtype, out_dir: str) -> bool:
    torch.manual_seed(0)
    spec = MODELS[name](args.small, dtype, device)
    model, x, kw = spec["model"], spec["args"], spec["kwargs"]
    rtol, min_cos = _TOLERANCE[dtype]
    options = {"inputs": spec["inputs"], "device": device, "enabled_precisions": {dtype}}
    if spec["kwarg_inputs"] is not None:
        options["kwarg_inputs"] = spec["kwarg_inputs"]
    print(f"\n=== {name} ({spec['shape']}, {str(dtype).replace('torch.', '')}, {device}) ===")

    report = kiln_compile(model, dry_run=True, **options)
    print(report.summary())
    t0 = time.perf_counter()
    compiled = kiln_compile(model, **options)
    build_s = time.perf_counter() - t0
    print(f"compiled in {build_s:.1f} s")

    with torch.no_grad():
        ref = model(*x, **kw)
        out = compiled(*x, **kw)
    err, rel, cos = _errors(out, ref)
    ok = rel < rtol and cos > min_cos
    print(
        f"error against eager PyTorch: max abs {err:.2e}, relative {rel:.2e}, cosine {cos:.6f} "
        f"({'ok' if ok else 'FAIL'}: relative < {rtol:g}, cosine > {min_cos})"
    )

    # Save, then load and run in a fresh process (at the example batch and, for the range, batch 1).
    saved = os.path.join(out_dir, f"{name}.pt2")
    save(compiled, saved)
    cases = [{"name": "example input", "args": x, "kwargs": kw, "ref": ref}]
    if name == "resnet18":
        with torch.no_grad():
            cases.append({"name": "batch 1", "args": (x[0][:1],), "kwargs": {}, "ref": model(x[0][:1])})
    check = os.path.join(out_dir, f"{name}.check.pt")
    torch.save({"cases": cases, "rtol": rtol, "cos": min_cos}, check)
    reload_ok, text = _reload_in_fresh_process(saved, check)
    print(
        f"saved {saved} ({os.path.getsize(saved) / 1e6:.1f} MB); reloaded in a fresh process: "
        f"{'ok' if reload_ok else 'FAIL'}\n  {text.replace(chr(10), chr(10) + '  ')}"
    )

    if device == "cuda" and not args.no_timing:
        with torch.no_grad():
            t_eager = _time_ms(lambda: model(*x, **kw), device)
            t_kiln = _time_ms(lambda: compiled(*x, **kw), device)
            try:
                tc = torch.compile(model, mode="max-autotune-no-cudagraphs")
                t_tc = _time_ms(lambda: tc(*x, **kw), device)
            except Exception as e:  # noqa: BLE001 - a torch.compile failure is a missing peer, not ours
                print(f"torch.compile failed ({type(e).__name__}: {e}); no comparison with it")
                t_tc = float("nan")
        print(
            f"latency: eager {t_eager:.3f} ms, torch.compile {t_tc:.3f} ms, Kiln {t_kiln:.3f} ms -> "
            f"speedup over eager {t_eager / t_kiln:.2f}x, over torch.compile {t_tc / t_kiln:.2f}x"
        )
    return ok and reload_ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kiln.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help="small inputs and models (CI: CPU backend, < 60 s)")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    p.add_argument("--out", default="", help="folder for the saved modules (default: a temporary folder)")
    p.add_argument("--no-timing", action="store_true", help="skip the speed comparison on a GPU")
    p.add_argument("--check-saved", nargs=2, metavar=("SAVED", "CHECK"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.check_saved:
        return check_saved(*args.check_saved)

    gpu = torch.cuda.is_available() and build_info.with_cuda
    device = args.device if args.device != "auto" else ("cuda" if gpu else "cpu")
    print(f"kiln {C.kiln_version}, torch {torch.__version__}")
    if device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name()}; models in float16 (eager, torch.compile and Kiln alike)")
        dtype = torch.float16
    else:
        why = (
            "no CUDA GPU is visible"
            if not torch.cuda.is_available()
            else "this kiln was built without the CUDA backend"
            if not build_info.with_cuda
            else "--device cpu"
        )
        print(
            f"No GPU run: {why}. Running Kiln's CPU backend (the reference backend: exact float32, "
            "not fast; no speed comparison)."
        )
        dtype = torch.float32
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")

    with tempfile.TemporaryDirectory(prefix="kiln_demo_") as tmp:
        out_dir = args.out or tmp
        os.makedirs(out_dir, exist_ok=True)
        results = {n: run_model(n, args, device, dtype, out_dir) for n in names}
    print("\n=== summary ===")
    for n, ok in results.items():
        print(f"{n}: {'PASS' if ok else 'FAIL'}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
