"""Writes kiln.report's page for a small CNN with an op Kiln leaves to PyTorch (torch.lgamma has no
converter), profiled on the CPU backend, and a screenshot of it with headless Chromium when one is installed
(the picture in docs/report.md).

    KILN_BUILD_DIR=build python python/examples/report_demo.py [OUT.html] [OUT.png]
"""

import os
import shutil
import subprocess
import sys

import torch

if os.environ.get("KILN_BUILD_DIR"):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import kiln  # noqa: E402


class Stem(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(16)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Gate(torch.nn.Module):
    def forward(self, x):
        return torch.lgamma(x + 1)  # no converter: this op stays in PyTorch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Stem()
        self.block = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.GELU())
        self.gate = Gate()
        self.head = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(32 * 16 * 16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
        )

    def forward(self, x):
        return self.head(self.gate(self.block(self.stem(x))))


def main() -> int:
    html = sys.argv[1] if len(sys.argv) > 1 else "report.html"
    png = sys.argv[2] if len(sys.argv) > 2 else None
    torch.manual_seed(0)
    model = Net().eval()
    inputs = [kiln.Input(min_shape=(1, 3, 32, 32), opt_shape=(4, 3, 32, 32), max_shape=(8, 3, 32, 32))]
    compiled = kiln.compile(model, inputs=inputs, device="cpu")
    x = torch.randn(4, 3, 32, 32)
    print(f"max abs error against eager: {(compiled(x) - model(x)).abs().max().item():.2e}")
    kiln.report(compiled, html, profile=True, title="Net (report_demo.py)")
    print(f"wrote {html}")
    browser = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if png and browser:
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1200,1300",
                f"--screenshot={os.path.abspath(png)}",
                "file://" + os.path.abspath(html),
            ],
            check=True,
            capture_output=True,
        )
        print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
