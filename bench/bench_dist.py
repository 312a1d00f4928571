"""`estimate` and `bound --from` on Dask against the single process, in the same run: throughput, overhead, bytes.

The shipped SmolLM2 dump (8 continuations of 100 prompts, 25,600 rows, top-32) is split by sequence into
``--shards`` shards. Timed, each after a warm-up run (numba kernels compiled, the cluster's workers importing the
package): the single process over the shards (the baseline), and ``estimate(..., client=)`` on a LocalCluster of
``--workers`` worker processes. On the 2-core development machine the cluster can only show its overhead, not
speed: two processes share the two cores the single process already uses. The per-task overhead is measured
apart, with tasks that do nothing, so the scaling to N machines can be estimated on paper:
``t(N) ~ t_single / N + shards * overhead / N + join``. What a task sends back (its parts, pickled as dask
sends them) is weighed against the shard it read.

Usage::

    python bench/bench_dist.py [--shards 8] [--workers 2] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import sys
import tempfile
import time

import numpy as np

from speedoflight.options import RunOptions

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)


def make_shards(folder: str, n: int) -> list[str]:
    """Split the shipped x8 dump by sequence into ``n`` shards."""
    with np.load(os.path.join(ROOT, "data", "smollm2-t1-x8.npz")) as z:
        arrays = {k: z[k] for k in z.files}
    seqs = np.unique(arrays["seq"])
    paths = []
    for i, part in enumerate(np.array_split(seqs, n)):
        rows = np.isin(arrays["seq"], part)
        path = os.path.join(folder, f"shard-{i:02d}.npz")
        np.savez(path, **{k: (v[rows] if k != "metadata" else v) for k, v in arrays.items()})
        paths.append(path)
    return paths


def nothing(i: int) -> int:
    """A task that does nothing: what a task costs beyond its work."""
    return i


def timed(fn, repeat: int) -> float:
    """Median wall seconds of ``repeat`` calls after one warm-up call."""
    fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import distributed

    from speedoflight._util.dist import run_tasks
    from speedoflight.readers.scan import shard_parts
    from speedoflight.theory.curve import bound_curve
    from speedoflight.theory.estimator import MomentsScan, estimate
    from speedoflight.theory.iid import AtomScan
    from speedoflight.theory.trajectory import TrajectoryScan

    p = [1, 4, 16, 64, 256, 1024]

    with tempfile.TemporaryDirectory() as tmp:
        shards = make_shards(tmp, args.shards)
        rows = sum(int(np.load(p)["seq"].shape[0]) for p in shards)
        single = timed(lambda: estimate(shards, n_boot=200, run=RunOptions(seed=0)), args.repeat)
        single_bound = timed(lambda: bound_curve(p, sources=shards, n_boot=200), args.repeat)
        shard_bytes = os.path.getsize(shards[0])
        sent = {  # our own parts, pickled as dask pickles them (nothing untrusted is unpickled)
            "estimate": len(pickle.dumps(shard_parts(shards[0], {}, [MomentsScan([])], 1.0, 1 << 24))),
            "bound": len(
                pickle.dumps(
                    shard_parts(shards[0], {}, [MomentsScan([]), AtomScan(tail="drop"), TrajectoryScan()], 1.0, 1 << 24)
                )
            ),
        }
        cluster = distributed.LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        with distributed.Client(cluster) as client:
            same = (
                estimate(shards, n_boot=200, run=RunOptions(seed=0, client=client)).to_dict()
                == estimate(shards, n_boot=200, run=RunOptions(seed=0)).to_dict()
            )
            dist = timed(lambda: estimate(shards, n_boot=200, run=RunOptions(seed=0, client=client)), args.repeat)
            same_bound = (
                bound_curve(p, sources=shards, n_boot=200, run=RunOptions(client=client)).to_dict()
                == bound_curve(p, sources=shards, n_boot=200).to_dict()
            )
            dist_bound = timed(
                lambda: bound_curve(p, sources=shards, n_boot=200, run=RunOptions(client=client)), args.repeat
            )
            empty = timed(lambda: run_tasks(client, nothing, [(i,) for i in range(200)]), args.repeat) / 200
        cluster.close()
    out = {
        "shards": args.shards,
        "workers": args.workers,
        "rows": rows,
        "cores": os.cpu_count(),
        "single_s": single,
        "cluster_s": dist,
        "single_rows_per_s": rows / single,
        "cluster_rows_per_s": rows / dist,
        "cluster_over_single": dist / single,
        "per_task_overhead_s": empty,
        "identical_result": same,
        "bound_single_s": single_bound,
        "bound_cluster_s": dist_bound,
        "bound_identical_result": same_bound,
        "shard_bytes": shard_bytes,
        "sent_bytes_per_shard": sent,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(
            f"{args.shards} shards, {rows} rows, {os.cpu_count()} cores: single process {single:.2f} s "
            f"({rows / single:,.0f} rows/s); LocalCluster of {args.workers} processes {dist:.2f} s "
            f"({rows / dist:,.0f} rows/s, {dist / single:.2f}x the single process's time); per-task overhead "
            f"{1e3 * empty:.1f} ms; identical result: {same}"
        )
        print(
            f"bound --from: single process {single_bound:.2f} s, LocalCluster {dist_bound:.2f} s "
            f"({dist_bound / single_bound:.2f}x); identical result: {same_bound}"
        )
        print(
            f"sent back per shard of {shard_bytes / 1e3:,.0f} kB (uncompressed): estimate "
            f"{sent['estimate'] / 1e3:,.1f} kB, bound {sent['bound'] / 1e3:,.1f} kB (the i.i.d. histograms, at "
            "most 480 kB whatever the shard's size, and one float per generated token)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
