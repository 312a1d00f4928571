"""Estimator throughput on a memory-mapped float16 logits file, read in chunks.

Three passes over the same file, with the same chunking, in the same run:

* ``ours``: :func:`speedoflight.kernels.rowmoments.row_moments` (the fused numba kernel);
* ``numpy``: a straightforward numpy implementation (float64 log-softmax, then sums);
* ``yardstick``: only converts every element to float32 and takes each row's max.

Reported: seconds (median of ``--repeat`` runs, after one warm-up pass that also
fills the page cache and compiles the kernel), GB/s, the ratios numpy/ours
(target >= 5) and ours/yardstick (target <= 1.5), and the peak resident memory
each pass adds (target: bounded by the chunk, not the 1 GB file).

Usage::

    python bench/bench_estimator.py                  # [4096, 128000] float16, 1 GB
    python bench/bench_estimator.py --rows 512       # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as _p
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, _p.dirname(_p.dirname(_p.abspath(__file__))))

from bench._memory import reset_peak, rss_kb
from speedoflight.kernels.rowmoments import row_moments
from speedoflight.readers.arrays import open_npy


def make_file(path: str, rows: int, vocab: int, seed: int = 0) -> None:
    """Write random float16 logits (a realistic spread: normal * 3 plus a few peaks)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(rows, vocab))
    rng = np.random.default_rng(seed)
    for lo in range(0, rows, 256):
        hi = min(rows, lo + 256)
        block = rng.standard_normal((hi - lo, vocab), dtype=np.float32) * 3
        block[np.arange(hi - lo), rng.integers(0, vocab, hi - lo)] += 15
        out[lo:hi] = block.astype(np.float16)
    out.flush()
    del out


def ours(values: np.ndarray) -> np.ndarray:
    return row_moments(values, "logits")


def numpy_reference(values: np.ndarray) -> np.ndarray:
    x = values.astype(np.float64)
    x -= x.max(axis=1, keepdims=True)
    x -= np.log(np.exp(x).sum(axis=1, keepdims=True))
    p = np.exp(x)
    h = -(p * x).sum(axis=1)
    m2 = (p * x * x).sum(axis=1)
    return np.stack([h, m2], axis=1)


def yardstick(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32).max(axis=1)


def one_pass(path: str, fn, chunk_bytes: int) -> tuple[float, float, list[np.ndarray]]:
    rows, _ = open_npy(path)
    reset_peak()
    base = rss_kb("VmRSS:")
    t0 = time.perf_counter()
    outs = [fn(chunk.values) for chunk in rows.chunks(chunk_bytes)]
    dt = time.perf_counter() - t0
    extra_mb = (rss_kb("VmHWM:") - base) / 1024
    return dt, extra_mb, outs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--vocab", type=int, default=128000)
    ap.add_argument("--chunk-mb", type=float, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--file", help="reuse/keep this .npy file instead of a temporary one")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    tmpdir = None
    path = args.file
    if path is None:
        tmpdir = tempfile.TemporaryDirectory()
        path = os.path.join(tmpdir.name, "logits.npy")
    if not os.path.exists(path):
        print(f"writing {args.rows} x {args.vocab} float16 to {path} ...", file=sys.stderr)
        make_file(path, args.rows, args.vocab)
    size_gb = os.path.getsize(path) / 1e9
    chunk = int(args.chunk_mb * 2**20)
    impls = {"ours": ours, "numpy": numpy_reference, "yardstick": yardstick}

    # warm-up: page cache, jit compile; also check that ours agrees with numpy
    _, _, o = one_pass(path, ours, chunk)
    _, _, r = one_pass(path, numpy_reference, chunk)
    got = np.concatenate(o)[:, [0, 2]]
    ref = np.concatenate(r)
    max_err = float(np.max(np.abs(got - ref)))
    one_pass(path, yardstick, chunk)

    times: dict[str, list[float]] = {k: [] for k in impls}
    mem: dict[str, float] = {k: 0.0 for k in impls}
    for _ in range(args.repeat):
        for name, fn in impls.items():
            dt, extra, _ = one_pass(path, fn, chunk)
            times[name].append(dt)
            mem[name] = max(mem[name], extra)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "file_gb": round(size_gb, 3),
        "rows": args.rows,
        "vocab": args.vocab,
        "chunk_mb": args.chunk_mb,
        "threads": int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1)),
        "seconds": {k: round(v, 3) for k, v in med.items()},
        "gb_per_s": {k: round(size_gb / v, 3) for k, v in med.items()},
        "numpy_over_ours": round(med["numpy"] / med["ours"], 2),
        "ours_over_yardstick": round(med["ours"] / med["yardstick"], 2),
        "peak_extra_rss_mb": {k: round(v, 1) for k, v in mem.items()},
        "max_abs_diff_vs_numpy": max_err,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"file {size_gb:.2f} GB, {args.rows} x {args.vocab} float16, chunks of {args.chunk_mb:g} MB")
        for k in impls:
            print(f"  {k:10s} {med[k]:7.3f} s  {size_gb / med[k]:6.2f} GB/s  peak extra RSS {mem[k]:7.1f} MB")
        print(f"  numpy / ours      = {result['numpy_over_ours']:.2f}   (target >= 5)")
        print(f"  ours / yardstick  = {result['ours_over_yardstick']:.2f}   (target <= 1.5)")
        print(f"  max |ours - numpy| = {max_err:.2e} nats")
    if tmpdir is not None:
        tmpdir.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
