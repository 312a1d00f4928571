"""Issue 32's first case: numba with no place to cache, as another user or on a read-only root filesystem.

* A read-only root (``docker run --read-only``): the command runs in a private mount namespace (``unshare -m``)
  whose root is remounted read-only, with no NUMBA_CACHE_DIR and HOME=/, so nothing beside the package, in the
  home folder or under /tmp can be written. Kernel commands work, compiling every run, with one notice.
* An unprivileged user (``docker run --user``): ``nobody`` with HOME=/ and a root-owned install, the reproduction
  of the issue (``setpriv --reuid=65534``). This machine's Python lives under /root, which nobody may not enter, so
  the namespace mounts its prefix at /mnt first. The kernels go to a private cache under /tmp, with one notice.

Skipped where namespaces or setpriv are not allowed (not root).
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
        (["estimate", "data/smollm2-t1.npz"], "speedoflight estimate: mu = "),
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


def test_an_unprivileged_user_gets_a_private_cache(namespaces):
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux)")
    for folder in [ROOT, *ROOT.parents]:  # nobody must reach the checkout (a clone under /root cannot be)
        if not os.stat(folder).st_mode & 0o001:
            pytest.skip(f"{folder} is closed to other users, so nobody cannot read this checkout")
    site = [p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix)]
    if not site:
        pytest.skip("no site-packages under sys.prefix")
    inner = site[0].replace(sys.prefix, "/mnt", 1)
    python = sys.executable.replace(sys.prefix, "/mnt", 1)
    code = (
        f"import runpy, site, sys; site.addsitedir({inner!r}); "
        "sys.argv = ['speedoflight', 'estimate', 'data/smollm2-t1.npz']; "
        "runpy.run_module('speedoflight', run_name='__main__')"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    env["HOME"] = "/"
    cmd = f'mount --bind {sys.prefix} /mnt && exec setpriv --reuid=65534 --regid=65534 --clear-groups {python} -c "$0"'
    cache = Path("/tmp/speedoflight-numba-65534")
    try:
        got = subprocess.run(
            ["unshare", "-m", "sh", "-c", cmd, code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        assert got.returncode == 0, got.stderr
        assert got.stdout.startswith("speedoflight estimate: mu = ")
        assert "\n  from 15360 rows" in got.stdout
        lines = [x for x in got.stderr.splitlines() if x.strip()]
        assert lines == [
            "speedoflight: note: numba cannot cache beside the package or in your home folder; kernels are cached "
            f"in {cache}"
        ]
    finally:
        shutil.rmtree(cache, ignore_errors=True)  # what the test made, gone again
