"""Kernels load where numba cannot cache beside the package: a private temporary cache, else no cache, said once.

numba's ``NUMBA_CACHE_LOCATOR_CLASSES`` replaces its list of cache places, which reproduces here, as root, what a
non-root user of a root-owned install with an unwritable HOME meets: no place is found, and numba raises "no
locator available" when a kernel is decorated.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARGV = [sys.executable, "-m", "speedoflight", "estimate", "data/smollm2-t1.npz", "--json"]  # runs the row kernels


def _run(tmp_path, locators):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(NUMBA_CACHE_LOCATOR_CLASSES=locators, TMPDIR=str(tmp_path))
    return subprocess.run(ARGV, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)


@pytest.mark.e2e
def test_no_cache_place_at_all_compiles_without_a_cache_and_says_so(tmp_path):
    got = _run(tmp_path, "IPythonCacheLocator")  # outside IPython: never a place
    assert got.returncode == 0, got.stderr
    notes = [x for x in got.stderr.splitlines() if x.startswith("speedoflight: note:")]
    assert notes == ["speedoflight: note: numba finds no writable place to cache kernels; they are compiled on every "
                     "run (slower starts)"]  # fmt: skip
    assert "Traceback" not in got.stderr
    assert '"mu"' in got.stdout


@pytest.mark.e2e
def test_a_private_temporary_cache_is_used_and_reused(tmp_path):
    first = _run(tmp_path, "IPythonCacheLocator,UserProvidedCacheLocator")
    assert first.returncode == 0, first.stderr
    folder = tmp_path / f"speedoflight-numba-{os.getuid()}"
    assert f"kernels are cached in {folder}" in first.stderr
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert any(folder.rglob("*.nbi"))  # numba's cache index files
    second = _run(tmp_path, "IPythonCacheLocator,UserProvidedCacheLocator")
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


def test_a_temporary_folder_others_can_write_is_never_used(tmp_path):
    folder = tmp_path / f"speedoflight-numba-{os.getuid()}"
    folder.mkdir()
    folder.chmod(0o777)  # anyone could plant cached code here
    env_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp_path)
    try:
        import tempfile

        tempfile.tempdir = None
        from speedoflight.kernels._jit import _private_folder

        assert _private_folder() is None
        folder.chmod(0o700)
        assert _private_folder() == str(folder)
    finally:
        tempfile.tempdir = None
        if env_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = env_tmp


def test_numba_set_up_in_the_background_leaves_the_first_kernel_nothing_to_do():
    """preload_numba's thread installs numba's registries under its compiler lock: the first kernel adds none."""
    code = (
        "import threading, numpy as np\n"
        "from numba.core.registry import cpu_target\n"
        "from speedoflight.kernels._jit import preload_numba\n"
        "from speedoflight.kernels import moments as K\n"
        "before = len(cpu_target.target_context._registries)\n"
        "preload_numba(); preload_numba()\n"
        "[t.join() for t in threading.enumerate() if t.name == 'speedoflight-numba']\n"
        "ready = len(cpu_target.target_context._registries)\n"
        "v = K.threshold_infimum(np.array([1.0]), np.array([0.0, 1.0]), np.array([2.0]), 1.0)\n"
        "print(before, ready, len(cpu_target.target_context._registries), v[0])\n"
    )
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert got.returncode == 0, got.stderr
    before, ready, after, value = got.stdout.split()
    assert int(before) < int(ready) == int(after)  # set up by the thread; the kernel's load found it done
    assert float(value) == min(2.0 * np.exp(-1.0), 1.0 + 2.0 * np.exp(-1.0))  # G + P e^-t at t = 1 or below it
