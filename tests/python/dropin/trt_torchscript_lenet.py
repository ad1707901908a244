"""Torch-TensorRT TorchScript frontend ("Using Torch-TensorRT in Python", torch_tensorrt.ts): a scripted LeNet
compiled with torch_tensorrt.compile(ir="ts") and torch_tensorrt.ts.compile, saved with torch.jit.save and
reloaded; convert_method_to_trt_engine + ts.embed_engine_in_new_module; logging levels."""

import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F

import kiln as torch_tensorrt


class LeNetFeatExtractor(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 16, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return x


class LeNetClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16 * 6 * 6, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.feat = LeNetFeatExtractor()
        self.classifer = LeNetClassifier()

    def forward(self, x):
        return self.classifer(self.feat(x))


torch_tensorrt.logging.set_reportable_log_level(torch_tensorrt.logging.Level.Warning)
assert torch_tensorrt.logging.get_reportable_log_level() == torch_tensorrt.logging.Level.Warning

device = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed(0)
model = LeNet().eval().to(device)
script_model = torch.jit.script(model)

compile_settings = {
    "inputs": [
        torch_tensorrt.Input(
            min_shape=[1, 1, 32, 32],
            opt_shape=[2, 1, 32, 32],
            max_shape=[4, 1, 32, 32],
            dtype=torch.float,
        )
    ],
    "enabled_precisions": {torch.float},
    "device": {"device_type": torch_tensorrt.DeviceType.GPU, "gpu_id": 0}
    if device == "cuda"
    else torch_tensorrt.Device("cpu"),
}
with torch_tensorrt.logging.errors():
    trt_ts_module = torch_tensorrt.compile(script_model, ir="ts", **compile_settings)
trt_ts_module2 = torch_tensorrt.ts.compile(script_model, **compile_settings)

data = torch.randn(3, 1, 32, 32, device=device)
with torch.no_grad():
    ref = model(data)
    for m in (trt_ts_module, trt_ts_module2):
        assert ((m(data) - ref).abs().max() / ref.abs().max()).item() < 1e-4

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "trt_torchscript_module.ts")
    torch.jit.save(trt_ts_module, path)
    loaded = torch.jit.load(path)
    with torch.no_grad():
        assert ((loaded(data) - ref).abs().max() / ref.abs().max()).item() < 1e-4

# One engine for the whole method, embedded in a new TorchScript module.
static = [torch_tensorrt.Input((2, 1, 32, 32))]
trt_engine = torch_tensorrt.ts.convert_method_to_trt_engine(script_model, "forward", inputs=static)
trt_mod = torch_tensorrt.ts.embed_engine_in_new_module(trt_engine, device=torch_tensorrt.Device(device))
x = torch.randn(2, 1, 32, 32, device=device)
with torch.no_grad():
    assert ((trt_mod(x) - model(x)).abs().max() / model(x).abs().max()).item() < 1e-4
print("PASS")
