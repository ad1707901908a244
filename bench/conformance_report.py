"""Reporting of the OpInfo conformance harness (bench/conformance.py): totals per OpInfo and mode, failure groups,
and the refusals that are by design, not gaps (EXPECTED_REFUSALS: the op each refusal names and why Kiln refuses
it; listed in the report and the JSON, "expected" on each such case; they still count as refused in the rates)."""

from __future__ import annotations

from typing import Optional

_COMPLEX = (
    "complex tensors are out of scope: Kiln's engine has no complex dtype (no complex layers, kernels, engine "
    "inputs or outputs), and {op} {what} one; the FFT stays in PyTorch (fallback), or is refused under "
    "require_full_compilation"
)
# Refusals by design, by the op the refusal names.
EXPECTED_REFUSALS = {
    "aten::_fft_r2c": _COMPLEX.format(op="_fft_r2c", what="makes"),
    "aten::_fft_c2r": _COMPLEX.format(op="_fft_c2r", what="reads"),
    "aten::_fft_c2c": _COMPLEX.format(op="_fft_c2c", what="reads and makes"),
    "aten::max_pool2d_with_indices_backward": (
        "a backward (training) op: Kiln compiles inference graphs (torch.export of a forward in eval mode never "
        "holds one); refused at partition time as an op without a converter"
    ),
}


def expected_refusal(msg: str) -> Optional[str]:
    """Why a refusal is by design, or None for a gap: every op the require_full_compilation message lists
    ("  aten::op (xN): reason" lines) is in EXPECTED_REFUSALS, or is refused only for a complex dtype (the
    tensors around an FFT)."""
    whys = []
    for line in msg.splitlines():
        op = line.strip().split(" ")[0]
        if "::" not in op:
            continue
        if op in EXPECTED_REFUSALS:
            whys.append(EXPECTED_REFUSALS[op])
        elif "Complex" not in line:
            return None
    return whys[0] if whys else None


# ---- reporting -----------------------------------------------------------------------------------------
RESULTS = ("pass", "refused", "wrong", "error")


def summarize(records: list, core: list) -> dict:
    per_op: dict = {}
    covered: set = set()
    totals = {m: dict.fromkeys(RESULTS + ("samples",), 0) for m in ("static", "dynamic")}
    out_of_scope: dict = {}
    for r in records:
        op = per_op.setdefault(
            r["op"],
            {
                "static": dict.fromkeys(RESULTS + ("samples",), 0),
                "dynamic": dict.fromkeys(RESULTS + ("samples",), 0),
                "out_of_scope": 0,
            },
        )
        if "scope" in r:
            op["out_of_scope"] += 1
            out_of_scope[r["scope"]] = out_of_scope.get(r["scope"], 0) + 1
            continue
        covered.update(r.get("core_ops", []))
        for m in ("static", "dynamic"):
            c = r.get(m)
            if not c or c["result"] not in RESULTS:
                continue
            op[m][c["result"]] += 1
            op[m]["samples"] += 1
            totals[m][c["result"]] += 1
            totals[m]["samples"] += 1
    failures: dict = {}
    for r in records:
        for m in ("static", "dynamic"):
            c = r.get(m)
            if c and c["result"] in ("refused", "wrong", "error"):
                what = "refused by design" if c.get("expected") else c["result"]
                key = f"{what}: {c.get('stage', '')}{' ' if c.get('stage') else ''}{c['reason']}"
                failures.setdefault(key, {"count": 0, "cases": []})
                failures[key]["count"] += 1
                if len(failures[key]["cases"]) < 5:
                    failures[key]["cases"].append(f"{m}:{r['op']}#{r['sample']}")
    return {
        "core_aten_ops": len(core),
        "core_aten_covered": sorted(covered & set(core)),
        "core_aten_uncovered": sorted(set(core) - covered),
        "totals": totals,
        "per_op": per_op,
        "out_of_scope": dict(sorted(out_of_scope.items(), key=lambda kv: -kv[1])),
        "failures": dict(sorted(failures.items(), key=lambda kv: -kv[1]["count"])),
        "expected_refusals": EXPECTED_REFUSALS,
    }


def rate(t: dict) -> str:
    return f"{100.0 * t['pass'] / t['samples']:.1f} %" if t["samples"] else "-"


def print_report(summary: dict, verbose_ops: bool = True) -> None:
    if verbose_ops:
        hdr = f"{'OpInfo':40s} | {'static: n pass ref wrong err':30s} | {'dynamic: n pass ref wrong err':30s}"
        print(hdr)
        print("-" * len(hdr))
        for name, op in sorted(summary["per_op"].items()):
            s, d = op["static"], op["dynamic"]
            if not s["samples"] and not d["samples"]:
                continue
            cols = []
            for m in (s, d):
                cols.append(
                    f"{m['samples']:4d} {m['pass']:4d} {m['refused']:4d} {m['wrong']:4d} {m['error']:4d}"
                )
            print(f"{name[:40]:40s} | {cols[0]:30s} | {cols[1]:30s}")
    t = summary["totals"]
    print()
    print(
        f"Core ATen ops in torch: {summary['core_aten_ops']}; reached by the samples: "
        f"{len(summary['core_aten_covered'])}"
    )
    for m in ("static", "dynamic"):
        x = t[m]
        print(
            f"{m:8s}: {x['samples']} samples, pass {x['pass']} ({rate(x)}), refused {x['refused']}, "
            f"wrong {x['wrong']}, error {x['error']}"
        )
    if summary["failures"]:
        print("\nFailures (most frequent first):")
        for k, v in list(summary["failures"].items())[:60]:
            print(f"  {v['count']:4d}  {k}   e.g. {', '.join(v['cases'][:2])}")
    if any(k.startswith("refused by design") for k in summary["failures"]):
        print("\nRefused by design (bench/conformance_report.py):")
        for op, why in summary["expected_refusals"].items():
            print(f"  {op}: {why}")
