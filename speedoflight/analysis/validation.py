"""How good is the grafted prediction? Held against the exact oracle on the same prompts, by what it rests on.

:func:`against_oracle` runs ``optimum`` on a dump and compares it with an oracle file prompt by prompt (matched
by the prompt file's index): the ratio of the means per P, the per-prompt correlation, and the share of prompts
whose dropped..lumped range covers their optimum. :func:`ratio_interval` bootstraps the ratio over roots and
:func:`ratio_trend` fits it against log2 P (for oracles on few prompts at large P). :func:`thinned` writes a copy of a dump with fewer
continuations per prompt or a smaller top-k, to measure what the prediction needs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..options import RunOptions

__all__ = ["against_oracle", "ratio_interval", "ratio_trend", "thinned"]


def thinned(
    dump: str, out: str, *, continuations: int | None = None, top_k: int | None = None, length: int | None = None
) -> str:
    """Write a copy of a dump with the first ``continuations`` of each prompt, ``length`` tokens, ``top_k`` entries.

    Parameters
    ----------
    dump
        A speedoflight dump with ``prompt`` (several continuations per prompt).
    out
        Where to write the copy (``.npz``).
    continuations
        Keep this many continuations per prompt (the first ones), or all.
    top_k
        Keep this many entries per row (rows are sorted), or all.
    length
        Keep the first this many positions of each continuation, or all.

    Returns
    -------
    str
        ``out``.

    """
    from ..readers.dumpfile import write_dump

    with np.load(dump, allow_pickle=False) as z:
        arrays = {k: np.asarray(z[k]) for k in z.files if k != "metadata"}
        meta = json.loads(str(z["metadata"]))
    keep = np.ones(len(arrays["seq"]), dtype=bool)
    if continuations is not None:
        if "prompt" not in arrays:
            raise InputError(f"{dump}: the dump has one continuation per prompt; nothing to thin")
        seq, prompt = arrays["seq"], arrays["prompt"]
        rank = np.zeros(len(seq), dtype=np.int64)
        for p in np.unique(prompt):
            rows = prompt == p
            _, inv = np.unique(seq[rows], return_inverse=True)  # continuations of p in order
            rank[rows] = inv
        keep = rank < continuations
    if length is not None:
        keep &= arrays["pos"] < length
    arrays = {k: v[keep] for k, v in arrays.items()}
    if top_k is not None:
        arrays["topk_ids"] = arrays["topk_ids"][:, :top_k]
        arrays["topk_logprobs"] = arrays["topk_logprobs"][:, :top_k]
        meta["top_k"] = top_k
    meta.pop("format", None)
    meta.pop("version", None)
    write_dump(out, arrays, meta)
    return out


def _same_prefixes(dump: str, other: str, upto: int) -> dict[int, bool]:
    """Per continuation of ``dump``: whether its first ``upto`` tokens are those of the same continuation in ``other``."""
    from ..readers.dumpfile import read_dump_arrays

    a = read_dump_arrays(dump, ("seq", "pos", "next_token"))
    b = read_dump_arrays(other, ("seq", "pos", "next_token"))

    def paths(d: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
        order = np.lexsort((d["pos"], d["seq"]))
        seq, tok, pos = d["seq"][order], d["next_token"][order], d["pos"][order]
        return {int(q): tok[(seq == q) & (pos < upto)] for q in np.unique(seq)}

    pa, pb = paths(a), paths(b)
    return {q: q in pb and np.array_equal(t, pb[q]) for q, t in pa.items()}


def _load_oracle(
    oracle_file: str, dump: str, positions: str | Sequence[int], prefixes_from: str | None
) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """Return an oracle's curves, kinds and metadata, refusing one computed on another dump's continuations."""
    from ..formats.oracle import load_oracle

    curves, _, kinds, ometa = load_oracle(oracle_file)
    made_from = ometa.get("dump")
    source = prefixes_from or dump
    if positions != "start" and made_from and os.path.basename(str(made_from)) != os.path.basename(source):
        raise InputError(
            f"{oracle_file} holds prefixes of {made_from}'s continuations, not of {os.path.basename(dump)}'s; give "
            "that dump"
        )
    return curves, kinds, ometa


def against_oracle(
    dump: str,
    oracle_file: str,
    *,
    ps: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128),
    replicates: int = 64,
    seed: int = 0,
    positions: str | Sequence[int] = "start",
    draw: str = "depth",
    prefixes_from: str | None = None,
    pool: str = "prompt",
) -> dict[str, Any]:
    """Compare the grafted prediction from ``dump`` with the exact oracle, prompt by prompt.

    Parameters
    ----------
    dump
        The dump the prediction rests on.
    oracle_file
        An oracle file (``speedoflight oracle --out``) on prompts of the same prompt file; with a ``positions``
        list, an oracle made with ``--dump`` on the same dump and positions (prefixes matched by sequence and
        position).
    ps
        Tree sizes to report (at most the oracle's largest P).
    replicates, seed
        Draws of the unknown rows per root, and their seed.
    positions
        ``"start"`` (the prompts' ends) or the positions the oracle was run at.
    draw
        How unknown nodes draw pool rows (:func:`~speedoflight.simulation.grafted.optimum`).
    prefixes_from
        With a ``positions`` list: the dump the oracle's prefixes were cut from, where ``dump`` is another one whose
        continuations repeat them (``dump --branch-at`` rerun with the same seed adds branches to the same text).
        Each root's prefix is checked token by token against it, and roots whose prefix differs are left out
        (``left_out``); without it the oracle must name ``dump`` itself.
    pool
        Where unknown nodes draw their rows: ``"prompt"`` (the root's prompt's own rows) or ``"all"``.

    Returns
    -------
    dict
        ``P``, ``oracle`` (mean), ``lower``, ``upper`` (the grafted means, tails dropped and lumped), ``ratio``
        (lower / oracle), ``correlation`` (per root, at each P), ``coverage`` (share of roots whose range covers
        the oracle), ``roots``, ``by_kind`` (the same ratio per kind of prompt, at prompts' ends), ``by_kind_upper``
        (upper / oracle per kind), and ``per_root`` (``oracle``, ``lower``: ``[roots][len(P)]`` lists; ``kind``: per
        root), the matched roots in the dump's order.

    """
    from ..simulation.grafted import optimum

    curves, kinds, ometa = _load_oracle(oracle_file, dump, positions, prefixes_from)
    left_out = 0  # roots of the oracle whose prefix the dump does not repeat (``prefixes_from``)
    ps_arr = np.array([p for p in ps if p <= curves.shape[1]], dtype=np.int64)
    pmax = int(ps_arr[-1])
    res = optimum(
        dump,
        pmax=pmax,
        replicates=replicates,
        tail="both",
        positions=positions,
        draw=draw,
        pool=pool,
        run=RunOptions(seed=seed),
    )
    assert res.lower is not None
    assert res.upper is not None
    if positions == "start":
        index = [int(i) for i in ometa.get("prompt_index", [])]
        keys = [index.index(int(p)) if int(p) in index else -1 for p in res.root_prompt.tolist()]
    else:
        seqs = [int(s) for s in ometa.get("sequence", [])]
        poss = [int(s) for s in ometa.get("position", [])]
        where = {(s, q): i for i, (s, q) in enumerate(zip(seqs, poss, strict=True))}
        keys = [where.get((int(s), int(q)), -1) for s, q in zip(res.root_seq, res.root_pos, strict=True)]
        if prefixes_from is not None:
            same = _same_prefixes(dump, prefixes_from, max(poss) if poss else 0)
            left_out = sum(1 for k, s in zip(keys, res.root_seq, strict=True) if k >= 0 and not same.get(int(s)))
            keys = [k if k >= 0 and same.get(int(s), False) else -1 for k, s in zip(keys, res.root_seq, strict=True)]
    pairs = [(j, k) for j, k in enumerate(keys) if k >= 0]
    if len(pairs) < 2:
        raise InputError(f"{oracle_file} and {dump} share fewer than two prompts; give files of one prompt file")
    j_idx = [j for j, _ in pairs]
    k_idx = [k for _, k in pairs]
    exact = curves[k_idx][:, ps_arr - 1]
    lo = res.lower.curves[j_idx][:, ps_arr - 1]
    hi = res.upper.curves[j_idx][:, ps_arr - 1]
    corr = [
        float(np.corrcoef(lo[:, i], exact[:, i])[0, 1]) if exact[:, i].std() > 0 else float("nan")
        for i in range(len(ps_arr))
    ]
    by_kind, by_kind_upper = {}, {}
    for kind in sorted(set(kinds)):
        sel = [n for n, k in enumerate(k_idx) if kinds[k] == kind]
        if sel:
            by_kind[kind] = (lo[sel].mean(axis=0) / exact[sel].mean(axis=0)).tolist()
            by_kind_upper[kind] = (hi[sel].mean(axis=0) / exact[sel].mean(axis=0)).tolist()
    return {
        "P": ps_arr.tolist(),
        "dump": os.path.basename(dump),
        "oracle": exact.mean(axis=0).tolist(),
        "lower": lo.mean(axis=0).tolist(),
        "upper": hi.mean(axis=0).tolist(),
        "ratio": (lo.mean(axis=0) / exact.mean(axis=0)).tolist(),
        "correlation": corr,
        "coverage": ((lo <= exact * (1 + 1e-6)) & (exact <= hi * (1 + 1e-6))).mean(axis=0).tolist(),
        "roots": len(pairs),
        "left_out": left_out,
        "continuations_per_prompt": res.continuations_per_prompt,
        "by_kind": by_kind,
        "per_root": {"oracle": exact.tolist(), "lower": lo.tolist(), "kind": [kinds[k] for k in k_idx]},
        "by_kind_upper": by_kind_upper,
    }


def ratio_interval(
    lower: Any, exact: Any, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap over roots of the ratio of means, sum(lower) / sum(exact), at each P.

    Parameters
    ----------
    lower, exact
        ``[roots, len(P)]`` predicted and exact per-root values (``against_oracle``'s ``per_root``).
    confidence
        Level of the interval.
    n_boot, seed
        Resamples and their seed.

    Returns
    -------
    low, high : numpy.ndarray
        ``[len(P)]`` bounds of the interval.

    """
    lo = np.asarray(lower, dtype=np.float64)
    ex = np.asarray(exact, dtype=np.float64)
    if lo.ndim != 2 or lo.shape != ex.shape or lo.shape[0] < 2:
        raise InputError("ratio_interval needs two [roots, P] arrays of one shape with at least two roots")
    idx = np.random.default_rng(seed).integers(0, lo.shape[0], size=(n_boot, lo.shape[0]))
    ratios = lo[idx].sum(axis=1) / ex[idx].sum(axis=1)
    tail = (1 - confidence) / 2 * 100
    return np.percentile(ratios, tail, axis=0), np.percentile(ratios, 100 - tail, axis=0)


def ratio_trend(ps: Sequence[int], ratios: Sequence[float]) -> tuple[float, float]:
    """Least-squares line ratio = a + b log2 P: (a, b), b the change of the ratio per doubling of P.

    Parameters
    ----------
    ps, ratios
        Tree sizes (at least two distinct) and the ratio at each.

    Returns
    -------
    tuple of float
        The intercept at P = 1 and the slope per doubling.

    """
    x = np.log2(np.asarray(ps, dtype=np.float64))
    y = np.asarray(ratios, dtype=np.float64)
    if x.shape != y.shape or np.unique(x).size < 2:
        raise InputError("ratio_trend needs one ratio per P at two or more distinct P")
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)
