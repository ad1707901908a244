"""Where an FX node of an exported graph comes from, in the model's terms: the module it was traced in
(``nn_module_stack``: path ``layer1.0.conv2`` and class ``Conv2d``) and the model's own source line
(``stack_trace``: the innermost frame outside torch and kiln, e.g. ``model.py:42``). A leaf module."""

from __future__ import annotations

import os

import torch
import torch.fx

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_KILN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def module_of(node: torch.fx.Node) -> tuple[str, str]:
    """(module path, class name) of the innermost module the node was traced in; ("", "") when the
    exported graph does not say (the top-level forward's own ops have path "")."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", ""
    path, cls = list(stack.values())[-1]
    cls_name = cls if isinstance(cls, str) else getattr(cls, "__qualname__", str(cls))
    return str(path), cls_name.rsplit(".", 1)[-1]


def source_of(node: torch.fx.Node) -> tuple[str, str]:
    """("file.py:42", code of that line) of the innermost frame outside torch and kiln; ("", "") when the
    graph carries no stack trace."""
    lines = (node.meta.get("stack_trace") or "").strip().splitlines()
    best = ("", "")
    for i, ln in enumerate(lines):
        s = ln.strip()
        if not s.startswith('File "'):
            continue
        path = s[6 : s.find('"', 6)]
        if path.startswith(_TORCH_DIR) or path.startswith(_KILN_DIR):
            continue
        try:
            lineno = int(s.split(", line ", 1)[1].split(",", 1)[0])
        except (IndexError, ValueError):
            continue
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        best = (f"{os.path.basename(path)}:{lineno}", "" if nxt.startswith("File ") else nxt)
    return best


def attribute_path(path: str) -> str:
    """Module path as the model's code spells it: "layer1.0.conv2" -> "self.layer1[0].conv2"."""
    out = "self"
    for part in path.split(".") if path else []:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def describe_origin(node: torch.fx.Node) -> str:
    """ "self.layer1[0].conv2 (Conv2d) at model.py:42", or what of it is known ("" when nothing is)."""
    path, cls = module_of(node)
    src, _ = source_of(node)
    mod = attribute_path(path) if path or cls else ""
    if mod and cls:
        mod += f" ({cls})"
    return " at ".join(p for p in (mod, src) if p)
