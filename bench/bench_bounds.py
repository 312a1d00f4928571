"""Bounds throughput: the exact i.i.d. curve to P = 1e12 and the trajectory bound on 1e6 tokens.

Each is timed against a baseline measured in the same run:

* exact curve: the tilted-FFT renewal measure against the direct O(M^2)
  recursion ``U = F + F * U`` (numpy-vectorised inner sums) on the same grid;
* trajectory bound: the numba infimum over breakpoints (with early exit)
  against a plain numpy evaluation of ``G(t) + P e^{-t}`` at every breakpoint.

Usage::

    python bench/bench_bounds.py            # pool of 2000 rows x 5000 tokens; 1e6 tokens
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from speedoflight.kernels import moments as K
from speedoflight.theory.iid import _renewal, atom_pool_from_rows, iid_curve
from speedoflight.theory.trajectory import trajectory_bound


def direct_renewal(f: np.ndarray) -> np.ndarray:
    u = np.zeros_like(f)
    for k in range(len(f)):
        u[k] = (f[k] + np.dot(f[1 : k + 1], u[k - 1 :: -1][:k])) / (1.0 - f[0])
    return u


def timed(fn, *args, repeat=3):
    fn(*args)
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--vocab", type=int, default=5000)
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(args.vocab, 0.05), size=args.rows)
    with np.errstate(divide="ignore"):
        lp = np.log(probs)

    t0 = time.perf_counter()
    pool = atom_pool_from_rows(lp, h=0.004, t_max=40.0)
    t_pool = time.perf_counter() - t0
    p = np.geomspace(1, 1e12, 49)
    t_curve, curve = timed(iid_curve, pool, p)
    # baseline on a grid small enough for O(M^2): the first 8,000 bins (16 nats) of the gain measure
    f = pool.weights_fine[:8000]
    t_fft_small, u_fft = timed(_renewal, f, pool.h / 2, 0.25)
    t_direct_small, u_dir = timed(direct_renewal, f, repeat=1)
    err = float(np.max(np.abs(u_fft - u_dir)))

    lengths = 64
    n_seq = args.tokens // lengths
    seqs = [rng.exponential(2.5, lengths) for _ in range(n_seq)]
    pp = np.geomspace(1, 1e6, 25)
    t_traj, _ = timed(trajectory_bound, seqs, None, pp, repeat=1)
    values = np.sort(np.concatenate([np.cumsum(s) for s in seqs]))
    w = np.full(len(values), 1.0 / n_seq)
    gb = np.concatenate([[0.0], np.cumsum(w)])
    t_cap = float(min(np.sum(s) for s in seqs))
    t_kernel, fast = timed(K.threshold_infimum, values, gb, pp, t_cap)

    def numpy_plugin():
        keep = values <= t_cap
        cand = gb[:-1][keep][None, :] + pp[:, None] * np.exp(-values[keep])[None, :]
        return np.minimum(cand.min(axis=1), gb[keep.sum()] + pp * np.exp(-t_cap))

    t_np, slow = timed(numpy_plugin, repeat=1)
    result = {
        "pool_rows": args.rows,
        "pool_vocab": args.vocab,
        "pool_build_s": round(t_pool, 3),
        "iid_curve_to_1e12_s": round(t_curve, 4),
        "iid_grid_points": len(pool.weights_fine),
        "iid_max_grid_error": float(curve.grid_error.max()),
        "renewal_8000_bins": {
            "fft_s": t_fft_small,
            "direct_s": round(t_direct_small, 4),
            "direct_over_fft": round(t_direct_small / t_fft_small, 1),
            "max_abs_diff": err,
        },
        "trajectory_tokens": n_seq * lengths,
        "trajectory_bound_with_500_bootstraps_s": round(t_traj, 3),
        "plug_in": {
            "numba_s": t_kernel,
            "numpy_s": round(t_np, 4),
            "numpy_over_numba": round(t_np / t_kernel, 1),
            "max_abs_diff": float(np.max(np.abs(fast - slow))),
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"exact i.i.d. curve: pool {args.rows} x {args.vocab} built in {t_pool:.2f} s; "
            f"49 P values up to 1e12 in {t_curve:.3f} s on {len(pool.weights_fine)} grid points "
            f"(largest grid error {curve.grid_error.max():.1e})"
        )
        print(
            f"  renewal on 8,000 bins: FFT {t_fft_small * 1e3:.2f} ms, direct O(M^2) {t_direct_small * 1e3:.1f} ms "
            f"-> {t_direct_small / t_fft_small:.0f}x (max |diff| {err:.1e})"
        )
        print(f"trajectory bound on {n_seq * lengths:,} tokens, 25 P values, 500 bootstrap replicates: {t_traj:.2f} s")
        print(
            f"  plug-in: numba {t_kernel * 1e3:.2f} ms, numpy {t_np * 1e3:.1f} ms -> {t_np / t_kernel:.0f}x "
            f"(max |diff| {np.max(np.abs(fast - slow)):.1e})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
