"""The kiln package imports as a tree: no imports inside functions (beyond an allow-list of optional
dependencies) and no cycles between its modules. Reads the sources with `ast`; runs nothing."""

import ast
import os

PKG = os.path.join(os.path.dirname(__file__), "..", "..", "python", "kiln")

# (module, imported module): imports that stay inside a function on purpose.
ALLOWED_LOCAL_IMPORTS = {
    ("kiln.demo", "torchvision"),  # the demo's models: optional dependencies (pip install kiln[demo])
    ("kiln.demo", "transformers"),
    ("kiln.llm._decoder", "transformers.cache_utils"),  # kiln.llm's cache class: only with an HF model
}


def _modules() -> dict[str, tuple[ast.Module, bool]]:
    """Module name -> (syntax tree, is a package __init__)."""
    mods = {}
    for root, _, files in os.walk(PKG):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, os.path.join(PKG, "..")).removesuffix(".py").replace(os.sep, ".")
            name = rel.removesuffix(".__init__")
            with open(path) as fh:
                mods[name] = (ast.parse(fh.read(), path), f == "__init__.py")
    return mods


def _targets(node: ast.AST, module: str, is_pkg: bool, known: set[str]) -> list[str]:
    """Modules an import statement loads (a `from pkg import sub` names the submodule)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        parts = parts if is_pkg else parts[:-1]
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
    out = []
    for a in node.names:
        sub = f"{base}.{a.name}"
        out.append(sub if sub in known else base)
    return out


def _local_imports(tree: ast.Module):
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield node


def test_no_imports_inside_functions():
    mods = _modules()
    found = set()
    for name, (tree, _) in mods.items():
        for node in _local_imports(tree):
            for t in _targets(node, name, False, set(mods)):
                found.add((name, t))
    assert found <= ALLOWED_LOCAL_IMPORTS, (
        f"imports inside functions: {sorted(found - ALLOWED_LOCAL_IMPORTS)}"
    )


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    graph = {}
    for name, (tree, is_pkg) in mods.items():
        local = set(_local_imports(tree))
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and node not in local:
                deps |= {t for t in _targets(node, name, is_pkg, known) if t in known and t != name}
        graph[name] = deps
    return graph


def test_module_imports_form_a_tree():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(d) :] + [d]))
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_only_the_package_root_imports_the_frontends():
    # Leaves: the runtime module class, input normalization, settings and errors import no frontend.
    graph = _graph()
    for leaf in ("kiln._engine_module", "kiln._input", "kiln._errors"):
        assert graph[leaf] == set(), (leaf, graph[leaf])
    assert graph["kiln._settings"] <= {"kiln.logging", "kiln._native"}, graph["kiln._settings"]
    for m, deps in graph.items():
        assert "kiln" not in deps, f"{m} imports the package root"
        assert "kiln.fx" not in deps or m == "kiln", f"{m} imports the legacy FX API"


def test_the_checker_sees_a_cycle_and_a_local_import():
    # The checks above are only as good as the parsing: a local import and a 2-cycle must be seen.
    tree = ast.parse("def f():\n    from kiln import _errors\n")
    assert len(list(_local_imports(tree))) == 1
    node = ast.parse("from . import _stitch").body[0]
    assert _targets(node, "kiln.dynamo._graph", False, {"kiln.dynamo._stitch"}) == ["kiln.dynamo._stitch"]
