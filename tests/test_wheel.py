"""The wheel: ``pip install .`` (not editable) carries the report's data, and the report runs from any folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from speedoflight._util.shipped import REPORT_FILES, SHIPPED

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


def test_report_files_are_the_shipped_inputs_and_small():
    assert sorted(REPORT_FILES) == sorted({f for names in SHIPPED.values() for f in names})
    assert sum((ROOT / "data" / f).stat().st_size for f in REPORT_FILES) < 10_000_000


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the sources (the checkout gets no build/ folder)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "speedoflight", src / "speedoflight", ignore=shutil.ignore_patterns("__pycache__", "_data"))
    (src / "data").mkdir()
    for f in REPORT_FILES:
        shutil.copy(ROOT / "data" / f, src / "data" / f)
    # build isolation, as `pip install .` uses it
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp), str(src)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    (found,) = tmp.glob("speedoflight-*.whl")
    return found


def test_wheel_carries_exactly_the_report_data(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        data = sorted(n for n in names if "/_data/" in n)
        assert data == sorted(f"speedoflight/_data/{f}" for f in REPORT_FILES)
        for f in REPORT_FILES:
            assert zf.read(f"speedoflight/_data/{f}") == (ROOT / "data" / f).read_bytes()
    assert not any(n.startswith(("tests/", "data/", "notebooks/")) for n in names)
    assert "speedoflight/py.typed" in names  # PEP 561: type checkers read the package's annotations
    assert wheel.stat().st_size < 12 * 2**20


def _without_sources(obj):
    """The report's JSON without the input paths (they name where this install keeps the files)."""
    if isinstance(obj, dict):
        return {k: _without_sources(v) for k, v in obj.items() if k not in ("source", "sources")}
    if isinstance(obj, list):
        return [_without_sources(v) for v in obj]
    return obj


def test_installed_wheel_writes_the_same_report_from_any_folder(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    elsewhere = tmp_path / "elsewhere"  # no data/ here, and the installed package has no repository beside it
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    argv = ["report", "--out", "rep", "--replicates", "8", "--quiet"]
    res = subprocess.run(
        [sys.executable, "-c", "import speedoflight, sys; print(speedoflight.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert res.stdout.strip().startswith(str(site))  # the wheel's copy, not the checkout
    res = subprocess.run(
        [sys.executable, "-m", "speedoflight", *argv], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    got = json.loads((elsewhere / "rep" / "report.json").read_text())
    assert {s for s in got["moments"]["sources"]} == {str(site / "speedoflight" / "_data" / "smollm2-t1-x8.npz")}

    from speedoflight.cli.app import main

    here = tmp_path / "here"
    assert main([*argv[:1], "--out", str(here), *argv[3:]]) == 0  # the checkout's run on data/
    want = json.loads((here / "report.json").read_text())
    assert _without_sources(got) == _without_sources(want)

    def body(path):  # all but the line with the time stamp and the command
        return [ln for ln in path.read_text().splitlines() if not ln.startswith("speedoflight 0.")]

    assert body(elsewhere / "rep" / "report.md") == body(here / "report.md")
