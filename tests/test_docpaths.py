"""Every dotted path ``speedoflight.x.y`` that the package's docstrings and comments name resolves.

A path resolves when its longest importable prefix is a module and the rest are attributes of it, so a
reference left behind by a move (``speedoflight.estimator`` for ``speedoflight.theory.estimator``) fails.
"""

from __future__ import annotations

import ast
import importlib
import io
import pathlib
import re
import tokenize

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "speedoflight"
DOTTED = re.compile(r"(?<![\w.])speedoflight(?:\.[A-Za-z_]\w*)+")

#: Stale paths in modules that another branch is rewriting (issue 29), by file: fixed there, not here. Each must
#: still be found, so the list shrinks as they are fixed instead of silently excusing new ones.
ELSEWHERE: set[tuple[str, str]] = set()


def _texts(path: pathlib.Path) -> list[tuple[int, str]]:
    """The comments and docstrings of one module, with their line numbers."""
    src = path.read_text(encoding="utf-8")
    out = [
        (t.start[0], t.string)
        for t in tokenize.generate_tokens(io.StringIO(src).readline)
        if t.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                out.append((node.body[0].lineno, doc))
    return out


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def _named() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for line, text in _texts(path):
            found += [(rel, line, m.group(0)) for m in DOTTED.finditer(text)]
    return found


def test_every_dotted_path_in_the_package_resolves():
    named = _named()
    assert len(named) > 50  # a guard against the walk finding nothing
    broken = {(f, p) for f, _, p in named if not _resolves(p)}
    new = sorted((f, line, p) for f, line, p in named if (f, p) in broken - ELSEWHERE)
    assert not new, "paths that do not resolve:\n" + "\n".join(f"{f}:{line}: {p}" for f, line, p in new)
    assert broken >= ELSEWHERE, f"fixed elsewhere, so drop them from ELSEWHERE: {sorted(ELSEWHERE - broken)}"
