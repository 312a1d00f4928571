"""Each input read once: what `compare` and `bound --from` spend reading a large dump, before and after.

Before (the reading pattern until 2026-12-02, with the functions that still
exist): `bound --from` ran `estimate`, `atom_pool` and `trajectories_from_files`
(a second `estimate`), three passes over the dump; `compare` added a `pool`
with tails dropped and one with tails lumped, five passes. After: one
`scan` feeds all of them (`bound_curve(..., also=[PoolScan, PoolScan])`).
The simulation that follows is the same in both and is not timed here.

Each pass runs in a fresh interpreter (wall time and peak resident memory,
VmHWM), all in the same run. The dump is made by tiling the shipped
SmolLM2 dump (real rows, top-64) to about ``--gb`` gigabytes on disk.

Usage::

    python bench/bench_readonce.py [--gb 1] [--dump FILE] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

PHASES = ("bound_before", "bound_after", "compare_before", "compare_after")


def make_dump(path: str, gb: float) -> int:
    from speedoflight.readers.dumpfile import write_dump

    src = os.path.join(ROOT, "data", "smollm2-t1.npz")
    with np.load(src) as z:
        base = {k: z[k] for k in z.files if k != "metadata"}
        meta = json.loads(str(z["metadata"]))
    reps = max(1, round(gb * 1e9 / os.path.getsize(src)))  # copies of the shipped dump
    n_seq = int(base["seq"].max()) + 1
    arrays = {k: np.concatenate([v] * reps) for k, v in base.items() if k != "seq"}
    arrays["seq"] = np.concatenate([base["seq"] + r * n_seq for r in range(reps)])
    meta.pop("format", None)
    meta.pop("version", None)
    write_dump(path, arrays, meta)
    return len(arrays["seq"])


def run_phase(phase: str, dump: str) -> None:
    from speedoflight.simulation.simulate import PoolScan, pool
    from speedoflight.theory.curve import bound_curve
    from speedoflight.theory.estimator import estimate
    from speedoflight.theory.iid import atom_pool
    from speedoflight.theory.trajectory import trajectories_from_files

    p = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256])
    if phase.endswith("before"):
        estimate([dump])
        atom_pool([dump], tail="drop")
        trajectories_from_files([dump])
        if phase.startswith("compare"):
            pool([dump], tail="drop")
            pool([dump], tail="lump")
    else:
        also = [PoolScan(tail="drop"), PoolScan(tail="lump")] if phase.startswith("compare") else []
        bound_curve(p, sources=[dump], n_boot=20, also=also)
        for a in also:
            a.finish(1)


def measure(phase: str, dump: str) -> dict[str, float]:
    code = (
        f"import sys; sys.path.insert(0, {ROOT!r}); from bench.bench_readonce import run_phase; "
        f"run_phase({phase!r}, {dump!r}); "
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
    )
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return {"seconds": time.perf_counter() - t0, "peak_mb": int(out.strip().splitlines()[-1]) / 1024}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.0, help="size of the tiled dump on disk (default 1)")
    ap.add_argument("--dump", help="use this dump instead of making one")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        dump = args.dump or os.path.join(tmp, "tiled.npz")
        if not args.dump:
            rows = make_dump(dump, args.gb)
        else:
            with np.load(dump) as z:
                rows = len(z["seq"])
        size = os.path.getsize(dump)
        measure("bound_after", dump)  # warm: compile the kernels and fill the page cache
        res = {ph: measure(ph, dump) for ph in PHASES}
    if args.json:
        print(json.dumps({"rows": rows, "bytes": size, **res}, indent=2))
        return 0
    print(f"dump: {rows:,} rows, {size / 1e9:.2f} GB on disk; each pass in a fresh interpreter")
    for cmd in ("bound", "compare"):
        b, a = res[f"{cmd}_before"], res[f"{cmd}_after"]
        print(
            f"  {cmd:8s} reading: before {b['seconds']:6.1f} s, {b['peak_mb']:7.0f} MB peak; "
            f"after {a['seconds']:6.1f} s, {a['peak_mb']:7.0f} MB peak; "
            f"time ratio before/after {b['seconds'] / a['seconds']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
