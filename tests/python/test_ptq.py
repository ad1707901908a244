"""INT8 by calibration (kiln.ptq): accuracy of a CNN trained here on scikit-learn's bundled digits (no
download), fp32 vs calibrated int8 with each algorithm; cosine to fp32 on a torchvision model with random
weights; the calibration cache (written, re-read, refused for another model); torch2trt's int8_mode; the
ranges each algorithm picks on data with outliers."""

import os

import numpy as np
import pytest
import torch
import torchvision

import kiln
from kiln import ptq

sklearn_datasets = pytest.importorskip("sklearn.datasets")


def cosine(a, b):
    return torch.nn.functional.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0).item()


class DigitsNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = torch.nn.Linear(32 * 4 * 4, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = torch.nn.functional.max_pool2d(torch.relu(self.c2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


@pytest.fixture(scope="module")
def digits():
    d = sklearn_datasets.load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(y), generator=g)
    tr, te = perm[:1400], perm[1400:]
    torch.manual_seed(0)
    net = DigitsNet()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(12):
        for i in range(0, 1400, 64):
            idx = tr[i : i + 64]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    return net, x[tr], x[te], y[te]


def accuracy(m, x, y):
    with torch.no_grad():
        return (m(x).argmax(1) == y).float().mean().item()


def test_digits_int8_accuracy_matches_fp32(digits, tmp_path):
    net, x_train, x_test, y_test = digits
    inp = kiln.Input(min_shape=(1, 1, 8, 8), opt_shape=(64, 1, 8, 8), max_shape=(512, 1, 8, 8))
    fp32 = kiln.compile(net, device="cpu", inputs=[inp], min_block_size=1)
    acc32 = accuracy(fp32, x_test, y_test)
    assert acc32 > 0.93, acc32
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_train[:512]), batch_size=64)
    for algo in (
        ptq.CalibrationAlgo.ENTROPY_CALIBRATION_2,
        ptq.CalibrationAlgo.MINMAX,
        ptq.CalibrationAlgo.PERCENTILE,
    ):
        calib = ptq.DataLoaderCalibrator(
            loader, algo_type=algo, cache_file=str(tmp_path / f"{algo.name}.json")
        )
        q = kiln.compile(
            net,
            device="cpu",
            inputs=[inp],
            enabled_precisions={torch.float32, torch.int8},
            calibrator=calib,
            min_block_size=1,
            require_full_compilation=True,
        )
        acc8 = accuracy(q, x_test, y_test)
        assert acc8 >= acc32 - 0.02, (algo, acc8, acc32)
        # Every convolution and linear ran as one int8 layer (the Q/DQ fusion pass).
        assert [r.precision for r in kiln.precision_report(q)] == ["int8"] * 4, kiln.precision_report(q)
        # It really is quantized: the int8 model's logits are not fp32's (a missed rewrite would match).
        with torch.no_grad():
            assert not torch.equal(q(x_test[:32]), fp32(x_test[:32]))
            assert cosine(q(x_test), fp32(x_test)) > 0.99


def test_digits_fp8_calibration_accuracy(digits):
    net, x_train, x_test, y_test = digits
    inp = kiln.Input(min_shape=(1, 1, 8, 8), opt_shape=(64, 1, 8, 8), max_shape=(512, 1, 8, 8))
    acc32 = accuracy(net, x_test, y_test)
    calib = ptq.DataLoaderCalibrator([x_train[:256]], quant_dtype=torch.float8_e4m3fn)
    q = kiln.compile(
        net,
        device="cpu",
        inputs=[inp],
        enabled_precisions={torch.float32, torch.float8_e4m3fn},
        calibrator=calib,
        min_block_size=1,
        require_full_compilation=True,
    )
    acc8 = accuracy(q, x_test, y_test)
    assert acc8 >= acc32 - 0.02, (acc8, acc32)
    assert [r.precision for r in kiln.precision_report(q)] == ["fp8"] * 4, kiln.precision_report(q)
    with pytest.raises(ValueError, match="torch.float8_e4m3fn in enabled_precisions"):
        kiln.compile(net, device="cpu", inputs=[inp], enabled_precisions={torch.int8}, calibrator=calib)


def test_resnet18_random_weights_int8_cosine_to_fp32():
    torch.manual_seed(0)
    m = torchvision.models.resnet18(num_classes=100).eval()
    calib_data = [torch.randn(2, 3, 64, 64) for _ in range(6)]
    calib = ptq.DataLoaderCalibrator(calib_data, algo_type=ptq.CalibrationAlgo.ENTROPY_CALIBRATION_2)
    x = torch.randn(2, 3, 64, 64)
    q = kiln.compile(
        m,
        device="cpu",
        inputs=[x],
        enabled_precisions={torch.float32, torch.int8},
        calibrator=calib,
        require_full_compilation=True,
    )
    with torch.no_grad():
        c = cosine(q(x), m(x))
    assert c > 0.98, c


def test_calibration_cache_is_reused_and_refused_for_another_model(digits, tmp_path):
    net, x_train, x_test, _ = digits
    cache = str(tmp_path / "calib.json")
    calib = ptq.DataLoaderCalibrator([x_train[i : i + 16] for i in range(0, 128, 16)], cache_file=cache)
    kw = dict(inputs=[x_test[:16]], enabled_precisions={torch.int8}, min_block_size=1)
    a = kiln.compile(net, device="cpu", calibrator=calib, **kw)
    assert os.path.exists(cache)
    b = kiln.compile(net, device="cpu", calibrator=ptq.CacheCalibrator(cache), **kw)
    with torch.no_grad():
        torch.testing.assert_close(b(x_test[:16]), a(x_test[:16]), rtol=0, atol=0)

    class Other(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Conv2d(1, 4, 3)

        def forward(self, x):
            return self.c(x)

    with pytest.raises(ValueError, match="different model"):
        kiln.compile(Other().eval(), device="cpu", calibrator=ptq.CacheCalibrator(cache), **kw)


def test_calibration_batch_of_the_wrong_shape_says_so():
    m = torch.nn.Sequential(torch.nn.Linear(8, 4)).eval()
    calib = ptq.DataLoaderCalibrator([torch.randn(5, 8)])
    with pytest.raises(ValueError, match=r"calibration batch 0 \(inputs \[\(5, 8\)\]\)"):
        kiln.compile(
            m, device="cpu", inputs=[torch.randn(2, 8)], enabled_precisions={torch.int8}, calibrator=calib
        )


def test_int8_without_calibrator_or_qdq_is_refused():
    net = torch.nn.Sequential(torch.nn.Linear(8, 8)).eval()
    with pytest.raises(kiln.KilnError, match="calibrat"):
        kiln.compile(
            net, device="cpu", inputs=[torch.randn(2, 8)], enabled_precisions={torch.int8}, min_block_size=1
        )


def test_torch2trt_int8_mode(digits):
    net, x_train, x_test, _ = digits
    dataset = [x_train[i] for i in range(256)]  # per-sample tensors without the batch dim
    m = kiln.convert(net, [x_test[:32]], int8_mode=True, int8_calib_dataset=dataset, int8_calib_batch_size=32)
    with torch.no_grad():
        assert cosine(m(x_test[:32]), net(x_test[:32])) > 0.99


def test_algorithms_pick_ranges_as_documented():
    torch.manual_seed(0)
    x = torch.randn(64, 1000)
    x[0, :5] = 60.0  # a few outliers far outside the bulk

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l = torch.nn.Linear(1000, 4)

        def forward(self, x):
            return self.l(x)

    gm = torch.export.export(Net().eval(), (x,)).run_decompositions().module()
    (site,) = ptq._sites(gm)
    key = ptq._site_key(site[0], site[1])
    got = {}
    for algo in (ptq.CalibrationAlgo.MINMAX, ptq.CalibrationAlgo.ENTROPY, ptq.CalibrationAlgo.PERCENTILE):
        got[algo] = ptq._calibrate(gm, ptq.DataLoaderCalibrator([x], algo_type=algo), [site], None)[key]
    assert got[ptq.CalibrationAlgo.MINMAX] == pytest.approx(60.0)
    # Entropy clips the outliers but keeps the Gaussian bulk (|x| up to ~4.5 over 64k samples).
    assert 2.5 < got[ptq.CalibrationAlgo.ENTROPY] < 20.0
    # 99.99th percentile of |x|: between the bulk's tail (~3.9) and the outliers.
    p = np.percentile(x.abs().numpy(), 99.99)
    assert got[ptq.CalibrationAlgo.PERCENTILE] == pytest.approx(p, rel=0.05, abs=60.0 / 2048 * 2)
