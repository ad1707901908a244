"""Float32 numerics of the CUDA backend (issue 16, item 3): float32 engines compute in float32. TF32 (cuBLASLt's
CUBLAS_COMPUTE_32F_FAST_TF32, cuDNN's tensor-op math) runs only when enabled_precisions holds "tf32".

For every model of bench/zoo.py (and timm's efficientnetv2_rw_s at 288x288 when timm is installed), Kiln's
float32 CUDA output is within 10x of eager float32's own distance to a float64 reference (eager with TF32
off), by max relative error and by 1 - cosine. Skipped without a GPU (CI has none): the lead runs it on the GPU.

    KILN_BUILD_DIR=build python -m pytest -q tests/python/test_gpu_fp32_numerics.py -rA
"""

import copy
import os
import sys

import pytest
import torch

from conftest import REPO, requires_cuda

sys.path.insert(0, os.path.join(REPO, "bench"))
try:
    import zoo  # noqa: E402 - bench/zoo.py: the model list
finally:
    sys.path.pop(0)

import kiln  # noqa: E402

# Distances below these are rounding noise of float32 itself: eager's own distance is floored there, so a model
# where eager happens to land very close to float64 does not demand the impossible of Kiln.
REL_FLOOR = 1e-6
COS_FLOOR = 1e-9
FACTOR = 10.0


def _efficientnetv2_rw_s() -> tuple:
    import timm

    return timm.create_model("efficientnetv2_rw_s", pretrained=False), (torch.randn(1, 3, 288, 288),), {}


MODELS = dict(zoo.MODELS)
MODELS["efficientnetv2_rw_s"] = _efficientnetv2_rw_s


def _move(v, dtype):
    if not isinstance(v, torch.Tensor):
        return v
    return v.to(device="cuda", dtype=dtype) if v.is_floating_point() else v.cuda()


def distances(out: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """(max relative error, 1 - cosine) of out against ref, in float64."""
    o, r = out.double().flatten(), ref.double().flatten()
    rel = ((o - r).abs().max() / r.abs().max().clamp_min(1e-30)).item()
    cos = torch.nn.functional.cosine_similarity(o, r, dim=0).item()
    return rel, max(0.0, 1.0 - cos)


class _NoTF32:
    """Eager float32 in full float32: TF32 off for cuBLAS and cuDNN (restored afterwards)."""

    def __enter__(self):
        self.saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    def __exit__(self, *exc):
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self.saved


@requires_cuda
@pytest.mark.parametrize("name", sorted(MODELS))
def test_float32_engine_is_as_close_to_float64_as_eager(name):
    torch.manual_seed(0)
    try:
        model, args, kwargs = MODELS[name]()
    except ImportError as e:
        pytest.skip(f"{name}: {e}")
    zoo._randomize_zero_params(model)
    model = model.eval()
    model64 = copy.deepcopy(model).cuda().double()
    model = model.cuda()
    args32 = tuple(_move(a, torch.float32) for a in args)
    kwargs32 = {k: _move(v, torch.float32) for k, v in kwargs.items()}
    args64 = tuple(_move(a, torch.float64) for a in args)
    kwargs64 = {k: _move(v, torch.float64) for k, v in kwargs.items()}
    with torch.no_grad(), _NoTF32():
        ref = zoo._first_tensor(model64(*args64, **kwargs64))
        eager = zoo._first_tensor(model(*args32, **kwargs32))
    compiled = kiln.compile(
        model,
        inputs=list(args32),
        kwarg_inputs=kwargs32 or None,
        device="cuda",
        enabled_precisions={torch.float32},
    )
    with torch.no_grad():
        out = zoo._first_tensor(compiled(*args32, **kwargs32))
    e_rel, e_cos = distances(eager, ref)
    k_rel, k_cos = distances(out, ref)
    print(
        f"{name}: max rel err to float64: eager {e_rel:.3g}, kiln {k_rel:.3g}; "
        f"1 - cosine: eager {e_cos:.3g}, kiln {k_cos:.3g}"
    )
    assert k_rel <= FACTOR * max(e_rel, REL_FLOOR), (name, k_rel, e_rel)
    assert k_cos <= FACTOR * max(e_cos, COS_FLOOR), (name, k_cos, e_cos)


@requires_cuda
def test_tf32_runs_only_when_enabled():
    """A float32 GEMM with a long reduction: without "tf32" Kiln matches float64 as closely as eager float32
    with TF32 off; with "tf32" it may not (and on an Ampere-or-newer GPU, it does not: TF32 keeps 10 mantissa
    bits), which shows the switch reaches the kernels."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(4096, 256).cuda().eval()
    x = torch.randn(64, 4096, device="cuda")
    with torch.no_grad(), _NoTF32():
        ref = torch.nn.functional.linear(x.double(), lin.weight.double(), lin.bias.double())
        eager = lin(x)
    fp32 = kiln.compile(lin, inputs=[x], device="cuda", enabled_precisions={torch.float32})
    tf32 = kiln.compile(lin, inputs=[x], device="cuda", enabled_precisions={torch.float32, "tf32"})
    with torch.no_grad():
        r32, _ = distances(fp32(x), ref)
        rtf, _ = distances(tf32(x), ref)
    e32, _ = distances(eager, ref)
    assert r32 <= FACTOR * max(e32, REL_FLOOR), (r32, e32)
    if torch.cuda.get_device_capability()[0] >= 8:
        assert rtf > r32, (rtf, r32)  # TF32 rounds the inputs to 10 mantissa bits
