"""Issue 32's first case: a read-only root filesystem (``docker run --read-only``), where numba has no place to cache.

The command runs in a private mount namespace (``unshare -m``) whose root is remounted read-only, with no
NUMBA_CACHE_DIR and HOME=/: no folder beside the package, in the home folder or under /tmp can be written. Kernel
commands must work, compiling every run, with one notice. Skipped where namespaces are not allowed (not root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
READ_ONLY = "mount --bind / / && mount -o remount,bind,ro / && "


def _read_only(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["HOME"] = "/"
    cmd = READ_ONLY + "exec " + " ".join([sys.executable, "-m", "speedoflight", *argv])
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", cmd], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def namespaces():
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux)")
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", READ_ONLY + "touch /tmp/.speedoflight-ro-probe"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "Read-only file system" not in probe.stderr:
        pytest.skip(f"cannot remount / read-only in a mount namespace here ({probe.stderr.strip()[:100]})")


@pytest.mark.parametrize(
    ("argv", "first"),
    [
        (["bound", "--mu", "2", "--mu2", "8"], "speedoflight bound: mu = 2.0000 nats"),
        (["estimate", "data/smollm2-t1.npz"], "speedoflight estimate: 15360 rows"),
    ],
)
def test_kernel_commands_run_on_a_read_only_root(namespaces, argv, first):
    got = _read_only(argv)
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith(first)
    lines = [x for x in got.stderr.splitlines() if x.strip()]
    assert lines == [
        "speedoflight: note: numba finds no writable place to cache kernels; they are compiled on every run "
        "(slower starts)"
    ]
