"""Build hook: the wheel carries the files the default ``speedoflight report`` reads (about 9 MB).

They stay in the repository's ``data/`` (one copy in git); a non-editable
build copies them into the package as ``speedoflight/_data/``, where
:func:`speedoflight.shipped_data` finds them when no ``data/``
folder is at hand. The list is ``REPORT_FILES`` in ``speedoflight/_util/shipped.py``
(the report reads the same list); ``tests/test_wheel.py`` builds the wheel
and checks it.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def report_files() -> list[str]:
    """Read ``REPORT_FILES`` from ``speedoflight/_util/shipped.py`` without importing the package."""
    tree = ast.parse((ROOT / "speedoflight" / "_util" / "shipped.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "REPORT_FILES" for t in targets):
                return list(ast.literal_eval(node.value))
    raise RuntimeError("speedoflight/_util/shipped.py defines no REPORT_FILES")


class BuildWithReportData(build_py):
    """``build_py``, then copy the report's data files into the built package (not for editable installs)."""

    def run(self) -> None:
        """Build the package, then add the data files."""
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads data/ beside the package
        target = Path(self.build_lib) / "speedoflight" / "_data"
        target.mkdir(parents=True, exist_ok=True)
        for name in report_files():
            shutil.copyfile(ROOT / "data" / name, target / name)


setup(cmdclass={"build_py": BuildWithReportData})
