"""Post-training INT8 quantization by calibration (implicit quantization), spelled as Torch-TensorRT's
``torch_tensorrt.ptq`` and torch2trt's ``int8_calib_*`` arguments:

    calib = kiln.ptq.DataLoaderCalibrator(loader, cache_file="calib.json",
                                          algo_type=kiln.ptq.CalibrationAlgo.ENTROPY_CALIBRATION_2)
    trt_mod = kiln.compile(model, inputs=[x], enabled_precisions={torch.float16, torch.int8},
                           calibrator=calib)

How it works: the exported (core ATen) graph runs in PyTorch over the calibration batches; the input
activation of every convolution and of every matrix product with a constant weight is observed (|x|
max, then a 2048-bin histogram of |x|), and its range is chosen by the algorithm (min-max, entropy =
TensorRT's KL-divergence calibration, or a percentile). Kiln then inserts quantize/dequantize pairs
(symmetric int8, zero point 0, scale = amax / 127) on those activations and quantizes the weights per
output channel (int8 weights + dequantize), and compiles the result as an explicitly quantized graph:
the same path PT2E and fake-quantized models take. With ``quant_dtype=torch.float8_e4m3fn`` the
activations are cast to float8 e4m3 (scale = amax / 448) and the weights stored as float8 with one
scale per tensor, as FP8 recipes (ModelOpt, Transformer Engine) do. The chosen ranges are written to ``cache_file``
(JSON, keyed by the graph's fingerprint) and read back instead of calibrating again when
``use_cache`` is true; a cache made for another model is refused with a clear message.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import os
from typing import Any, Iterable, Optional

import numpy as np
import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401 - registers quantized_decomposed ops
import torch.fx

__all__ = ["CalibrationAlgo", "DataLoaderCalibrator", "CacheCalibrator", "quantize_graph"]

_qd = torch.ops.quantized_decomposed
_aten = torch.ops.aten
_CACHE_VERSION = 1
_BINS = 2048


class CalibrationAlgo(enum.Enum):
    """How an activation's range is chosen from what calibration saw."""

    ENTROPY_CALIBRATION_2 = "entropy"  # TensorRT's default: minimal KL divergence of the int8 histogram
    MINMAX_CALIBRATION = "minmax"  # the largest |x| seen
    PERCENTILE = "percentile"  # a percentile of |x| (99.99 by default)
    ENTROPY_CALIBRATION = "entropy"  # alias (Torch-TensorRT's name)
    ENTROPY = "entropy"
    MINMAX = "minmax"


class DataLoaderCalibrator:
    """Calibrates with the batches of ``dataloader``: each batch is the model's input, or a tuple /
    list whose first item is (``(images, labels)`` as a torchvision loader yields). A loader that can
    be iterated again is read twice (ranges, then histograms); a one-shot iterator is kept in memory."""

    def __init__(
        self,
        dataloader: Iterable,
        cache_file: Optional[str] = None,
        use_cache: bool = True,
        algo_type: CalibrationAlgo = CalibrationAlgo.ENTROPY_CALIBRATION_2,
        device: Any = None,
        percentile: float = 99.99,
        max_batches: Optional[int] = None,
        quant_dtype: torch.dtype = torch.int8,
    ):
        if quant_dtype not in (torch.int8, torch.float8_e4m3fn):
            raise ValueError(f"quant_dtype must be torch.int8 or torch.float8_e4m3fn, got {quant_dtype!r}")
        if not isinstance(algo_type, CalibrationAlgo):
            raise TypeError(f"algo_type must be a kiln.ptq.CalibrationAlgo, got {algo_type!r}")
        if not 0.0 < float(percentile) <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
        self.dataloader = dataloader
        self.cache_file = cache_file
        self.use_cache = bool(use_cache)
        self.algo = algo_type
        self.device = torch.device(device) if device is not None else None
        self.percentile = float(percentile)
        self.max_batches = max_batches
        self.quant_dtype = quant_dtype

    def batches(self) -> list:
        """The calibration batches as argument tuples (at most ``max_batches``)."""
        out = []
        for b in self.dataloader:
            if isinstance(b, dict):
                raise TypeError("calibration batches must be tensors or tuples, not dicts")
            args = (b[0],) if isinstance(b, (tuple, list)) and len(b) == 2 and _looks_labelled(b) else b
            if isinstance(args, torch.Tensor):
                args = (args,)
            out.append(tuple(args))
            if self.max_batches is not None and len(out) >= self.max_batches:
                break
        if not out:
            raise ValueError("kiln.ptq: the calibration dataloader yielded no batches")
        return out


class CacheCalibrator(DataLoaderCalibrator):
    """Uses only a calibration cache written earlier (no data): Torch-TensorRT's CacheCalibrator."""

    def __init__(self, cache_file: str, algo_type: CalibrationAlgo = CalibrationAlgo.ENTROPY_CALIBRATION_2):
        if not os.path.exists(cache_file):
            raise FileNotFoundError(f"kiln.ptq.CacheCalibrator: no calibration cache at '{cache_file}'")
        super().__init__([], cache_file=cache_file, use_cache=True, algo_type=algo_type)

    def batches(self) -> list:
        raise ValueError(
            f"kiln.ptq.CacheCalibrator: the cache '{self.cache_file}' does not cover this model; "
            "calibrate with a DataLoaderCalibrator"
        )


def _looks_labelled(b: Any) -> bool:
    """(inputs, labels): the second item is a label tensor (integer or 1-D) or a list of them."""
    lab = b[1]
    return isinstance(lab, torch.Tensor) and (not lab.is_floating_point() or lab.dim() <= 1)


# ---- which edges are quantized ----------------------------------------------------------------------

_VIEWS = {
    _aten.permute.default,
    _aten.t.default,
    _aten.view.default,
    _aten.reshape.default,
    _aten.expand.default,
    _aten.transpose.int,
    _aten._unsafe_view.default,
    _aten.clone.default,
}


def _weight_source(node: Any) -> Optional[tuple[torch.fx.Node, list]]:
    """The get_attr a matrix operand comes from through view ops (and the views), if it is a weight."""
    chain = []
    while isinstance(node, torch.fx.Node) and node.op == "call_function" and node.target in _VIEWS:
        chain.append(node)
        node = node.args[0]
    if isinstance(node, torch.fx.Node) and node.op == "get_attr":
        return node, chain
    return None


def _sites(gm: torch.fx.GraphModule) -> list[tuple[torch.fx.Node, int, torch.fx.Node, int]]:
    """(consumer, activation arg index, weight get_attr, weight output-channel axis) per quantized op."""
    out = []
    for n in gm.graph.nodes:
        if n.op != "call_function":
            continue
        if n.target == _aten.convolution.default:
            w = _weight_source(n.args[1])
            if w is not None and not w[1]:
                out.append((n, 0, w[0], 1 if n.args[6] else 0))
        elif n.target in (_aten.mm.default, _aten.addmm.default, _aten.linear.default):
            a_idx, b_idx = {
                _aten.mm.default: (0, 1),
                _aten.addmm.default: (1, 2),
                _aten.linear.default: (0, 1),
            }[n.target]
            w = _weight_source(n.args[b_idx])
            if w is None:
                continue
            attr, chain = w
            transposed = any(
                c.target in (_aten.permute.default, _aten.t.default, _aten.transpose.int) for c in chain
            )
            # linear's weight is [out, in]; mm's operand is [in, out] unless it is a transposed [out, in].
            axis = 0 if (n.target == _aten.linear.default or transposed) else 1
            if getattr(attr.meta.get("val"), "dim", lambda: 2)() != 2:
                continue
            out.append((n, a_idx, attr, axis))
    return out


def _site_key(consumer: torch.fx.Node, idx: int) -> str:
    return f"{consumer.name}:{idx}"


def fingerprint(gm: torch.fx.GraphModule) -> str:
    """The graph's code and its weights' names, shapes and dtypes (not their values)."""
    h = hashlib.sha256(gm.code.encode())
    for name, t in sorted(list(gm.named_parameters()) + list(gm.named_buffers())):
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
    return h.hexdigest()[:32]


# ---- calibration -----------------------------------------------------------------------------------


class _Observer(torch.fx.Interpreter):
    """Runs the graph; hands each quantized activation to `record(key, tensor)`."""

    def __init__(self, gm: torch.fx.GraphModule, sites: dict, record: Any):
        super().__init__(gm)
        self.sites = sites
        self.record = record

    def run_node(self, n: torch.fx.Node) -> Any:
        for idx in self.sites.get(n, ()):
            arg = n.args[idx]
            self.record(_site_key(n, idx), self.env[arg])
        return super().run_node(n)


def _entropy_amax(hist: np.ndarray, edges: np.ndarray, num_quant_bins: int = 128) -> float:
    """TensorRT's entropy calibration: the clipping threshold whose 128-level quantized histogram is
    closest (KL divergence) to the reference histogram with the outliers folded into its last bin."""
    bins = hist.astype(np.float64).copy()
    bins[0] = bins[1]  # zeros dominate after ReLU; they carry no information about the range
    n = len(bins)
    tail = np.concatenate([np.cumsum(bins[::-1])[::-1], [0.0]])  # tail[i] = sum(bins[i:])
    best, best_i = np.inf, n
    for i in range(num_quant_bins, n + 1):
        ref = bins[:i].copy()
        ref[-1] += tail[i]
        # Merge the first i bins into num_quant_bins levels, spread each level evenly over its
        # non-empty source bins.
        level = (np.arange(i) * num_quant_bins) // i
        nonzero = bins[:i] != 0
        sums = np.bincount(level, weights=bins[:i], minlength=num_quant_bins)
        counts = np.bincount(level, weights=nonzero.astype(np.float64), minlength=num_quant_bins)
        q = np.where(nonzero, sums[level] / np.maximum(counts[level], 1), 0.0)
        ps, qs = ref.sum(), q.sum()
        if ps == 0 or qs == 0:
            continue
        p = ref / ps
        q = q / qs
        mask = p > 0
        if np.any(q[mask] == 0):
            continue
        kl = float(np.sum(p[mask] * np.log(p[mask] / q[mask])))
        if kl <= best:  # the last minimum, as TensorRT and pytorch-quantization take it
            best, best_i = kl, i
    return float(edges[best_i])


def _calibrate(gm: torch.fx.GraphModule, calib: DataLoaderCalibrator, sites: list, device: Any) -> dict:
    by_node: dict = {}
    for consumer, idx, _, _ in sites:
        by_node.setdefault(consumer, []).append(idx)
    batches = calib.batches()
    dev = calib.device or device

    def run(record: Any) -> None:
        obs = _Observer(gm, by_node, record)
        with torch.no_grad():
            for i, args in enumerate(batches):
                args = [a.to(dev) if isinstance(a, torch.Tensor) and dev is not None else a for a in args]
                try:
                    obs.run(*args)
                except Exception as e:  # noqa: BLE001 - any failure of the user's batch, reported in their terms
                    shapes = [
                        tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__ for a in args
                    ]
                    raise ValueError(
                        f"kiln.ptq: calibration batch {i} (inputs {shapes}) does not run through the model as "
                        f"compiled ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); give batches "
                        "of the compiled input shapes (a dynamic dim accepts any size in its range)"
                    ) from e

    amax: dict[str, float] = {}

    def record_max(key: str, t: torch.Tensor) -> None:
        m = float(t.detach().abs().max()) if t.numel() else 0.0
        amax[key] = max(amax.get(key, 0.0), m)

    run(record_max)
    if calib.algo == CalibrationAlgo.MINMAX_CALIBRATION:
        return amax
    hists = {k: np.zeros(_BINS) for k in amax}

    def record_hist(key: str, t: torch.Tensor) -> None:
        if amax[key] > 0:
            h = torch.histc(t.detach().abs().float().flatten(), bins=_BINS, min=0.0, max=amax[key])
            hists[key] += h.cpu().numpy()

    run(record_hist)
    out = {}
    for k, h in hists.items():
        if amax[k] == 0 or h.sum() == 0:
            out[k] = amax[k]
            continue
        edges = np.linspace(0.0, amax[k], _BINS + 1)
        if calib.algo == CalibrationAlgo.PERCENTILE:
            cdf = np.cumsum(h) / h.sum()
            i = int(np.searchsorted(cdf, calib.percentile / 100.0))
            out[k] = float(edges[min(i + 1, _BINS)])
        else:
            out[k] = _entropy_amax(h, edges)
    return out


def _read_cache(path: str, fp: str, algo: CalibrationAlgo) -> Optional[dict]:
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ValueError(f"kiln.ptq: the calibration cache '{path}' cannot be read ({e}); delete it") from e
    if not isinstance(data, dict) or data.get("kiln_calibration") != _CACHE_VERSION:
        raise ValueError(f"kiln.ptq: '{path}' is not a Kiln calibration cache (version {_CACHE_VERSION})")
    if data.get("model") != fp:
        raise ValueError(
            f"kiln.ptq: the calibration cache '{path}' was made for a different model (fingerprint "
            f"{data.get('model')}, this model {fp}); delete it or pass use_cache=False to calibrate again"
        )
    if data.get("algo") != algo.value:
        raise ValueError(
            f"kiln.ptq: the calibration cache '{path}' holds {data.get('algo')} ranges, not {algo.value}; "
            "delete it or pass use_cache=False"
        )
    return {str(k): float(v) for k, v in data["amax"].items()}


def _write_cache(path: str, fp: str, algo: CalibrationAlgo, amax: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(
            {"kiln_calibration": _CACHE_VERSION, "model": fp, "algo": algo.value, "amax": amax}, f, indent=1
        )
    os.replace(tmp, path)


# ---- the rewrite -----------------------------------------------------------------------------------


def _scale(amax: float) -> float:
    return max(amax, 1e-8) / 127.0


_FP8_MAX = 448.0


def _insert_activation_qdq(
    g: torch.fx.Graph, act: Any, amax: float, out_dtype: torch.dtype, qdtype: torch.dtype
):
    """Quantize-dequantize of `act` (nodes inserted at the graph's insertion point): int8 with
    quantized_decomposed ops, float8 as a scaled cast (quantized_decomposed rounds float8 to
    integers)."""
    if qdtype == torch.int8:
        s = _scale(amax)
        q = g.call_function(_qd.quantize_per_tensor.default, (act, s, 0, -128, 127, torch.int8))
        return g.call_function(
            _qd.dequantize_per_tensor.default, (q, s, 0, -128, 127, torch.int8), {"out_dtype": out_dtype}
        )
    s = max(amax, 1e-8) / _FP8_MAX
    scaled = g.call_function(_aten.mul.Tensor, (act, 1.0 / s))
    clamped = g.call_function(_aten.clamp.default, (scaled, -_FP8_MAX, _FP8_MAX))
    q = g.call_function(_aten._to_copy.default, (clamped,), {"dtype": torch.float8_e4m3fn})
    return g.call_function(
        _qd.dequantize_per_tensor.default,
        (q, s, 0, -448, 448, torch.float8_e4m3fn),
        {"out_dtype": out_dtype},
    )


def _register(gm: torch.fx.GraphModule, attr: torch.fx.Node, tensors: list) -> list:
    """Buffers `_kiln_ptq_<weight>_<suffix>` and get_attr nodes for them after `attr`."""
    base = attr.target.replace(".", "_")
    nodes, cur = [], attr
    for suffix, t in tensors:
        name = f"_kiln_ptq_{base}_{suffix}"
        gm.register_buffer(name, t)
        with gm.graph.inserting_after(cur):
            cur = gm.graph.get_attr(name)
        nodes.append(cur)
    return nodes


def _insert_int8_weight(gm: torch.fx.GraphModule, attr: torch.fx.Node, w: torch.Tensor, axis: int):
    """int8 weights per output channel + dequantize_per_channel."""
    dims = [d for d in range(w.dim()) if d != axis]
    w_amax = w.abs().float().amax(dim=dims) if dims else w.abs().float()
    w_scale = torch.where(w_amax > 0, w_amax / 127.0, torch.ones_like(w_amax)).float()
    w_zp = torch.zeros(w_scale.shape, dtype=torch.int64)
    w_int8 = _qd.quantize_per_channel(w.float(), w_scale, w_zp, axis, -127, 127, torch.int8)
    nodes = _register(
        gm, attr, [("int8", w_int8.to(w.device)), ("scale", w_scale.to(w.device)), ("zp", w_zp.to(w.device))]
    )
    with gm.graph.inserting_after(nodes[-1]):
        return gm.graph.call_function(
            _qd.dequantize_per_channel.default,
            (nodes[0], nodes[1], nodes[2], axis, -127, 127, torch.int8),
            {"out_dtype": w.dtype},
        )


def _insert_fp8_weight(gm: torch.fx.GraphModule, attr: torch.fx.Node, w: torch.Tensor):
    """float8 e4m3 weights with one scale + dequantize_per_tensor."""
    amax = float(w.abs().float().max()) if w.numel() else 0.0
    s = amax / _FP8_MAX if amax > 0 else 1.0
    w8 = (w.float() * (1.0 / s)).clamp(-_FP8_MAX, _FP8_MAX).to(torch.float8_e4m3fn)
    (node,) = _register(gm, attr, [("fp8", w8.to(w.device))])
    with gm.graph.inserting_after(node):
        return gm.graph.call_function(
            _qd.dequantize_per_tensor.default,
            (node, s, 0, -448, 448, torch.float8_e4m3fn),
            {"out_dtype": w.dtype},
        )


def quantize_graph(
    gm: torch.fx.GraphModule, calib: DataLoaderCalibrator, device: Any = None
) -> torch.fx.GraphModule:
    """Calibrates (or reads the cache) and returns the graph with quantize/dequantize inserted."""
    sites = _sites(gm)
    if not sites:
        raise ValueError(
            "kiln.ptq: the model has no convolution or matrix product with a constant weight to quantize"
        )
    fp = fingerprint(gm)
    amax = None
    if calib.cache_file and calib.use_cache:
        amax = _read_cache(calib.cache_file, fp, calib.algo)
        if amax is not None and any(_site_key(c, i) not in amax for c, i, _, _ in sites):
            raise ValueError(
                f"kiln.ptq: the calibration cache '{calib.cache_file}' does not cover every quantized layer; "
                "delete it or pass use_cache=False"
            )
    if amax is None:
        amax = _calibrate(gm, calib, sites, device)
        if calib.cache_file:
            _write_cache(calib.cache_file, fp, calib.algo, amax)
    g = gm.graph
    done_weights: dict = {}
    for consumer, idx, attr, axis in sites:
        act = consumer.args[idx]
        val = act.meta.get("val") if isinstance(act, torch.fx.Node) else None
        out_dtype = val.dtype if isinstance(val, torch.Tensor) and val.is_floating_point() else torch.float32
        with g.inserting_before(consumer):
            dq = _insert_activation_qdq(g, act, amax[_site_key(consumer, idx)], out_dtype, calib.quant_dtype)
        consumer.replace_input_with(act, dq)
        if attr in done_weights:
            continue
        w = functools.reduce(getattr, attr.target.split("."), gm).detach()
        if calib.quant_dtype == torch.float8_e4m3fn:
            wdq = _insert_fp8_weight(gm, attr, w)
        else:
            wdq = _insert_int8_weight(gm, attr, w, axis)
        attr.replace_all_uses_with(wdq)
        done_weights[attr] = wdq
    g.eliminate_dead_code()
    gm.recompile()
    return gm
