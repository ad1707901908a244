"""OpInfo conformance: every Core ATen op, checked against PyTorch's own OpInfo samples (issue 16).

For every OpInfo in torch.testing._internal.common_methods_invocations.op_db whose samples export and
decompose onto Core ATen (ops tagged torch.Tag.core, plus prims), each sample input is wrapped in a module
(its tensors are the module's inputs, everything else is a constant), compiled with
kiln.compile(..., require_full_compilation=True, min_block_size=1) on the chosen backend, run, and compared
with eager. Each sample runs twice: with static shapes and with dynamic dims (every dim torch.export can
keep symbolic gets kiln.Input(min=max(2, s // 2), opt=s, max=2 * s); the compiled module runs at the sample's
shape and, when eager accepts it, at the dynamic dims' min shape too).

Each case is classified:
  pass     compiled fully and matched eager (tolerance by dtype);
  refused  kiln.compile refused it at partition time (UnsupportedOperatorError, with the named reason);
  wrong    compiled and ran, but numbers, shapes or dtypes differ from eager;
  error    anything else: Kiln's export path, a build failure, a run-time failure or a crash.
Samples torch itself cannot export, or whose decomposition holds non-Core ATen ops, are out of scope
(counted per OpInfo, not in the rates).

  python bench/conformance.py --all                 # every OpInfo (capped at --max-samples per OpInfo)
  python bench/conformance.py --ops atan2,sort      # OpInfos by name
  python bench/conformance.py --ci                  # the CI sample, checked against bench/conformance_floor.json
  python bench/conformance.py --ci --update-floor   # raise the floor to what passes now (never lowers it)

Run from a Kiln checkout with KILN_BUILD_DIR=<build dir> (or with kiln installed). Writes --json
(default conformance.json). Workers run in separate processes (--jobs), so a crash is one case's error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
import traceback
import warnings
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FLOOR_PATH = os.path.join(HERE, "conformance_floor.json")
sys.path.insert(0, HERE)
from conformance_report import RESULTS, expected_refusal, print_report, summarize  # noqa: E402, F401

if os.environ.get("KILN_BUILD_DIR"):
    sys.path.insert(0, os.path.join(REPO, "python"))

# Outputs that are random or uninitialized: only shapes and dtypes are compared.
NONDETERMINISTIC = (
    "rand",
    "randn",
    "randint",
    "normal",
    "bernoulli",
    "multinomial",
    "uniform",
    "exponential",
    "geometric",
    "cauchy",
    "log_normal",
    "empty",
    "new_empty",
    "nn.functional.dropout",
    "nn.functional.alpha_dropout",
    "nn.functional.feature_alpha_dropout",
    "nn.functional.rrelu",
)
# Non-core overloads torch picks for a Core ATen op (no_grad, a stable flag): counted as that op.
CORE_ALIASES = {
    "aten::_embedding_bag_forward_only": "aten::_embedding_bag",
    "aten::sort.stable": "aten::sort",
}
# Run-time checks export adds (not computation; Kiln drops them).
BOOKKEEPING = {"aten::_assert_scalar", "aten::sym_constrain_range_for_size", "aten::_assert_tensor_metadata"}
# Integer and boolean dtypes tried (in order) for OpInfos without float32.
FALLBACK_DTYPES = ("int64", "int32", "bool", "uint8")


# ---- the Core ATen op set ------------------------------------------------------------------------------
def core_aten_ops() -> list[str]:
    """Every aten overload tagged torch.Tag.core (the Core ATen IR opset, as torch documents it), by name."""
    import torch

    out = set()
    for s in torch._C._jit_get_all_schemas():
        if not s.name.startswith("aten::"):
            continue
        packet = getattr(torch.ops.aten, s.name[len("aten::") :], None)
        if packet is None:
            continue
        try:
            op = getattr(packet, s.overload_name or "default")
        except (AttributeError, RuntimeError):
            continue
        if torch.Tag.core in op.tags:
            out.add(op.name())
    return sorted(out)


def op_key(op: Any) -> str:
    """aten::add.Tensor style name of an OpOverload ("default" dropped), else None."""
    import torch

    if not isinstance(op, torch._ops.OpOverload):
        return None
    name = op.name()
    return name[: -len(".default")] if name.endswith(".default") else name


# ---- cases ---------------------------------------------------------------------------------------------
def opinfo_id(op: Any) -> str:
    return op.name + ("." + op.variant_test_name if op.variant_test_name else "")


def pick_dtype(op: Any) -> Optional[Any]:
    import torch

    dts = op.supported_dtypes("cpu")
    if torch.float32 in dts:
        return torch.float32
    for name in FALLBACK_DTYPES:
        dt = getattr(torch, name)
        if dt in dts:
            return dt
    return None


class OpModule:
    """Builds an nn.Module that calls op(sample.input, *sample.args, **sample.kwargs) with the sample's
    tensors as forward() inputs."""

    @staticmethod
    def make(fn: Any, sample: Any) -> tuple[Any, list]:
        import torch
        import torch.utils._pytree as pytree

        leaves, spec = pytree.tree_flatten((sample.input, list(sample.args), dict(sample.kwargs)))
        pos = [i for i, x in enumerate(leaves) if isinstance(x, torch.Tensor)]
        tensors = [leaves[i] for i in pos]
        template = [None if i in pos else x for i, x in enumerate(leaves)]

        class Op(torch.nn.Module):
            def forward(self, *ts: Any) -> Any:
                vals = list(template)
                for p, t in zip(pos, ts):
                    vals[p] = t
                inp, args, kwargs = pytree.tree_unflatten(vals, spec)
                return fn(inp, *args, **kwargs)

        return Op().eval(), tensors


def flat_outputs(out: Any) -> list:
    import torch.utils._pytree as pytree

    return pytree.tree_leaves(out)


def tolerance(dtype: Any) -> tuple[float, float]:
    import torch

    return {
        torch.float32: (1e-4, 1e-4),
        torch.float64: (1e-7, 1e-7),
        torch.float16: (1e-2, 1e-2),
        torch.bfloat16: (2e-2, 2e-2),
    }.get(dtype, (0.0, 0.0))


def compare(got: Any, ref: Any, shapes_only: bool) -> Optional[str]:
    """None when `got` matches `ref`, else what differs."""
    import torch

    g, r = flat_outputs(got), flat_outputs(ref)
    if len(g) != len(r):
        return f"{len(g)} outputs, eager has {len(r)}"
    for i, (a, b) in enumerate(zip(g, r)):
        if isinstance(b, torch.Tensor):
            if not isinstance(a, torch.Tensor):
                return f"output {i} is {type(a).__name__}, eager gives a tensor"
            if tuple(a.shape) != tuple(b.shape):
                return f"output {i} has shape {tuple(a.shape)}, eager {tuple(b.shape)}"
            if a.dtype != b.dtype:
                return f"output {i} has dtype {a.dtype}, eager {b.dtype}"
            if shapes_only or b.numel() == 0:
                continue
            rtol, atol = tolerance(b.dtype)
            if b.dtype.is_floating_point:
                finite = b[torch.isfinite(b)]
                scale = max(1.0, float(finite.abs().max())) if finite.numel() else 1.0
                ok = torch.allclose(a.cpu(), b, rtol=rtol, atol=atol * scale, equal_nan=True)
            elif b.dtype.is_complex:
                return f"output {i} is complex"
            else:
                ok = torch.equal(a.cpu(), b)
            if not ok:
                if b.dtype.is_floating_point:
                    d = (a.cpu().double() - b.double()).abs().nan_to_num(float("inf")).max().item()
                    return f"output {i}: max abs difference {d:.3g}"
                return f"output {i}: values differ"
        elif a != b and not shapes_only:
            return f"output {i} is {a!r}, eager {b!r}"
    return None


def graph_ops(ep: Any) -> list:
    return [n.target for n in ep.graph.nodes if n.op == "call_function"]


def scope_of(ops: list, core: set) -> tuple[Optional[str], list]:
    """(None, core ops used) when every op is Core ATen, prims or Python/symbolic bookkeeping; else the
    reason it is out of scope."""
    import torch

    used = []
    for op in ops:
        if isinstance(op, torch._ops.OpOverload):
            ns = op.namespace
            name = CORE_ALIASES.get(op.name(), op.name())
            if name in BOOKKEEPING:
                continue
            if ns == "aten":
                if name not in core:
                    return f"decomposes to non-core {name}", used
                used.append(name)
            elif ns == "prims":
                used.append(name)
            else:
                return f"decomposes to {name}", used
        elif isinstance(op, torch._ops.HigherOrderOperator):
            return f"higher-order op {op.name()}", used
    return None, used


def refusal_reason(msg: str) -> str:
    """One line naming the op and reason from a require_full_compilation message."""
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
    for ln in lines[1:]:
        if ln.startswith("aten::") or ln.startswith("prims::") or "::" in ln.split(" ")[0]:
            head, _, why = ln.partition(": ")
            return f"{head.split(' ')[0]}: {why}"[:200]
    return (lines[-1] if lines else msg)[:200]


def refused(msg: str) -> dict:
    out = {"result": "refused", "reason": refusal_reason(msg)}
    why = expected_refusal(msg)
    if why:
        out["expected"] = why
    return out


def short(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    first = next((ln for ln in msg if ln.strip()), "")
    return f"{type(e).__name__}: {first}"[:300]


class CaseRunner:
    """Runs cases inside one worker process."""

    def __init__(self, device: str):
        import torch

        torch.set_num_threads(1)
        warnings.filterwarnings("ignore")
        import logging

        logging.getLogger("torch").setLevel(logging.ERROR)
        import kiln  # noqa: F401 - fails early when the native parts are missing

        self.kiln = kiln
        self.device = device
        self.core = set(core_aten_ops())
        from torch.testing._internal.common_methods_invocations import op_db

        self.ops = {opinfo_id(o): o for o in op_db}

    def samples(self, oid: str, max_samples: int) -> list:
        op = self.ops[oid]
        dt = pick_dtype(op)
        if dt is None:
            return []
        import torch

        torch.manual_seed(int(hashlib.sha1(oid.encode()).hexdigest()[:8], 16))  # the same samples every run
        try:
            out = []
            for s in op.sample_inputs("cpu", dt, requires_grad=False):
                out.append(s)
                if max_samples and len(out) >= max_samples:
                    break
            return out
        except Exception:  # noqa: BLE001 - an OpInfo that cannot make samples on this machine
            return []

    def compile(self, mod: Any, inputs: list) -> Any:
        return self.kiln.compile(
            mod,
            inputs=inputs,
            device=self.device,
            require_full_compilation=True,
            min_block_size=1,
        )

    def check(self, compiled: Any, mod: Any, tensors: list, shapes_only: bool) -> Optional[dict]:
        """Runs the compiled module; None when it matches eager, else the result dict."""
        import torch

        with torch.no_grad():
            ref = mod(*[t.clone() for t in tensors])
            try:
                got = compiled(*[t.clone() for t in tensors])
            except Exception as e:  # noqa: BLE001 - classified
                return {"result": "error", "stage": "run", "reason": short(e)}
        why = compare(got, ref, shapes_only)
        if why is not None:
            return {"result": "wrong", "reason": why}
        return None

    def run_case(self, oid: str, index: int, sample: Any) -> dict:
        import torch

        op = self.ops[oid]
        mod, tensors = OpModule.make(op.op, sample)
        shapes_only = any(
            oid == p or oid.startswith(p + ".") or oid.startswith(p + "_") for p in NONDETERMINISTIC
        )
        rec: dict = {"op": oid, "sample": index, "shapes": [list(t.shape) for t in tensors]}
        try:
            with torch.no_grad():
                ref = mod(*[t.clone() for t in tensors])
        except Exception as e:  # noqa: BLE001
            rec["scope"] = f"eager fails: {short(e)}"
            return rec
        if any(
            isinstance(x, torch.Tensor) and (x.is_complex() or x.is_sparse) for x in flat_outputs(ref)
        ) or any(t.is_complex() or t.layout != torch.strided for t in tensors):
            rec["scope"] = "complex or sparse tensors"
            return rec
        from kiln.dynamo._compiler import lower_exported

        try:
            with torch.no_grad():
                ep = torch.export.export(mod, tuple(tensors), strict=False)
                gm = lower_exported(ep)  # what kiln.compile does after its torch.export
        except Exception as e:  # noqa: BLE001
            rec["scope"] = f"torch.export fails: {short(e)}"
            return rec
        why, used = scope_of(graph_ops(gm), self.core)
        rec["core_ops"] = sorted(set(used))
        if why:
            rec["scope"] = why
            return rec
        rec["static"] = self.static_case(mod, gm, tensors, shapes_only)
        if not tensors:  # factory ops: compiled with inputs=[]
            rec["dynamic"] = {"result": "skip", "reason": "no tensor inputs"}
        else:
            rec["dynamic"] = self.dynamic_case(mod, tensors, shapes_only)
        return rec

    def static_case(self, mod: Any, gm: Any, tensors: list, shapes_only: bool) -> dict:
        """kiln.compile(mod, inputs=tensors) from the graph the scope check lowered already (the same steps as
        kiln.compile after its torch.export: a decomposition less per case)."""
        kiln = self.kiln
        from kiln._settings import make_settings
        from kiln.dynamo._compiler import compile_graph

        settings = make_settings(device=self.device, require_full_compilation=True, min_block_size=1)
        specs = tuple(kiln.Input.from_tensor(t) for t in tensors)
        try:
            compiled = compile_graph(gm, specs, {}, tuple(t.clone() for t in tensors), {}, settings)
        except kiln.UnsupportedOperatorError as e:
            return refused(str(e))
        except kiln.ExportError as e:
            return {"result": "error", "stage": "export", "reason": short(e)}
        except Exception as e:  # noqa: BLE001
            return {"result": "error", "stage": "build", "reason": short(e)}
        bad = self.check(compiled, mod, tensors, shapes_only)
        return bad or {"result": "pass"}

    def dynamic_dims(self, mod: Any, tensors: list) -> Optional[list]:
        """Per tensor {dim: (min, max)} for the dims torch.export can keep symbolic."""
        import torch
        from torch.export import Dim

        spec = tuple({d: Dim.AUTO for d, s in enumerate(t.shape) if s >= 2} for t in tensors)
        with torch.no_grad():
            ep = torch.export.export(mod, tuple(tensors), dynamic_shapes=(spec,), strict=False)
        ranges = ep.range_constraints
        phs = [n for n in ep.graph.nodes if n.op == "placeholder"]
        user = [n for n, s in zip(phs, ep.graph_signature.input_specs) if s.kind.name == "USER_INPUT"]
        # Symbols that also appear inside derived sizes (2 * s0) stay static: kiln.Input ranges are per dim.
        derived = set()
        # Symbols in run-time assertions (a reshape to a constant size, divisibility by a group count)
        # are fixed by the model at other sizes: static too.
        for node in ep.graph.nodes:
            if node.op == "call_function" and "assert" in str(node.target) and node.args:
                a = node.args[0]
                v = a.meta.get("val") if isinstance(a, torch.fx.Node) else None
                expr = getattr(getattr(v, "node", None), "expr", None)
                if expr is not None:
                    derived |= set(expr.free_symbols)
        for n in user:
            for s in n.meta["val"].shape:
                if isinstance(s, torch.SymInt) and not s.node.expr.is_Symbol:
                    derived |= set(s.node.expr.free_symbols)
        out = []
        for n, t in zip(user, tensors):
            dims = {}
            for d, s in enumerate(n.meta["val"].shape):
                if isinstance(s, torch.SymInt) and s.node.expr.is_Symbol and s.node.expr not in derived:
                    size = int(t.shape[d])
                    lo, hi = max(2, size // 2), 2 * size
                    r = ranges.get(s.node.expr)
                    if r is not None:
                        try:
                            lo = max(lo, int(r.lower))
                        except Exception:  # noqa: BLE001 - sympy -oo
                            pass
                        try:
                            hi = min(hi, int(r.upper))
                        except Exception:  # noqa: BLE001 - sympy oo / int_oo: unbounded
                            pass
                    if lo < hi:
                        dims[d] = (lo, hi)
            out.append(dims)
        return out

    def dynamic_case(self, mod: Any, tensors: list, shapes_only: bool) -> dict:
        kiln = self.kiln
        try:
            dyn = self.dynamic_dims(mod, tensors)
        except Exception as e:  # noqa: BLE001
            return {"result": "skip", "reason": f"torch.export with dynamic dims fails: {short(e)}"}
        if not any(dyn):
            return {"result": "skip", "reason": "no dim can be dynamic"}
        # The min shape (the sample sliced down) must be a valid input in eager: otherwise the op fixes
        # those sizes (a reshape to a constant shape, an index past the min extent) and the range is the
        # user's error, not Kiln's.
        small = []
        for t, dims in zip(tensors, dyn):
            for d, (lo, _) in dims.items():
                t = t.narrow(d, 0, lo)
            small.append(t.contiguous())
        try:
            import torch

            with torch.no_grad():
                mod(*[t.clone() for t in small])
        except Exception as e:  # noqa: BLE001
            return {"result": "skip", "reason": f"eager rejects the min shape: {short(e)}"}
        specs = []
        for t, dims in zip(tensors, dyn):
            lo = [dims.get(d, (s, s))[0] for d, s in enumerate(t.shape)]
            hi = [dims.get(d, (s, s))[1] for d, s in enumerate(t.shape)]
            specs.append(kiln.Input(min_shape=lo, opt_shape=tuple(t.shape), max_shape=hi, dtype=t.dtype))
        try:
            compiled = self.compile(mod, specs)
        except kiln.UnsupportedOperatorError as e:
            return refused(str(e))
        except kiln.ExportError as e:
            return {"result": "error", "stage": "export", "reason": short(e)}
        except Exception as e:  # noqa: BLE001
            return {"result": "error", "stage": "build", "reason": short(e)}
        bad = self.check(compiled, mod, tensors, shapes_only)
        if bad:
            return bad
        # Again at the dynamic dims' min sizes (slices of the sample).
        bad = self.check(compiled, mod, small, shapes_only)
        if bad:
            bad["reason"] = "at min shapes: " + bad["reason"]
            return bad
        return {"result": "pass", "min_run": True}


# ---- worker processes ----------------------------------------------------------------------------------
def _worker(conn: Any, device: str, max_samples: int, dynamic: bool) -> None:
    if not os.environ.get("KILN_CONFORMANCE_VERBOSE"):  # torch prints tracebacks of failed traces
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 2)
    runner = CaseRunner(device)
    if not dynamic:
        runner.dynamic_case = lambda *a, **k: {"result": "skip", "reason": "--no-dynamic"}
    conn.send(("ready", None))
    while True:
        msg = conn.recv()
        if msg is None:
            return
        oid, skip = msg
        samples = runner.samples(oid, max_samples)
        conn.send(("count", (oid, len(samples))))
        for i, s in enumerate(samples):
            if i < skip:
                continue
            conn.send(("start", (oid, i)))
            try:
                rec = runner.run_case(oid, i, s)
            except Exception as e:  # noqa: BLE001 - the harness itself must not stop
                rec = {
                    "op": oid,
                    "sample": i,
                    "static": {"result": "error", "stage": "harness", "reason": short(e)},
                }
                rec["trace"] = traceback.format_exc()[-2000:]
            conn.send(("case", rec))
        conn.send(("done", oid))


def run_all(
    oids: list[str],
    device: str,
    max_samples: int,
    jobs: int,
    dynamic: bool,
    timeout: float,
    deadline: float = 0,
) -> list:
    """Runs every OpInfo in `oids` over `jobs` worker processes; a crashed or hung case becomes an error. After
    `deadline` seconds (0: none) no new OpInfo is started."""
    ctx = mp.get_context("spawn")
    todo = [(o, 0) for o in oids]
    results: list = []
    workers: dict = {}
    total = len(oids)
    done_ops = 0
    t0 = time.time()

    def spawn() -> None:
        a, b = ctx.Pipe()
        p = ctx.Process(target=_worker, args=(b, device, max_samples, dynamic), daemon=True)
        p.start()
        workers[p] = {"conn": a, "task": None, "case": None, "last": time.time(), "ready": False}

    for _ in range(max(1, min(jobs, len(oids)))):
        spawn()
    while workers:
        for p, w in list(workers.items()):
            conn = w["conn"]
            dead = not p.is_alive()
            got = False
            while conn.poll():
                try:
                    kind, val = conn.recv()
                except (EOFError, OSError):
                    dead = True
                    break
                got = True
                w["last"] = time.time()
                if kind == "ready":
                    w["ready"] = True
                elif kind == "start":
                    w["case"] = val
                elif kind == "case":
                    results.append(val)
                    w["case"] = None
                    w["task"] = (w["task"][0], val["sample"] + 1)
                elif kind == "done":
                    w["task"] = None
                    done_ops += 1
                    if done_ops % 20 == 0 or done_ops == total:
                        print(
                            f"[conformance] {done_ops}/{total} OpInfos, {time.time() - t0:.0f} s", flush=True
                        )
            hung = w["case"] is not None and time.time() - w["last"] > timeout
            if dead or hung:
                if hung:
                    p.kill()
                case = w["case"]
                if case is not None:
                    oid, i = case
                    what = "timed out" if hung else f"worker died (exit code {p.exitcode})"
                    results.append(
                        {
                            "op": oid,
                            "sample": i,
                            "static": {"result": "error", "stage": "crash", "reason": what},
                        }
                    )
                    todo.insert(0, (oid, i + 1))
                elif w["task"] is not None:
                    todo.insert(0, w["task"])
                del workers[p]
                if todo or any(x["task"] for x in workers.values()):
                    spawn()
                continue
            if w["ready"] and w["task"] is None:
                if todo and deadline and time.time() - t0 > deadline:
                    print(f"[conformance] deadline: {len(todo)} OpInfo(s) not run", flush=True)
                    todo.clear()
                if todo:
                    w["task"] = todo.pop(0)
                    conn.send(w["task"])
                else:
                    conn.send(None)
                    p.join(timeout=10)
                    del workers[p]
            elif not got:
                time.sleep(0.005)
    return results


# ---- selection and the CI floor ------------------------------------------------------------------------
def all_opinfo_ids() -> list[str]:
    from torch.testing._internal.common_methods_invocations import op_db

    return [opinfo_id(o) for o in op_db]


def ci_selection(ids: list[str], fraction: int = 8) -> list[str]:
    """A fixed, spread-out subset of the OpInfos: every `fraction`-th by a stable hash of the name."""
    return [i for i in ids if int(hashlib.sha1(i.encode()).hexdigest(), 16) % fraction == 0]


def case_ids(records: list) -> dict:
    out: dict = {"static": [], "dynamic": []}
    for r in records:
        for m in ("static", "dynamic"):
            c = r.get(m)
            if c and c["result"] == "pass":
                out[m].append(f"{r['op']}#{r['sample']}")
    return {m: sorted(v) for m, v in out.items()}


def check_floor(records: list, floor_path: str, update: bool) -> int:
    """Fails (returns 1) when a case the floor lists as passing no longer passes. --update-floor adds the
    cases that pass now (the floor never goes down)."""
    now = case_ids(records)
    floor = {"static": [], "dynamic": []}
    if os.path.exists(floor_path):
        with open(floor_path) as f:
            floor = json.load(f)
    status = 0
    for m in ("static", "dynamic"):
        lost = sorted(set(floor.get(m, [])) - set(now[m]))
        gained = sorted(set(now[m]) - set(floor.get(m, [])))
        if lost:
            status = 1
            print(
                f"[conformance] REGRESSION ({m}): {len(lost)} case(s) of the floor no longer pass: "
                f"{', '.join(lost[:20])}"
            )
        if gained:
            print(
                f"[conformance] {m}: {len(gained)} case(s) pass beyond the floor (raise it with --update-floor)"
            )
    if update:
        new = {m: sorted(set(floor.get(m, [])) | set(now[m])) for m in ("static", "dynamic")}
        new["note"] = (
            "Cases (OpInfo#sample) of the CI sample (bench/conformance.py --ci) that pass; CI fails when one "
            "stops passing. Only ever add to it: python bench/conformance.py --ci --update-floor"
        )
        with open(floor_path, "w") as f:
            json.dump(new, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"[conformance] floor written: {floor_path}")
    return status


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--all", action="store_true", help="every OpInfo in op_db")
    ap.add_argument("--ops", default="", help="comma-separated OpInfo names (name or name.variant)")
    ap.add_argument("--ci", action="store_true", help="the CI sample, checked against the floor file")
    ap.add_argument("--floor", default=FLOOR_PATH, help="floor file for --ci")
    ap.add_argument("--update-floor", action="store_true", help="add what passes now to the floor")
    ap.add_argument(
        "--max-samples", type=int, default=None, help="samples per OpInfo (0: all); default 8, --ci 1"
    )
    ap.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-dynamic", action="store_true", help="static shapes only")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds one case may take")
    ap.add_argument("--json", default="conformance.json")
    ap.add_argument(
        "--deadline", type=float, default=0, help="start no OpInfo after this many seconds (0: none)"
    )
    ap.add_argument("--quiet", action="store_true", help="totals and failures only, no per-op table")
    args = ap.parse_args(argv)
    if not (args.all or args.ops or args.ci):
        ap.error("give --all, --ops or --ci")
    ids = all_opinfo_ids()
    if args.ops:
        want = [x.strip() for x in args.ops.split(",") if x.strip()]
        sel = [
            i for i in ids if i in want or i.split(".")[0] in want or any(i.startswith(w + ".") for w in want)
        ]
        unknown = [
            w for w in want if not any(i == w or i.startswith(w + ".") or i.split(".")[0] == w for i in ids)
        ]
        if unknown:
            ap.error(f"unknown OpInfo(s): {', '.join(unknown)}")
    elif args.ci:
        sel = ci_selection(ids)
    else:
        sel = ids
    max_samples = args.max_samples if args.max_samples is not None else (1 if args.ci else 8)
    t0 = time.time()
    records = run_all(
        sel, args.device, max_samples, args.jobs, not args.no_dynamic, args.timeout, args.deadline
    )
    records.sort(key=lambda r: (r["op"], r["sample"]))
    core = core_aten_ops()
    summary = summarize(records, core)
    summary["seconds"] = round(time.time() - t0, 1)
    summary["opinfos"] = len(sel)
    summary["max_samples"] = max_samples
    print_report(summary, verbose_ops=not args.quiet)
    print(f"\n{len(sel)} OpInfos, {len(records)} samples in {summary['seconds']} s")
    with open(args.json, "w") as f:
        json.dump({"summary": summary, "records": records}, f, indent=1)
    status = 0
    if args.ci:
        status = check_floor(records, args.floor, args.update_floor)
    return status


if __name__ == "__main__":
    sys.exit(main())
