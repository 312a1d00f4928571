"""The grafted tree: node pops per second of the numba search against its heapq twin, in one run.

On the shipped SmolLM2 dump (100 prompts x 8 continuations of 32 tokens, top-32):

* the headline run: 100 prompt roots x 64 draws x P = 128 (after compilation; target < 5 s);
* pops per second of the search alone (tries and rows built), on one thread and on all threads;
* the heapq reference (``tests/reference.py:grafted_reference``) on the same trees, for the ratio;
* ``--positions all``: 25,600 roots x 64 draws x P = 128 (target < 60 s).

Usage::

    python bench/bench_grafted.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numba

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from speedoflight.readers.continuations import grafted_input  # noqa: E402
from speedoflight.simulation.grafted import optimum  # noqa: E402
from tests.reference import _MASK, _mix64, grafted_reference  # noqa: E402

DUMP = os.path.join(ROOT, "data", "smollm2-t1-x8.npz")


def reference_rate(g, roots: int, pmax: int) -> float:
    """Pops per second of the heapq twin on the first ``roots`` prompts' trees (one draw each)."""
    from tests.test_grafted import _known_paths

    t0, pops = time.perf_counter(), 0
    for prompt in range(roots):
        known = _known_paths(DUMP, prompt)
        lo, n = int(g.prompt_pool_lo[prompt, 0]), int(g.prompt_pool_n[prompt, 0])
        pool = g.pool_rows[lo : lo + n].tolist()
        grafted_reference(g.neglogp, g.ids, known, pool, (), _mix64(prompt + 1) & _MASK, pmax)
        pops += pmax
    return pops / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    optimum(DUMP, pmax=8, replicates=1)  # compile
    res: dict[str, float] = {}
    t0 = time.perf_counter()
    r = optimum(DUMP, pmax=128, replicates=64)
    res["headline_s"] = time.perf_counter() - t0
    from speedoflight.simulation.grafted import _run

    g = grafted_input(DUMP)
    threads = numba.get_num_threads()
    for label, n_threads in (("one_thread", 1), ("all_threads", threads)):
        numba.set_num_threads(n_threads)
        t0 = time.perf_counter()
        _, pops = _run(g, g.prompt_root, 128, 1024, 0)  # the search alone: 100 roots x 1024 draws x P = 128
        res[f"kernel_pops_per_s_{label}"] = pops / (time.perf_counter() - t0)
    numba.set_num_threads(threads)
    res["threads"] = threads
    res["reference_pops_per_s"] = reference_rate(g, 20, 128)
    res["one_thread_vs_reference"] = res["kernel_pops_per_s_one_thread"] / res["reference_pops_per_s"]
    t0 = time.perf_counter()
    every = optimum(DUMP, pmax=128, replicates=64, positions="all")
    res["positions_all_s"] = time.perf_counter() - t0
    res["positions_all_roots"] = len(every.root_seq)
    res["headline_pops"] = r.main.pops
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"headline (100 roots x 64 draws x P = 128, {r.main.pops:,} pops): {res['headline_s']:.2f} s (target < 5 s)")
    print(
        f"search pops/s (100 roots x 1024 draws x P = 128): one thread {res['kernel_pops_per_s_one_thread'] / 1e6:.1f}M, "
        f"{threads} threads {res['kernel_pops_per_s_all_threads'] / 1e6:.1f}M (target >= 10M per thread)"
    )
    print(
        f"heapq twin: {res['reference_pops_per_s'] / 1e3:.0f}k pops/s; one thread / twin = "
        f"{res['one_thread_vs_reference']:.0f}x"
    )
    print(f"--positions all ({res['positions_all_roots']:,} roots x 64 draws): {res['positions_all_s']:.1f} s (< 60 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
