"""Builds the API reference of the `kiln` package from its docstrings with pdoc (pinned in
scripts/python_env.sh) into OUTDIR (default build/api): one HTML page per public module, kiln.html first.
Fails (exit 1) on anything pdoc warns about (a submodule that does not import, a broken docstring link).

    python scripts/api_docs.py [OUTDIR]          # with the package installed, or
    KILN_BUILD_DIR=build PYTHONPATH=python python scripts/api_docs.py build/api

tests/python/test_api_docs.py runs it in CI.
"""

import os
import sys
import warnings
from pathlib import Path

import pdoc
import pdoc.render


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/api")
    pdoc.render.configure(docformat="restructuredtext", footer_text="Kiln API reference", search=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc("kiln", output_directory=out)
    pdoc_dir = os.path.dirname(pdoc.__file__)
    problems = [w for w in caught if str(w.filename).startswith(pdoc_dir)]
    for w in problems:
        print(f"api_docs: {w.message}", file=sys.stderr)
    if problems:
        print(f"api_docs: {len(problems)} problem(s); the reference is incomplete", file=sys.stderr)
        return 1
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html"))
    print(f"api_docs: {len(pages)} pages in {out}: {', '.join(pages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
