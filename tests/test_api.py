"""The public API: a curated top level, each subpackage's own names, an explicit ``__all__`` in every module.

Names are loaded on first use (``speedoflight._util.lazy``); what the type checkers are told (the
``TYPE_CHECKING`` imports of each ``__init__``) must be what is loaded, and a name a package used to list still
resolves, with a DeprecationWarning.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import pkgutil
import warnings

import pytest

import speedoflight

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "speedoflight"
PACKAGES = sorted(
    ["speedoflight"] + [m.name for m in pkgutil.walk_packages(speedoflight.__path__, "speedoflight.") if m.ispkg]
)
#: Modules another branch is rewriting (issue 29): they get their ``__all__`` there.
ELSEWHERE: set[str] = set()


def _defines_all(path: pathlib.Path) -> bool:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return True
    return False


def test_every_module_has_an_explicit_all():
    missing = sorted(p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py") if not _defines_all(p))
    assert sorted(set(missing) - ELSEWHERE) == []
    assert set(missing) >= ELSEWHERE, f"given an __all__ elsewhere, so drop from ELSEWHERE: {ELSEWHERE - set(missing)}"


def test_the_top_level_is_curated():
    names = set(speedoflight.__all__)
    core = {
        "estimate", "bound_curve", "simulate", "optimum", "compare", "run_report", "collect", "export_ceiling",
        "read_acceptance", "open_source", "InputError", "Moments", "BoundCurve", "SimulationResult",
        "OptimumResult", "Comparison", "Measured",
    }  # fmt: skip
    assert core <= names
    assert {"compare_figure", "position_figure", "evidence_figure", "tradeoff_figure", "law_figure"} <= names
    assert len(names) <= 30  # curated: the rest is in the subpackages


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_lists_names_that_resolve_and_none_that_a_submodule_shadows(package):
    mod = importlib.import_module(package)
    assert isinstance(mod.__all__, list)
    assert len(mod.__all__) == len(set(mod.__all__))
    submodules = {m.name for m in pkgutil.iter_modules(mod.__path__)}
    # ``speedoflight.analysis.compare`` is the module once it is imported: a function of that name cannot be listed
    assert not set(mod.__all__) & submodules
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{package}.{name}"
        assert name in dir(mod)


@pytest.mark.parametrize("package", PACKAGES)
def test_what_type_checkers_are_told_is_what_is_loaded(package):
    mod = importlib.import_module(package)
    lazy = {}
    for module, names in getattr(mod, "_LAZY", {}).items():
        for entry in names:
            alias, _, name = entry.partition("=")
            lazy[alias] = (module, name or alias)
    told = {}
    source = pathlib.Path(mod.__file__).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                for a in imp.names:
                    assert a.asname, "a re-export needs `as NAME`"
                    told[a.asname] = ("." * imp.level + (imp.module or ""), a.name)
    assert told == lazy
    for alias, (module, name) in lazy.items():
        assert getattr(mod, alias) is getattr(importlib.import_module(module, package), name)
        assert alias in mod.__all__


def test_names_the_top_level_no_longer_lists_resolve_with_a_warning():
    for name, home in speedoflight._MOVED.items():
        assert name not in speedoflight.__all__
        assert name not in dir(speedoflight)
        with pytest.warns(DeprecationWarning, match=f"import it from {home}"):
            value = getattr(speedoflight, name)
        assert value is getattr(importlib.import_module(home), name)
        assert name in importlib.import_module(home).__all__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from speedoflight import estimate  # noqa: F401  (a listed name: no warning)


def test_shipped_data_finds_what_a_notebook_needs_and_names_what_a_wheel_lacks():
    folder = speedoflight.shipped_data("smollm2-t1.npz", "pair")  # a checkout: the repository's data/
    assert (folder / "pair").is_dir()
    assert all((folder / f).is_file() for f in speedoflight._util.shipped.REPORT_FILES)
    with pytest.raises(speedoflight.InputError, match="only a checkout of the repository has them"):
        speedoflight.shipped_data("smollm2-t1.npz", "no-such-file.npz")
