"""The package's layer rule, checked by import-linter (contracts in pyproject.toml), and module sizes."""

from __future__ import annotations

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    cli = pytest.importorskip("importlinter.cli", reason="import-linter is in the [test] extra")
    cwd = os.getcwd()
    os.chdir(ROOT)  # grimp finds the package from here; the contracts are in pyproject.toml
    try:
        code = cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    finally:
        os.chdir(cwd)
    assert code == 0, "an import breaks a layer contract: run `lint-imports` for the chain"


def test_no_package_module_exceeds_600_lines():
    sizes = {
        p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in (ROOT / "speedoflight").rglob("*.py")
    }
    assert {k: v for k, v in sizes.items() if v > 600} == {}
