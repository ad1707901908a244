"""Compiles torchvision's resnet18 (random weights) with kiln.compile on the CPU backend, prints the
support report and the largest error against eager PyTorch.

    python python/examples/demo_resnet.py            # installed kiln (pip install --no-build-isolation .)
    KILN_BUILD_DIR=build python python/examples/demo_resnet.py   # an in-tree CMake build (-DKILN_BUILD_PYTHON=ON)
"""

import os
import sys
import time

import torch

if os.environ.get("KILN_BUILD_DIR"):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import kiln  # noqa: E402


def main() -> int:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    x = torch.randn(2, 3, 224, 224)
    inputs = [kiln.Input(min_shape=(1, 3, 224, 224), opt_shape=(2, 3, 224, 224), max_shape=(4, 3, 224, 224))]

    print("== support report (dry run) ==")
    report = kiln.compile(model, inputs=inputs, device="cpu", dry_run=True)
    t0 = time.time()
    compiled = kiln.compile(model, inputs=inputs, device="cpu")
    print(
        f"== compiled in {time.time() - t0:.1f}s: {report.num_engines} engine(s), "
        f"{report.kiln_nodes} nodes in Kiln, {report.torch_nodes} in PyTorch =="
    )
    worst = 0.0
    with torch.no_grad():
        for batch in (1, 2, 4):
            xb = x[:1].repeat(batch, 1, 1, 1) if batch != 2 else x
            ref = model(xb)
            out = compiled(xb)
            err = (out - ref).abs().max().item()
            rel = err / ref.abs().max().item()
            cos = torch.nn.functional.cosine_similarity(out.flatten(), ref.flatten(), dim=0).item()
            print(f"batch {batch}: max abs error {err:.3e}, relative {rel:.3e}, cosine {cos:.6f}")
            worst = max(worst, rel)
    ok = worst < 1e-4
    print("PASS" if ok else "FAIL", f"(worst relative error {worst:.3e})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
