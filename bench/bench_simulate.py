"""Simulator throughput: node pops per second, against the pure-Python heapq reference, in one run.

* pool of 10,000 rows with k = 64 (Dirichlet(0.1) rows);
* "pops" are the nodes of the optimal tree found, Pmax per replicate, whatever
  the search: ``simulate``'s kernel lists the seeded tree below a threshold
  breadth first (tries and overshoot included in its time); the best-first heap
  on the same tree (the tree export) and the heapq reference
  (tests/reference.py) pop them one by one;
* one thread, per Pmax (1e4 .. 1e6, best of 3), each kernel on the same trees;
* ours against the reference on the same tree (Pmax = 50,000);
* ``simulate`` over replicates with 1 thread and with all threads (numba.set_num_threads),
  best of 3, reporting P = Pmax only and the default P values (about 1,100);
* peak extra memory of ``simulate`` at Pmax = 1e7, 2 replicates on all threads.

Usage::

    python bench/bench_simulate.py [--pmax 1000000] [--replicates 8] [--json]
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
from speedoflight.kernels import tree as KT
from speedoflight.simulation.simulate import Distribution, growth_rate, simulate
from tests.reference import seeded_reference


def _listing(neglogp: np.ndarray, size: int, seed: int) -> tuple[float, float]:
    cap = KT.level_cap(size)
    keys, ids, depths = np.empty(cap), np.empty(cap, dtype=np.uint64), np.empty(cap, dtype=np.uint16)
    keys[:], ids[:], depths[:] = 0, 0, 0  # touch the pages outside the timing, as simulate's workers reuse them
    out, hist = np.zeros(1), np.zeros(4097, dtype=np.int64)
    at = np.array([size], dtype=np.int64)
    root = np.uint64(KT.root_id(seed))
    growth = growth_rate(neglogp)  # once per simulate call, timed there
    t0 = time.perf_counter()
    n = KT.top_p_seeded(neglogp, root, size, at, out, hist, keys, ids, depths, growth)
    dt = time.perf_counter() - t0
    assert n >= size  # the listing answered, not the heap fallback
    return dt, float(out[0])


def _heap(neglogp: np.ndarray, size: int, seed: int) -> tuple[float, float]:
    out, hist, empty = np.zeros(1), np.zeros(4097, dtype=np.int64), np.empty(0, dtype=np.int64)
    at = np.array([size], dtype=np.int64)
    root = np.uint64(KT.root_id(seed))
    t0 = time.perf_counter()
    KT.top_p_seeded_heap(neglogp, root, size, at, out, hist, empty, empty, empty, size)
    return time.perf_counter() - t0, float(out[0])


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
    threads = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(1)

    # compile, then the reference on one tree against both kernels on the same tree
    _listing(neglogp, 5000, 0)
    _heap(neglogp, 5000, 0)
    n_ref = 50_000
    t0 = time.perf_counter()
    ref, _ = seeded_reference(neglogp, 1, n_ref)
    t_ref = time.perf_counter() - t0
    (t_list_small, e_list), (t_heap_small, e_heap) = _listing(neglogp, n_ref, 1), _heap(neglogp, n_ref, 1)
    assert abs(e_list - ref[-1]) < 1e-9 * ref[-1]
    assert abs(e_heap - ref[-1]) < 1e-9 * ref[-1]

    by_size = {}
    for size in (10_000, 100_000, args.pmax):
        for name, fn in (("listing", _listing), ("heap", _heap)):
            best = min(fn(neglogp, size, seed)[0] for seed in range(3))
            by_size[f"pops_per_s_one_thread_{name}_pmax_{size}"] = round(size / best)

    def run_simulate(at: list[int] | None) -> float:
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            simulate(dist, args.pmax, replicates=args.replicates, seed=0, at=at)
            best = min(best, time.perf_counter() - t0)
        return best

    simulate(dist, 1000, replicates=2, seed=0)  # compile
    t_serial = run_simulate([args.pmax])
    t_serial_default_at = run_simulate(None)
    numba.set_num_threads(threads)
    t_parallel = run_simulate([args.pmax])

    base = rss_kb("VmRSS:")
    reset_peak()
    simulate(dist, 10_000_000, replicates=2, seed=0, at=[10_000_000])
    peak_mb = (rss_kb("VmHWM:") - base) / 1024

    result = {
        "pool": "10,000 rows x k = 64",
        **by_size,
        f"listing_vs_heapq_reference_pmax_{n_ref}": round(t_ref / t_list_small, 1),
        f"heap_vs_heapq_reference_pmax_{n_ref}": round(t_ref / t_heap_small, 1),
        "reference_pops_per_s": round(n_ref / t_ref),
        "replicates": args.replicates,
        "threads": threads,
        f"simulate_pops_per_s_one_thread_pmax_{args.pmax}": round(args.replicates * args.pmax / t_serial),
        f"simulate_pops_per_s_one_thread_pmax_{args.pmax}_default_at": round(
            args.replicates * args.pmax / t_serial_default_at
        ),
        "serial_s": round(t_serial, 2),
        "parallel_s": round(t_parallel, 2),
        "parallel_speedup": round(t_serial / t_parallel, 2),
        f"peak_extra_mb_pmax_1e7_2_replicates_{threads}_threads": round(peak_mb, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"  {k:52s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
