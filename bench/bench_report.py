"""``report`` and ``compare`` on the shipped data, against the code before issue 29, in the same run.

The baseline is the package as it was at ``--baseline`` (default ``a718649``, the last commit before this work),
taken out of git into a temporary folder and run from there; both versions run the same commands in fresh
interpreters, alternately, after a warm-up each (kernels cached on disk, files in the page cache, and Python's
bytecode cached as after any ``pip install``: where ``PYTHONDONTWRITEBYTECODE`` is set, as on these machines, each
version gets its own ``PYTHONPYCACHEPREFIX`` under the run's temporary folder, written by its warm-up, so every
timed start reads compiled bytecode instead of compiling ~150 modules again, about 1 s a start here):

* ``speedoflight report --quiet --out DIR`` (the shipped demo): wall time and peak resident memory, of the process
  with its figure-drawing child summed (sampled every 10 ms while both run) and of the process alone (exact);
* ``speedoflight compare --dump data/smollm2-t1-x8.npz``: wall time.

Then one ``report`` of this version in this process, with the time inside numba kernels (every call from Python
into a kernel of ``speedoflight.kernels``) and inside reading (``read_dumps``, ``load_oracle``, ``read_many``,
``read_measured``; kernels they call counted as kernels) as shares of the run.

Targets (issue 29): ``report`` at most 5 s warm and at most 600 MB; ``compare`` at most 3 s. The machine is shared:
every number is printed, not only the median. Usage::

    python bench/bench_report.py [--repeat 3] [--baseline REV] [--no-baseline] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, ROOT)  # this checkout's package, before any installed one
BASELINE = "a718649"


def tree_rss_kb(pid: int) -> int:
    """Resident KiB of ``pid`` and all its descendants now (Linux /proc; 0 for what has ended)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def run(cmd: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float, float]:
    """Run ``cmd`` in a fresh interpreter; return (wall seconds, peak resident MB of that process, peak MB of the
    process with its children, summed: the drawing child runs beside ``report``; sampled every 10 ms)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd} (exit {proc.returncode})")
    own = usage.ru_maxrss / 1024  # the largest of the process and each child it waited for, exactly
    return wall, own, max(own, peak[0] / 1024)


def checkout(rev: str, into: str) -> str:
    """Extract the tree of ``rev`` into ``into`` (git archive); return the folder."""
    archive = subprocess.run(["git", "-C", ROOT, "archive", rev], check=True, capture_output=True).stdout
    os.makedirs(into, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return into


def versions(baseline: str | None, tmp: str) -> dict[str, str]:
    out = {"this": os.path.abspath(ROOT)}
    if baseline:
        out[f"baseline {baseline}"] = checkout(baseline, os.path.join(tmp, "baseline"))
    return out


def commands(tmp: str) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "report": [py, "-m", "speedoflight", "report", "--quiet", "--out", os.path.join(tmp, "r")],
        "compare": [py, "-m", "speedoflight", "compare", "--dump", "data/smollm2-t1-x8.npz"],
    }


def warm_env(path: str, pyc: str) -> dict[str, str]:
    """The environment of one version: its package first, and a bytecode cache of its own that its warm-up fills."""
    env = {**os.environ, "PYTHONPATH": path}
    if env.pop("PYTHONDONTWRITEBYTECODE", None) is not None:  # never writes into the checkouts: a cache of its own
        env["PYTHONPYCACHEPREFIX"] = pyc
    return env


def timed(where: dict[str, str], cmds: dict[str, list[str]], repeat: int, tmp: str) -> dict[str, dict[str, Any]]:
    env_of = {name: warm_env(path, os.path.join(tmp, f"pyc-{i}")) for i, (name, path) in enumerate(where.items())}
    for name, path in where.items():  # warm-up: a cold baseline compiles its kernels into its own cache once
        for cmd in cmds.values():
            run(cmd, path, env_of[name])
    res: dict[str, dict[str, Any]] = {n: {c: [] for c in cmds} | {"report_mb": [], "report_own_mb": []} for n in where}
    for _ in range(repeat):  # alternately, so both see the same load on a shared machine
        for name, path in where.items():
            for c, cmd in cmds.items():
                wall, own, tree = run(cmd, path, env_of[name])
                res[name][c].append(round(wall, 2))
                if c == "report":
                    res[name]["report_mb"].append(round(tree))
                    res[name]["report_own_mb"].append(round(own))
    return res


def shares(tmp: str) -> dict[str, float]:
    """One report in this process: its time, and the shares inside kernels and inside reading."""
    from numba.core.dispatcher import Dispatcher

    clock = {"kernels": 0.0, "reading": 0.0, "depth": 0, "kernels_in_reading": 0.0}
    call = Dispatcher.__call__

    def kernel_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not getattr(self.py_func, "__module__", "").startswith("speedoflight.kernels"):
            return call(self, *args, **kwargs)
        t0 = time.perf_counter()
        try:
            return call(self, *args, **kwargs)
        finally:
            dt = time.perf_counter() - t0
            clock["kernels"] += dt
            if clock["depth"]:
                clock["kernels_in_reading"] += dt

    def reading(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            clock["depth"] += 1
            try:
                return fn(*args, **kwargs)
            finally:
                clock["depth"] -= 1
                if not clock["depth"]:
                    clock["reading"] += time.perf_counter() - t0

        return wrapper

    Dispatcher.__call__ = kernel_call  # calls from Python only: kernels calling kernels are native calls
    import speedoflight.analysis.stages as S
    import speedoflight.formats.measured as FM
    import speedoflight.formats.oracle as FO
    import speedoflight.logs.acceptance as LA
    from speedoflight.analysis.report import run_report

    S.read_dumps = reading(S.read_dumps)
    FO.load_oracle = reading(FO.load_oracle)
    LA.read_many = reading(LA.read_many)
    FM.read_measured = reading(FM.read_measured)
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        t0 = time.perf_counter()
        run_report(os.path.join(tmp, "shares"))
        total = time.perf_counter() - t0
    finally:
        os.chdir(cwd)
        Dispatcher.__call__ = call
    read_only = clock["reading"] - clock["kernels_in_reading"]
    return {
        "run_report_s": round(total, 2),
        "kernels_s": round(clock["kernels"], 2),
        "reading_s": round(read_only, 2),
        "kernels_share": round(clock["kernels"] / total, 3),
        "reading_share": round(read_only / total, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", default=BASELINE, help="git revision of the baseline (default %(default)s)")
    ap.add_argument("--no-baseline", action="store_true", help="time this version alone")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        where = versions(None if args.no_baseline else args.baseline, tmp)
        res: dict[str, Any] = timed(where, commands(tmp), args.repeat, tmp)
        if not args.json:
            for name, r in res.items():
                print(
                    f"{name}: report {r['report']} s (median {statistics.median(r['report']):.2f}; target <= 5), "
                    f"peak {r['report_mb']} MB with its drawing child, summed (target <= 600; the process alone "
                    f"{r['report_own_mb']}); compare {r['compare']} s "
                    f"(median {statistics.median(r['compare']):.2f}; target <= 3)",
                    flush=True,
                )
        res["this (one report in process)"] = shares(tmp)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    s = res["this (one report in process)"]
    print(
        f"this, one report in process: {s['run_report_s']} s, kernels {s['kernels_s']} s ({s['kernels_share']:.0%}), "
        f"reading {s['reading_s']} s ({s['reading_share']:.0%}; decompressing, scanning, parsing; its kernels counted "
        "as kernels)"
    )
    base = [k for k in res if k.startswith("baseline")]
    if base:
        b, t = res[base[0]], res["this"]
        print(
            f"speed-up: report {statistics.median(b['report']) / statistics.median(t['report']):.1f}x, compare "
            f"{statistics.median(b['compare']) / statistics.median(t['compare']):.1f}x; peak memory "
            f"{statistics.median(b['report_mb']) / statistics.median(t['report_mb']):.1f}x lower"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
