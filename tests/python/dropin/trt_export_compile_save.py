"""Torch-TensorRT "Compiling Exported Programs" and "Saving models with dynamic shapes": torch.export with a
torch.export.Dim, torch_tensorrt.dynamo.compile of the ExportedProgram, torch_tensorrt.dynamo.trace with Input
ranges, torch_tensorrt.dynamo.export of the compiled module, torch.export.save / load, and
torch_tensorrt.save(..., arg_inputs=...) + torch_tensorrt.load."""

import os
import tempfile

import torch
import torch.nn as nn

import kiln as torch_tensorrt


class SimpleModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.linear = nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        return self.linear(y.mean(dim=(2, 3)))


device = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed(0)
model = SimpleModel().eval().to(device)

# Method 1: torch.export with an explicit Dim, then compile the ExportedProgram.
example_input = torch.randn(4, 3, 16, 16, device=device)
dyn_batch = torch.export.Dim("batch", min=1, max=32)
exp_program = torch.export.export(model, (example_input,), dynamic_shapes={"x": {0: dyn_batch}}, strict=False)
trt_module = torch_tensorrt.dynamo.compile(
    exp_program,
    inputs=[
        torch_tensorrt.Input(
            min_shape=(1, 3, 16, 16), opt_shape=(8, 3, 16, 16), max_shape=(32, 3, 16, 16), dtype=torch.float32
        )
    ],
    enabled_precisions={torch.float32},
    min_block_size=1,
)

# Method 2: torch_tensorrt.dynamo.trace with Input ranges (torch_tensor= is the example at opt_shape).
opt_example = torch.randn(8, 3, 16, 16, device=device)
inputs = [
    torch_tensorrt.Input(
        min_shape=(1, 3, 16, 16),
        opt_shape=(8, 3, 16, 16),
        max_shape=(32, 3, 16, 16),
        dtype=torch_tensorrt.dtype.float32,
        format=torch.contiguous_format,
        torch_tensor=opt_example,
        name="x",
    )
]
exp_program2 = torch_tensorrt.dynamo.trace(model, inputs)
trt_gm = torch_tensorrt.dynamo.compile(exp_program2, inputs, min_block_size=1)

with tempfile.TemporaryDirectory() as tmp:
    trt_exp = torch_tensorrt.dynamo.export(trt_gm, inputs)
    torch.export.save(trt_exp, os.path.join(tmp, "trt.ep"))
    loaded = torch.export.load(os.path.join(tmp, "trt.ep")).module()

    torch_tensorrt.save(trt_module, os.path.join(tmp, "method1.ep"), arg_inputs=inputs)
    loaded1 = torch_tensorrt.load(os.path.join(tmp, "method1.ep")).module()

    with torch.no_grad():
        for batch in (1, 8, 32):
            x = torch.randn(batch, 3, 16, 16, device=device)
            ref = model(x)
            for name, m in (
                ("method1", trt_module),
                ("method2", trt_gm),
                ("exported", loaded),
                ("saved", loaded1),
            ):
                err = ((m(x) - ref).abs().max() / ref.abs().max()).item()
                assert err < 1e-4, (name, batch, err)
print("PASS")
