"""Simulator throughput: node pops per second, against the pure-Python heapq reference, in one run.

* pool of 10,000 rows with k = 64 (Dirichlet rows), Pmax = 1e6 per replicate;
* the kernel ``simulate`` uses (packed heap entries, pushes above a per-replicate
  threshold pruned) and the plain slot kernel (the tree-export path), by Pmax;
* ours on one thread vs the heapq reference (tests/reference.py) on the same draws;
* ours over replicates with 1 thread and with all threads (numba.set_num_threads);
* peak extra memory of one replicate at Pmax = 1e7.

Usage::

    python bench/bench_simulate.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench._memory import reset_peak, rss_kb
from speedoflight import _kernels_tree as KT
from speedoflight.simulate import Distribution, packed_layout, simulate
from tests.reference import top_p_reference


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pmax", type=int, default=1_000_000)
    ap.add_argument("--replicates", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = rng.dirichlet(np.full(64, 0.1), size=10_000)
    neglogp = np.ascontiguousarray(np.sort(-np.log(np.maximum(rows, 1e-300)), axis=1))
    dist = Distribution("bench pool", neglogp=neglogp)

    # one replicate, one thread, against the reference on the same draws
    n_ref = 50_000
    draws = rng.integers(0, len(rows), n_ref + 1)
    at = np.array([n_ref], dtype=np.int64)
    out, hist, empty = np.zeros(1), np.zeros(4097, dtype=np.int64), np.empty(0, dtype=np.int64)
    KT.top_p_one(neglogp, draws, 10, np.array([10], dtype=np.int64), out, hist, empty, empty, empty)
    t0 = time.perf_counter()
    KT.top_p_one(neglogp, draws, n_ref, at, out, hist, empty, empty, empty)
    t_ours_small = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = top_p_reference(neglogp, draws, n_ref)
    t_ref = time.perf_counter() - t0
    assert abs(ref[-1] - out[0]) < 1e-9 * max(1.0, out[0])

    def slot(d, size):
        KT.top_p_one(neglogp, d, size, np.array([size], dtype=np.int64), out, hist, empty, empty, empty)

    layouts = {}

    def fast(d, size):
        first, gap, bd, bw = layouts[size]  # made once per simulate() call, not per replicate: not timed
        KT.top_p_fast(first, gap, d, size, np.array([size], dtype=np.int64), out, hist, bd, bw)

    for size in (5000, n_ref, 10_000, 100_000, args.pmax):
        layouts[size] = packed_layout(neglogp, size)
    fast(draws, 5000)  # compile
    t0 = time.perf_counter()
    fast(draws, n_ref)
    t_fast_small = time.perf_counter() - t0
    by_size = {}
    for size in (10_000, 100_000, args.pmax):
        d = rng.integers(0, len(rows), size + 1)
        for name, fn in (("fast", fast), ("slot", slot)):
            best = np.inf
            for _ in range(3 if size <= 100_000 else 1):
                t0 = time.perf_counter()
                fn(d, size)
                best = min(best, time.perf_counter() - t0)
            by_size[f"pops_per_s_one_thread_{name}_pmax_{size}"] = round(size / best)

    threads = numba.config.NUMBA_NUM_THREADS
    simulate(dist, 1000, replicates=2, seed=0)  # compile
    numba.set_num_threads(1)
    t0 = time.perf_counter()
    simulate(dist, args.pmax, replicates=args.replicates, seed=0, at=[args.pmax])
    t_serial = time.perf_counter() - t0
    numba.set_num_threads(threads)
    t0 = time.perf_counter()
    simulate(dist, args.pmax, replicates=args.replicates, seed=0, at=[args.pmax])
    t_parallel = time.perf_counter() - t0

    base = rss_kb("VmRSS:")
    reset_peak()
    numba.set_num_threads(1)
    simulate(dist, 10_000_000, replicates=2, seed=0, at=[10_000_000])
    numba.set_num_threads(threads)
    peak_mb = (rss_kb("VmHWM:") - base) / 1024

    result = {
        "pool": "10,000 rows x k = 64",
        **by_size,
        f"slot_kernel_vs_heapq_reference_pmax_{n_ref}": round(t_ref / t_ours_small, 1),
        f"fast_kernel_vs_heapq_reference_pmax_{n_ref}": round(t_ref / t_fast_small, 1),
        "reference_pops_per_s": round(n_ref / t_ref),
        "replicates": args.replicates,
        "threads": threads,
        "serial_s": round(t_serial, 2),
        "parallel_s": round(t_parallel, 2),
        "parallel_speedup": round(t_serial / t_parallel, 2),
        "peak_extra_mb_pmax_1e7_one_replicate_at_a_time": round(peak_mb, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"  {k:48s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
