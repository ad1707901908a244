"""torch.compile(model, backend="kiln", options={...}): JIT use of Kiln.

Dynamo hands each captured graph to the backend; Kiln compiles it lazily on its first call with real
inputs (static shapes), and again for each new input signature (shapes / dtypes), through the same
export -> partition -> stitch pipeline as kiln.compile. Parameters and buffers that dynamo passes as
graph inputs are frozen into the engines at that first call (inference: later changes to the weights
are not seen, as with any AOT compile). Options are kiln.compile's; unknown keys raise.
"""

from __future__ import annotations

import copy
import importlib.util
import logging as _pylogging
from typing import Any, Callable, Optional

import torch
import torch.fx
from torch._dynamo.backends import registry

from kiln._input import Input
from kiln._keywords import translate_keywords
from kiln import _progress
from kiln._settings import OPTION_NAMES, CompileSettings, debug_logging, settings_from_options
from kiln.dynamo._compiler import compile_dynamo

_log = _pylogging.getLogger("kiln")

MAX_SIGNATURES = 8


def _is_static_input(t: Any) -> bool:
    return isinstance(t, torch.nn.Parameter) or getattr(t, "_dynamo_static_input_type", None) is not None


def _signature(args: tuple, frozen: set[int]) -> tuple:
    sig = []
    for i, a in enumerate(args):
        if i in frozen:
            continue
        if isinstance(a, torch.Tensor):
            sig.append(("t", tuple(a.shape), a.dtype, a.device.type))
        else:
            sig.append(("v", type(a).__name__, a))
    return tuple(sig)


def _freeze_inputs(gm: torch.fx.GraphModule, args: tuple, frozen: set[int]) -> torch.fx.GraphModule:
    """A copy of gm whose placeholders in `frozen` read buffers holding those tensors."""
    if not frozen:
        return gm
    graph = copy.deepcopy(gm.graph)
    phs = [n for n in graph.nodes if n.op == "placeholder"]
    first = next(n for n in graph.nodes if n.op != "placeholder")
    holder = torch.nn.Module()
    for i in sorted(frozen):
        name = f"_kiln_frozen_{i}"
        holder.register_buffer(name, args[i].detach())
        with graph.inserting_before(first):
            ga = graph.get_attr(f"_kiln_frozen.{name}")
        ga.meta.update(phs[i].meta)
        phs[i].replace_all_uses_with(ga)
        graph.erase_node(phs[i])
    gm.add_module("_kiln_frozen", holder)
    try:
        return torch.fx.GraphModule(gm, graph, class_name=type(gm).__name__)
    finally:
        delattr(gm, "_kiln_frozen")


class KilnDynamoCallable:
    """What the backend returns to dynamo: compiles per input signature on first use."""

    def __init__(self, gm: torch.fx.GraphModule, settings: CompileSettings):
        self.gm = gm
        self.settings = settings
        self.frozen: Optional[set[int]] = None
        self.compiled: dict[tuple, Callable] = {}

    def _compile(self, args: tuple) -> Callable:
        frozen = self.frozen or set()
        gm = _freeze_inputs(self.gm, args, frozen)
        live = [a for i, a in enumerate(args) if i not in frozen]
        specs = tuple(Input.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in live)
        examples = tuple(live)
        with debug_logging(self.settings), _progress.compile_progress("torch.compile"):
            mod = compile_dynamo(gm, specs, {}, examples, {}, self.settings)
        _log.info(
            "torch.compile(backend='kiln'): compiled a graph for %s",
            [getattr(s, "opt_shape", s) for s in specs],
        )
        return mod

    @torch._dynamo.disable
    def __call__(self, *args: Any) -> Any:
        if self.frozen is None:
            self.frozen = {i for i, a in enumerate(args) if _is_static_input(a)}
        key = _signature(args, self.frozen)
        fn = self.compiled.get(key)
        if fn is None:
            if len(self.compiled) >= MAX_SIGNATURES:
                _log.warning(
                    "torch.compile(backend='kiln'): more than %d input signatures; running eagerly",
                    MAX_SIGNATURES,
                )
                return self.gm(*args)
            fn = self._compile(args)
            self.compiled[key] = fn
        live = [a for i, a in enumerate(args) if i not in self.frozen]
        return fn(*live)


def kiln_backend(
    gm: torch.fx.GraphModule, example_inputs: list, options: Optional[dict] = None, **kwargs: Any
) -> Callable:
    if kwargs:
        raise TypeError(
            f"torch.compile(backend='kiln'): unexpected arguments {sorted(kwargs)}; pass Kiln settings "
            "through options={...}"
        )
    where = "torch.compile(backend='kiln')"
    # Torch-TensorRT's option names go through the keyword table (kiln._keywords) first.
    opts = translate_keywords(dict(options or {}), where, native=OPTION_NAMES, stacklevel=4)
    if opts.pop("dry_run", False):
        raise ValueError(
            f"{where}: dryrun is not available with torch.compile; use kiln.compile(..., dry_run=True)"
        )
    settings = settings_from_options(opts, where)
    return KilnDynamoCallable(gm, settings)


# "torch_tensorrt" and "tensorrt" are Torch-TensorRT's names for its backend: registered for Kiln only when
# Torch-TensorRT is not installed and nothing else holds them, so `import kiln as torch_tensorrt` programs run
# unchanged (and the real package, when present, keeps its names).
BACKEND_NAMES = ("kiln", "torch_tensorrt", "tensorrt")


def register() -> None:
    names = BACKEND_NAMES if importlib.util.find_spec("torch_tensorrt") is None else BACKEND_NAMES[:1]
    try:
        registry._discover_entrypoint_backends()  # names other packages declare (metadata only)
    except Exception:  # noqa: BLE001 - older torch: nothing to discover
        pass
    taken = set(registry._BACKENDS) | set(getattr(registry, "_COMPILER_FNS", {}))
    for name in names:
        if name not in taken:
            registry.register_backend(compiler_fn=kiln_backend, name=name)
