"""Synthetic paired dumps: several 'views' of one run over the same positions, with exact overlaps recorded."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from speedoflight.readers.dumpfile import write_dump


def brute_alpha(p, q) -> float:
    """sum_i min(p_i, q_i) by a plain loop."""
    return float(sum(min(float(a), float(b)) for a, b in zip(p, q, strict=True)))


def make_views(folder, *, vocab=40, n_seq=6, length=8, k=10, n_layers=12, layers=(3, 8), seed=0, record=True):
    """Write a 'full' dump and one dump per early-exit layer over the same positions.

    Returns (paths in the order layers..., full; full distributions [views, n, vocab]).
    The views are Dirichlet draws mixed towards the full model, deeper layers closer.
    """
    rng = np.random.default_rng(seed)
    n = n_seq * length
    full = rng.dirichlet(np.full(vocab, 0.3), size=n)
    dists = []
    for layer in layers:
        w = layer / n_layers
        noise = rng.dirichlet(np.full(vocab, 0.3), size=n)
        dists.append(w * full + (1 - w) * noise)
    dists.append(full)
    dists = np.array(dists)
    names = [f"early-exit:{layer}" for layer in layers] + ["full"]
    files = [f"run-early-exit-{layer}.npz" for layer in layers] + ["run.npz"]
    seq = np.repeat(np.arange(n_seq), length)
    pos = np.tile(np.arange(length), n_seq)
    nxt = np.array([rng.choice(vocab, p=row) for row in full], dtype=np.int32)
    sha = hashlib.sha256(seq.tobytes() + pos.astype(np.int32).tobytes() + nxt.tobytes()).hexdigest()
    overlap = np.minimum(dists[:, None], dists[None, :]).sum(axis=-1)  # [m, m, n]
    paths = []
    for v, (name, fname) in enumerate(zip(names, files, strict=True)):
        d = dists[v]
        order = np.argsort(-d, axis=1)[:, :k]
        lp = np.log(np.take_along_axis(d, order, axis=1))
        h = -(d * np.log(d)).sum(axis=1)
        m2 = (d * np.log(d) ** 2).sum(axis=1)
        arrays = {
            "topk_ids": order.astype(np.int32),
            "topk_logprobs": lp.astype(np.float32),
            "entropy": h,
            "m2": m2,
            "seq": seq,
            "pos": pos.astype(np.int32),
            "next_token": nxt,
            "next_surprisal": -np.log(d[np.arange(n), nxt]),
        }
        if record:
            arrays["overlap"] = overlap[v].T
        meta = {
            "model": {"name": "toy", "view": name},
            "vocab_size": vocab,
            "temperature": 1.0,
            "seed": seed,
            "top_k": k,
            "prompt_source": "synthetic",
            "versions": {},
            "pair": {"view": name, "views": names, "files": files, "positions_sha256": sha, "n_layers": n_layers},
        }
        path = os.path.join(folder, fname)
        write_dump(path, arrays, meta)
        paths.append(path)
    return paths, dists
