"""torch2trt README workflow: convert a torchvision model with one call and example data, run the returned
TRTModule like the model, save its state_dict and load it into a fresh TRTModule (dynamic batch through
max_batch_size; fp16 layers with fp16_mode)."""

import os
import tempfile

import torch
from torchvision.models import resnet18

from kiln.torch2trt import TRTModule, torch2trt

device = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed(0)
model = resnet18(num_classes=10).eval().to(device)

x = torch.ones((1, 3, 64, 64), device=device)
model_trt = torch2trt(model, [x], fp16_mode=True, max_batch_size=4, log_level="error")

tol = 2e-2
with torch.no_grad():
    y = model(x)
    y_trt = model_trt(x)
    assert torch.max(torch.abs(y - y_trt)).item() / y.abs().max().item() < tol
    xb = torch.randn(4, 3, 64, 64, device=device)
    assert torch.max(torch.abs(model(xb) - model_trt(xb))).item() / model(xb).abs().max().item() < tol

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "resnet18_trt.pth")
    torch.save(model_trt.state_dict(), path)

    model_trt = TRTModule()
    model_trt.load_state_dict(torch.load(path))
    with torch.no_grad():
        assert torch.max(torch.abs(y - model_trt(x))).item() / y.abs().max().item() < tol
print("PASS")
