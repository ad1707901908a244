"""Torch-TensorRT's torch.compile backend ("TensorRT Backend for torch.compile", "Compiling ResNet with
dynamic shapes using the torch.compile backend"): backend="torch_tensorrt" with an options dict, recompiling
for a new batch size, and the CUDA-graphs runtime switches."""

import torch
import torch.nn as nn

import kiln as torch_tensorrt


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x, bias):
        y = torch.relu(self.conv(x)).mean(dim=(2, 3))
        y = torch.relu(self.fc1(y)) - bias
        return self.fc2(y).softmax(-1)


device = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed(0)
model = Model().eval().to(device)

optimized_model = torch.compile(
    model,
    backend="torch_tensorrt",
    dynamic=False,
    options={
        "enabled_precisions": {torch.float, torch.half},
        "debug": False,
        "min_block_size": 2,
        "torch_executed_ops": {"torch.ops.aten.sub.Tensor"},
        "optimization_level": 1,
        "use_python_runtime": False,
        "device": device,
    },
)

tol = 2e-2
with torch.no_grad():
    for batch in (2, 5):  # the second batch size compiles a second graph
        x = torch.randn(batch, 3, 16, 16, device=device)
        bias = torch.randn(32, device=device)
        ref = model(x, bias)
        out = optimized_model(x, bias)
        assert (out - ref).abs().max().item() < tol, batch

    torch_tensorrt.runtime.set_cudagraphs_mode(True)
    assert torch_tensorrt.runtime.get_cudagraphs_mode()
    out = optimized_model(x, bias)
    assert (out - ref).abs().max().item() < tol

with torch_tensorrt.runtime.enable_cudagraphs(optimized_model) as cudagraphs_module:
    with torch.no_grad():
        assert (cudagraphs_module(x, bias) - ref).abs().max().item() < tol

torch._dynamo.reset()
print("PASS")
