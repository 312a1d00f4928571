"""The figure-drawing child process: the same files as drawing here, and the parent draws whatever the child did not."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from speedoflight.analysis import drawing
from speedoflight.analysis.compare import compare
from speedoflight.analysis.drawing import Drawer
from speedoflight.logs.acceptance import read_acceptance

PROFILES = {"optimal chain": np.array([0.6, 0.35, 0.2, 0.1]), "ceiling's tree": np.array([0.8, 0.5, 0.3, 0.2])}


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    """A small comparison with a measured drafter: a verifier with 1/2 on two tokens."""
    tmp = tmp_path_factory.mktemp("drawing")
    rows = np.zeros((64, 8))
    rows[:, :2] = 0.5
    np.save(tmp / "binary.npy", rows)
    (tmp / "m.csv").write_text("accepted,tree_size\n1,2\n0,2\n2,4\n")
    return compare([str(tmp / "binary.npy")], read_acceptance(str(tmp / "m.csv")), replicates=4, n_boot=50)


def draw_all(child, comparison, folder, timeout=drawing.TIMEOUT):
    """Draw the compare and positions figures into ``folder``; return the drawer and the files."""
    paths = [str(folder / "compare.png"), str(folder / "positions.png")]
    with Drawer(child=child) as d:
        d.draw("compare", (comparison,), paths[0])
        d.draw("positions", (comparison.measured, PROFILES), paths[1])
        d.finish(timeout=timeout)
    return d, paths


def test_the_child_draws_the_same_files_as_this_process(comparison, tmp_path):
    (tmp_path / "child").mkdir()
    (tmp_path / "here").mkdir()
    by_child, child_paths = draw_all(True, comparison, tmp_path / "child")
    here, here_paths = draw_all(False, comparison, tmp_path / "here")
    assert by_child.by_child == child_paths  # drawn by the child, not by the fallback
    assert here.by_child == []
    for a, b in zip(child_paths, here_paths, strict=True):
        data = Path(a).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert data == Path(b).read_bytes()


def test_a_figure_that_fails_fails_in_the_parent(tmp_path):
    with Drawer(child=True) as d:
        assert d.child
        d.draw("positions", (None, None), str(tmp_path / "p.png"))  # no profiles: the figure cannot be drawn
        with pytest.raises(AttributeError):
            d.finish()
    assert d.by_child == []


def test_no_child_where_none_can_start(comparison, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))
    d, paths = draw_all(True, comparison, tmp_path)
    assert not d.child
    assert d.by_child == []
    assert all(Path(p).read_bytes()[:4] == b"\x89PNG" for p in paths)


def test_a_child_that_imports_another_copy_draws_nothing(comparison, tmp_path, monkeypatch):
    real = drawing._package()
    monkeypatch.setattr(drawing, "_package", lambda: real + "-elsewhere")  # what the parent tells the child
    d, paths = draw_all(True, comparison, tmp_path)
    assert d.by_child == []  # the child found its own copy is not the parent's and ended: the parent drew
    assert all(Path(p).read_bytes()[:4] == b"\x89PNG" for p in paths)


def test_past_the_timeout_the_parent_draws_and_stops_the_child(comparison, tmp_path):
    d, paths = draw_all(True, comparison, tmp_path, timeout=0.0)
    assert d.by_child == []  # the child needs a second to import matplotlib: nothing is back at once
    assert not d.child  # stopped
    assert all(Path(p).read_bytes()[:4] == b"\x89PNG" for p in paths)


def test_close_stops_the_child(tmp_path):
    d = Drawer(child=True)
    proc = d._proc
    assert proc is not None
    assert proc.poll() is None
    d.close()
    assert proc.returncode is not None
    assert not d.child
    d.close()  # twice is harmless


def test_only_the_package_figures_can_be_asked(tmp_path):
    with Drawer(child=False) as d, pytest.raises(ValueError, match="unknown figure"):
        d.draw("os.system", ("true",), str(tmp_path / "x.png"))


def test_a_notebook_with_matplotlib_loaded_draws_in_its_own_process(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", sys.modules.get("matplotlib") or object())
    with Drawer() as d:
        assert not d.child


@pytest.mark.e2e
def test_ctrl_c_in_report_stops_the_drawing_child_and_leaves_no_folder(tmp_path):
    """SIGINT to report alone (not its group): one line, exit 130, no temporary folder, the child gone."""
    import os
    import signal
    import subprocess
    import time

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    argv = [sys.executable, "-m", "speedoflight", "report", "--quiet", "--out", str(tmp_path / "rep")]
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    children: list[int] = []
    deadline = time.monotonic() + 60
    while not children and time.monotonic() < deadline and proc.poll() is None:
        try:  # the drawing child starts before any number is computed
            children = [int(c) for c in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        except OSError:
            pass
        time.sleep(0.05)
    assert children, "report started no drawing child"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert err.decode().strip().splitlines() == ["speedoflight: interrupted"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither rep nor a .tmp-rep-* folder
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_inputs_that_cannot_be_pickled_are_drawn_here(comparison, tmp_path):
    class Local(dict):  # a class defined in a function cannot be pickled
        pass

    path = str(tmp_path / "p.png")
    with Drawer(child=True) as d:
        d.draw("positions", (comparison.measured, Local(PROFILES)), path)
        assert Path(path).read_bytes()[:4] == b"\x89PNG"  # drawn before draw() returned
        d.finish()
    assert d.by_child == []
