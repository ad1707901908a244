"""8-bit Kiln vs Kiln fp16 vs PyTorch eager fp16, in one run (the GPU machine).

For ResNet-50 and MobileNet-V2 (torchvision, random weights) and a BERT-base-style encoder (12 layers,
768 wide, 12 heads, sequence 128): PyTorch eager in fp32 (the reference) and fp16, Kiln fp16, Kiln int8
and Kiln fp8 (calibrated with kiln.ptq on random batches, entropy calibration, through kiln.compile on the
export path) are timed with CUDA events (median of --iters runs after a warm-up). Prints milliseconds,
the speed-ups of the 8-bit engines over Kiln fp16, the cosine similarity of every output to eager fp32,
and how many convolutions / GEMMs each 8-bit engine ran in 8 bits (kiln.precision_report); writes JSON.

    KILN_BUILD_DIR=build python bench/quant.py [--models resnet50,mobilenet_v2,bert] [--batch 64]
        [--precisions fp16,int8,fp8] [--calib-batches 4] [--iters 50] [--out quant.json]
"""

import argparse
import copy
import functools
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from benchmark import compare, first_tensor, time_fn  # noqa: E402 - the shared timing and comparison

import kiln  # noqa: E402

VISION = ["resnet50", "mobilenet_v2"]


class EncoderLayer(torch.nn.Module):
    """BERT's encoder layer (post-norm, GELU), written with plain modules so it exports."""

    def __init__(self, d=768, heads=12, ff=3072):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.out = torch.nn.Linear(d, d)
        self.norm1 = torch.nn.LayerNorm(d)
        self.ff1 = torch.nn.Linear(d, ff)
        self.ff2 = torch.nn.Linear(ff, d)
        self.norm2 = torch.nn.LayerNorm(d)

    def forward(self, x):
        b, s, d = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        x = self.norm1(x + self.out(a.transpose(1, 2).reshape(b, s, d)))
        return self.norm2(x + self.ff2(torch.nn.functional.gelu(self.ff1(x))))


class Encoder(torch.nn.Module):
    def __init__(self, layers=12):
        super().__init__()
        self.layers = torch.nn.ModuleList(EncoderLayer() for _ in range(layers))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def make_model(name, batch):
    """The fp32 model (eval, cuda) and a function making random inputs of the benchmark's shape."""
    torch.manual_seed(0)
    if name in VISION:
        import torchvision

        m = getattr(torchvision.models, name)()
        return m.eval().cuda(), lambda: torch.randn(batch, 3, 224, 224, device="cuda")
    return Encoder().eval().cuda(), lambda: torch.randn(batch, 128, 768, device="cuda")


def compile_kiln(model, x, precision, calib_batches, make_input):
    """A Kiln module for `precision` (fp16: the model in half; int8 / fp8: calibrated fp32 model with
    the rest of the graph in fp16) and its build time."""
    t0 = time.time()
    if precision == "fp16":
        km = kiln.compile(
            copy.deepcopy(model).half(),
            inputs=[x.half()],
            enabled_precisions={torch.float16},
            device="cuda",
            min_block_size=1,
        )
        return km, time.time() - t0
    qdtype = torch.int8 if precision == "int8" else torch.float8_e4m3fn
    calib = kiln.ptq.DataLoaderCalibrator(
        [make_input() for _ in range(calib_batches)], quant_dtype=qdtype, device="cuda"
    )
    km = kiln.compile(
        model,
        inputs=[x],
        enabled_precisions={torch.float16, qdtype},
        calibrator=calib,
        device="cuda",
        min_block_size=1,
    )
    return km, time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet50,mobilenet_v2,bert")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--precisions", default="fp16,int8,fp8")
    ap.add_argument("--calib-batches", type=int, default=4)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--out", default="quant.json")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    print(
        f"GPU: {torch.cuda.get_device_name()}  torch {torch.__version__}  kiln {kiln.__version__}", flush=True
    )
    rows = []
    for name in args.models.split(","):
        row = {"model": name, "batch": args.batch}
        try:
            model, make_input = make_model(name, args.batch)
            x = make_input()
            with torch.inference_mode():
                ref = first_tensor(model(x)).float()
                row["eager_fp32_ms"] = time_fn(functools.partial(model, x), args.iters)
                half_model = copy.deepcopy(model).half()
                xh = x.half()
                row["eager_fp16_ms"] = time_fn(functools.partial(half_model, xh), args.iters)
                row["cos_eager_fp16"] = compare(first_tensor(half_model(xh)), ref)[0]
                del half_model
            for prec in args.precisions.split(","):
                try:
                    km, row[f"kiln_{prec}_build_s"] = compile_kiln(
                        model, x, prec, args.calib_batches, make_input
                    )
                    xin = x.half() if prec == "fp16" else x
                    with torch.inference_mode():
                        out = first_tensor(km(xin))
                        row[f"kiln_{prec}_ms"] = time_fn(functools.partial(km, xin), args.iters)
                    row[f"cos_kiln_{prec}"] = compare(out, ref)[0]
                    if prec != "fp16":
                        rep = kiln.precision_report(km)
                        row[f"kiln_{prec}_8bit_layers"] = sum(r.precision == prec for r in rep)
                        row[f"kiln_{prec}_float_layers"] = sum(r.precision == "float" for r in rep)
                        why = sorted({r.reason for r in rep if r.precision == "float"})
                        row[f"kiln_{prec}_float_reasons"] = why[:5]
                except Exception as e:  # noqa: BLE001 - one failing precision must not hide the others
                    row[f"kiln_{prec}_error"] = f"{type(e).__name__}: {str(e)[:400]}"
                    print(f"{name} {prec}: {row[f'kiln_{prec}_error']}", flush=True)
            for prec in ("int8", "fp8"):
                if f"kiln_{prec}_ms" in row and "kiln_fp16_ms" in row:
                    row[f"{prec}_speedup_vs_kiln_fp16"] = row["kiln_fp16_ms"] / row[f"kiln_{prec}_ms"]
                if f"kiln_{prec}_ms" in row:
                    row[f"{prec}_speedup_vs_eager_fp16"] = row["eager_fp16_ms"] / row[f"kiln_{prec}_ms"]
        except Exception as e:  # noqa: BLE001 - report the model's failure, go on with the next
            row["error"] = f"{type(e).__name__}: {str(e)[:400]}"
        rows.append(row)
        print(json.dumps(row), flush=True)
        torch.cuda.empty_cache()

    def cell(r, k, fmt="{:.3f}"):
        v = r.get(k)
        return fmt.format(v) if isinstance(v, (int, float)) and not math.isnan(v) else "-"

    cols = [
        ("eager16", "eager_fp16_ms"),
        ("kiln16", "kiln_fp16_ms"),
        ("int8", "kiln_int8_ms"),
        ("fp8", "kiln_fp8_ms"),
        ("int8/k16", "int8_speedup_vs_kiln_fp16"),
        ("fp8/k16", "fp8_speedup_vs_kiln_fp16"),
        ("cos16", "cos_kiln_fp16"),
        ("cos_i8", "cos_kiln_int8"),
        ("cos_f8", "cos_kiln_fp8"),
        ("i8 layers", "kiln_int8_8bit_layers"),
        ("f8 layers", "kiln_fp8_8bit_layers"),
    ]
    print(
        f"\nbatch {args.batch}; ms = median per run; speed-up = Kiln fp16 ms / 8-bit ms; cos = vs eager fp32"
    )
    print(f"{'model':14s}" + "".join(f"{c:>11s}" for c, _ in cols))
    for r in rows:
        cells = [
            cell(r, k, "{:.0f}" if k.endswith("layers") else "{:.4f}" if k.startswith("cos") else "{:.3f}")
            for _, k in cols
        ]
        print(f"{r['model']:14s}" + "".join(f"{c:>11s}" for c in cells))
    with open(args.out, "w") as f:
        json.dump(
            {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, f, indent=1
        )


if __name__ == "__main__":
    main()
