"""Torch-TensorRT dynamo workflow (user guide "Dynamic shapes" + "Saving models"): a torchvision ResNet-18 with
a dynamic batch, compiled with torch_tensorrt.compile(ir="dynamo"), saved as an ExportedProgram and as
TorchScript, reloaded and run at every batch size in range."""

import os
import tempfile

import torch
import torchvision

import kiln as torch_tensorrt

device = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed(0)
model = torchvision.models.resnet18(num_classes=10).eval().to(device)

inputs = [
    torch_tensorrt.Input(
        min_shape=(1, 3, 64, 64),
        opt_shape=(2, 3, 64, 64),
        max_shape=(4, 3, 64, 64),
        dtype=torch.float32,
    )
]
trt_gm = torch_tensorrt.compile(
    model,
    ir="dynamo",
    inputs=inputs,
    enabled_precisions={torch.float32},
    min_block_size=1,
    device=torch_tensorrt.Device(device),
    optimization_level=1,
)

with tempfile.TemporaryDirectory() as tmp:
    ep_path = os.path.join(tmp, "trt.ep")
    ts_path = os.path.join(tmp, "trt.ts")
    torch_tensorrt.save(trt_gm, ep_path, output_format="exported_program", inputs=inputs, retrace=True)
    torch_tensorrt.save(
        trt_gm, ts_path, output_format="torchscript", inputs=[torch.randn(2, 3, 64, 64, device=device)]
    )
    reloaded = torch_tensorrt.load(ep_path).module()
    scripted = torch.jit.load(ts_path)
    with torch.no_grad():
        for batch in (1, 3, 4):
            x = torch.randn(batch, 3, 64, 64, device=device)
            ref = model(x)
            for name, m in (("compiled", trt_gm), ("exported_program", reloaded)):
                out = m(x)
                err = ((out - ref).abs().max() / ref.abs().max()).item()
                assert err < 1e-3, (name, batch, err)
        x = torch.randn(2, 3, 64, 64, device=device)
        err = ((scripted(x) - model(x)).abs().max() / model(x).abs().max()).item()
        assert err < 1e-3, ("torchscript", err)
print("PASS")
