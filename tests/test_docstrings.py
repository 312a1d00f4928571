"""Every public function has a numpydoc docstring that documents its parameters and what it returns.

"Public" is every name in a module's ``__all__`` (and the public methods of
the classes there). Functions and methods must have a summary line, every
parameter documented and none invented (GL08, SS01, PR01, PR02), and a
Returns (or Yields) section unless they return None (RT01). Classes need a
docstring; dataclasses document their fields under Attributes.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

validate = pytest.importorskip("numpydoc.validate", reason="needs the [test] extra (numpydoc)")

FUNCTION_CHECKS = {"GL08", "SS01", "PR01", "PR02", "RT01"}
CLASS_CHECKS = {"GL08", "SS01"}


def _public() -> list[tuple[str, str]]:
    import speedoflight

    out = []
    for info in pkgutil.walk_packages(speedoflight.__path__, "speedoflight."):
        if info.name.endswith("__main__"):
            continue
        mod = importlib.import_module(info.name)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name, None)
            if getattr(obj, "__module__", None) != mod.__name__:
                continue  # re-exported: checked where it is defined
            qual = f"{mod.__name__}.{name}"
            if inspect.isfunction(obj):
                out.append((qual, "function"))
            elif inspect.isclass(obj):
                out.append((qual, "class"))
                for meth, fn in vars(obj).items():
                    if not meth.startswith("_") and inspect.isfunction(fn):
                        out.append((f"{qual}.{meth}", "function"))
    return out


def _problems(name: str, what: str) -> list[str]:
    """The numpydoc errors of one public name that this test enforces."""
    result = validate.validate(name)
    checks = FUNCTION_CHECKS if what == "function" else CLASS_CHECKS
    problems = [f"{code}: {msg}" for code, msg in result["errors"] if code in checks]
    if what == "function":
        obj = result.get("obj") or _resolve(name)
        if inspect.signature(obj).return_annotation in (None, "None"):
            problems = [p for p in problems if not p.startswith("RT01")]
    return problems


def test_public_docstrings():
    public = _public()
    assert len(public) > 200  # a guard against the walk silently finding nothing
    failures = [f"{name}: {p}" for name, what in public for p in _problems(name, what)]
    assert not failures, f"{len(failures)} docstring problems:\n" + "\n".join(failures)


def _resolve(name: str):
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


def test_public_names_resolve():
    import speedoflight

    for name in speedoflight.__all__:
        assert getattr(speedoflight, name) is not None
