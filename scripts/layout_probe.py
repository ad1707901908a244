"""Prints the channels-last layout decision kilnc makes for resnet50 at a batch (GPU machine).

usage: KILN_BUILD_DIR=... python scripts/layout_probe.py BATCH
"""

import os
import subprocess
import sys
import tempfile

import torch
import torchvision

batch = int(sys.argv[1]) if len(sys.argv) > 1 else 64
build = os.environ.get("KILN_BUILD_DIR", "build")
m = torchvision.models.resnet50().eval().cuda().half()
x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=torch.half)
with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
    path = os.path.join(tmp, "r50.ts")
    torch.jit.trace(m, (x,)).save(path)
    r = subprocess.run(
        [
            os.path.join(build, "tools", "kilnc", "kilnc"),
            "-v",
            "-p",
            "fp16",
            "-d",
            "cuda",
            "-i",
            f"{batch}x3x224x224@f16",
            path,
            os.path.join(tmp, "out.ts"),
        ],
        capture_output=True,
        text=True,
    )
    print(
        "\n".join(ln for ln in (r.stdout + r.stderr).splitlines() if "layout" in ln or "error" in ln.lower())
    )
