"""torch2trt INT8 ("int8_mode" with a calibration dataset): a small CNN calibrated on a list of samples
(without the batch dim, as torch2trt's dataset calibrator takes them), compared against PyTorch, then saved
and reloaded through the state_dict."""

import os
import tempfile

import torch
import torch.nn as nn

from kiln.torch2trt import TRTModule, torch2trt


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1, stride=2),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Linear(32, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


device = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed(0)
model = Net().eval().to(device)
dataset = [torch.rand(3, 32, 32, device=device) for _ in range(32)]
data = torch.rand(4, 3, 32, 32, device=device)

model_trt = torch2trt(
    model,
    [data],
    int8_mode=True,
    int8_calib_dataset=dataset,
    int8_calib_batch_size=4,
    max_batch_size=4,
)

with torch.no_grad():
    ref = model(data)
    out = model_trt(data)
cos = torch.nn.functional.cosine_similarity(out.flatten(), ref.flatten(), dim=0).item()
assert cos > 0.99, cos

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "net_int8_trt.pth")
    torch.save(model_trt.state_dict(), path)
    reloaded = TRTModule()
    reloaded.load_state_dict(torch.load(path))
    with torch.no_grad():
        assert torch.equal(reloaded(data), out)
print("PASS")
