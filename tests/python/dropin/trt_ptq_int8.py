"""Torch-TensorRT post-training quantization ("Post Training Quantization (PTQ)"): a DataLoaderCalibrator over a
DataLoader, torch_tensorrt.compile with enabled_precisions including torch.int8 and the device given as a
compile-spec dict, compared against the float model; the calibration cache is written and reused."""

import os
import tempfile

import torch
import torch.nn as nn

import kiln as torch_tensorrt


class VGGish(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


device = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed(0)
model = VGGish().eval().to(device)

testing_dataset = torch.utils.data.TensorDataset(torch.rand(32, 3, 32, 32), torch.randint(0, 10, (32,)))
testing_dataloader = torch.utils.data.DataLoader(testing_dataset, batch_size=1, shuffle=False, num_workers=0)

with tempfile.TemporaryDirectory() as tmp:
    cache = os.path.join(tmp, "calibration.cache")
    for use_cache in (False, True):
        calibrator = torch_tensorrt.ptq.DataLoaderCalibrator(
            testing_dataloader,
            cache_file=cache,
            use_cache=use_cache,
            algo_type=torch_tensorrt.ptq.CalibrationAlgo.ENTROPY_CALIBRATION_2,
            device=torch.device(device),
        )
        trt_mod = torch_tensorrt.compile(
            model,
            inputs=[torch_tensorrt.Input((1, 3, 32, 32))],
            enabled_precisions={torch.float, torch.half, torch.int8},
            calibrator=calibrator,
            device={
                "device_type": torch_tensorrt.DeviceType.GPU,
                "gpu_id": 0,
                "dla_core": 0,
                "allow_gpu_fallback": False,
                "disable_tf32": False,
            }
            if device == "cuda"
            else device,
        )
        assert os.path.exists(cache)
        with torch.no_grad():
            for images, _ in list(testing_dataloader)[:4]:
                images = images.to(device)
                ref, out = model(images), trt_mod(images)
                cos = torch.nn.functional.cosine_similarity(
                    out.float().flatten(), ref.flatten(), dim=0
                ).item()
                assert cos > 0.98, cos
print("PASS")
