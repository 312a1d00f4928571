"""Per-root intervals for the grafted prediction: where one root's exact optimum lies, at a stated rate.

The drop..lump range of :func:`~speedoflight.simulation.grafted.optimum` brackets the mean over roots, not one
root's optimum. For one root (a prompt's end or a position inside a continuation) the interval at tree size P is

    [ max(K, lower - a(P) s),  upper + b(P) s ]

(docs/theory.md section 8.9):

- ``lower``, ``upper``: the grafted means with the top-k tails dropped and lumped (the headline numbers);
- ``s``: the spread (standard deviation) of that root's draws, tails dropped, at least ``FLOOR`` times ``lower``:
  how far the pool's completions of the unknown subtrees move this root's optimum;
- ``K``: the best tree of P nodes that uses only what the root's trie knows (its logged rows and the listed
  children of them, every subtree below an unsampled token left empty). Every node of it is in the real tree with
  its real probability, so the real optimum is at least ``K``;
- ``a(P)``, ``b(P)``: constants fitted once, split-conformal style, on the roots of :data:`FIT_SET` (SmolLM2's
  shipped oracles, prose and code, prompts' ends and interior roots): at each P, the ``(n + 1)(1 + rate) / 2``-th
  smallest of the scores ``(lower - exact) / s`` and ``(exact - upper) / s``, so that about (1 - rate) / 2 of the
  fit roots fall out on each side, then the running maximum over P. They are checked on roots they were not fitted on (Gemma 3's oracles, the markup
  prompts): :func:`coverage`.

:func:`root_spread` computes what the interval needs from a dump, :func:`root_intervals` the interval,
:func:`fit_constants` the constants and :func:`coverage` how often the interval holds the exact optimum.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = [
    "FIT_SET",
    "FLOOR",
    "RATE",
    "TOLERANCE",
    "RootIntervals",
    "RootSpread",
    "calibrate",
    "coverage",
    "fit_constants",
    "matched",
    "root_intervals",
    "root_spread",
]

#: The rate the shipped constants were fitted for: the share of roots whose exact optimum the interval holds.
RATE = 0.9
#: The spread used is at least this share of the root's lower estimate (roots whose best tree is all known have
#: no spread at all; their error is the rounding of the logged log-probabilities and the unlisted tail).
FLOOR = 0.01
#: Relative tolerance of "the interval holds the exact value": the dumps store float32 log-probabilities.
TOLERANCE = 1e-5
#: The roots the shipped constants were fitted on: (dump, oracle, positions, the dump the prefixes came from), in
#: ``data/``. SmolLM2-135M's prose and code prompts: 100 prompts' ends (8 continuations each), 72 interior roots.
FIT_SET: tuple[tuple[str, str, str | tuple[int, ...], str | None], ...] = (
    ("smollm2-t1-x8.npz", "oracle-smollm2-t1.npz", "start", None),
    ("smollm2-t1.npz", "oracle-smollm2-interior.npz", (8, 16, 24), None),
)

# a(P) and b(P) for P = 1..128 (fit_constants(FIT_SET), rounded up to 3 decimals); past P = 128 the last pair.
# fmt: off
_LOW: tuple[float, ...] = (
    0, 0.454, 0.721, 0.914, 1.129, 1.26, 1.339, 1.374, 1.464, 1.464, 1.493, 1.527, 1.696, 1.696, 1.696, 1.696, 1.696,
    1.696, 1.696, 1.696, 1.714, 1.773, 1.822, 1.834, 1.837, 1.843, 1.848, 1.851, 1.854, 1.854, 1.854, 1.854, 1.854,
    1.862, 1.868, 1.872, 1.882, 1.896, 1.92, 1.925, 1.933, 1.942, 1.949, 1.953, 1.958, 1.96, 1.96, 1.969, 1.991,
    1.991, 1.991, 1.992, 2.006, 2.02, 2.032, 2.043, 2.054, 2.065, 2.076, 2.086, 2.096, 2.106, 2.116, 2.125, 2.125,
    2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125,
    2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125,
    2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125,
    2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125, 2.125,
)
_HIGH: tuple[float, ...] = (
    0, 0, 1.47, 1.47, 1.47, 1.47, 1.47, 1.47, 1.47, 1.47, 1.47, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505,
    1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505,
    1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505,
    1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505,
    1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505,
    1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505,
    1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505,
    1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505, 1.505,
)
# fmt: on


@dataclass(frozen=True)
class RootSpread:
    """Per root, what its interval is built from (all ``[roots, pmax]``).

    Attributes
    ----------
    lower, upper : ndarray
        The grafted means over draws, tails dropped and lumped (:func:`~speedoflight.simulation.grafted.optimum`'s
        per-root curves, bit for bit).
    spread : ndarray
        The standard deviation of the root's draws, tails dropped.
    known : ndarray
        The best tree of each size on what the root's trie knows: a floor of the root's real optimum.
    root_prompt, root_seq, root_pos : ndarray
        Per root, as in :class:`~speedoflight.simulation.grafted.OptimumResult`.

    """

    lower: np.ndarray
    upper: np.ndarray
    spread: np.ndarray
    known: np.ndarray
    root_prompt: np.ndarray
    root_seq: np.ndarray
    root_pos: np.ndarray


@dataclass(frozen=True)
class RootIntervals:
    """Per-root intervals ``[low, high]`` (``[roots, pmax]``) at ``rate``, calibrated up to ``calibrated_to``."""

    low: np.ndarray
    high: np.ndarray
    rate: float
    calibrated_to: int

    def to_dict(self) -> dict[str, Any]:
        """Return the intervals as lists, with their rate and what they cover.

        Returns
        -------
        dict
            ``rate``, ``calibrated_to``, ``covers``, ``low`` and ``high`` (per root, P = 1..pmax).

        """
        return {
            "rate": self.rate,
            "calibrated_to": self.calibrated_to,
            "covers": COVERS.format(rate=self.rate),
            "low": self.low.tolist(),
            "high": self.high.tolist(),
        }


#: What a per-root interval states, in one line (the CLI and the JSON repeat it).
COVERS = (
    "each root's own exact optimum E[X*(P)] (the real model's best tree, oracle's number) lies in its interval for "
    "about {rate:.0%} of roots; fitted on SmolLM2's prose and code roots, checked on Gemma 3 and markup "
    "(docs/theory.md section 8.9); not a statement about any one root, about P above the calibration, or about "
    "realised acceptance, which also varies with the sampled tokens"
)


def _known_floor(g: Any, roots: np.ndarray, pmax: int) -> np.ndarray:
    """Return the best tree of 1..pmax nodes on the trie's known rows alone (every pool row an empty one)."""
    from ..kernels.grafted import grafted_roots
    from ..simulation.grafted import _seed_ids

    empty = g.neglogp.shape[0]
    neglogp = np.vstack([g.neglogp, np.full((1, g.neglogp.shape[1]), np.inf)])
    ids = np.vstack([g.ids, np.full((1, g.ids.shape[1]), -1, dtype=g.ids.dtype)])
    lo = np.zeros_like(g.prompt_pool_lo[g.node_prompt[roots]])
    curves = np.zeros((len(roots), pmax))
    grafted_roots(
        neglogp,
        ids,
        g.node_row,
        g.child_ptr,
        g.child_tok,
        g.child_node,
        np.array([empty], dtype=g.pool_rows.dtype),
        g.row_bin,
        g.depth_bin,
        roots,
        lo,
        np.ones_like(lo),
        g.node_depth[roots],
        _seed_ids(0, 1),
        pmax,
        neglogp.shape[1],
        0,
        np.zeros((len(roots), 0)),
        curves,
    )
    return curves


def _spread(g: Any, roots: np.ndarray, pmax: int, replicates: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per root the mean over draws (as ``optimum``'s curves, bit for bit) and the draws' standard deviation."""
    from ..kernels.spread import grafted_roots_spread
    from ..simulation.grafted import _seed_ids

    uniq, inverse = np.unique(roots, return_inverse=True)
    prompt = g.node_prompt[uniq]
    mean = np.zeros((len(uniq), pmax))
    var = np.zeros((len(uniq), pmax))
    grafted_roots_spread(
        g.neglogp,
        g.ids,
        g.node_row,
        g.child_ptr,
        g.child_tok,
        g.child_node,
        g.pool_rows,
        g.row_bin,
        g.depth_bin,
        uniq,
        g.prompt_pool_lo[prompt],
        g.prompt_pool_n[prompt],
        g.node_depth[uniq],
        _seed_ids(seed, replicates),
        mean,
        var,
    )
    sd = np.sqrt(var * (replicates / (replicates - 1)))
    return mean[inverse], sd[inverse]


def root_spread(
    dumps: str | Sequence[str],
    *,
    pmax: int = 128,
    positions: str | Sequence[int] = "start",
    replicates: int = 64,
    seed: int = 0,
    pool: str = "prompt",
    draw: str = "depth",
    inputs: Mapping[str, Any] | None = None,
    upper: np.ndarray | None = None,
) -> RootSpread:
    """Compute per root the grafted means, the draws' spread and the known floor (what an interval is built from).

    Parameters
    ----------
    dumps, pmax, positions, replicates, seed, pool, draw
        As for :func:`~speedoflight.simulation.grafted.optimum` (the same roots, in the same order).
    inputs
        ``{"drop": ..., "lump": ...}`` grafted inputs already built (:func:`~speedoflight.readers.continuations.
        grafted_inputs` with this ``pool`` and ``draw``); None builds them from ``dumps``.
    upper
        The per-root curves with tails lumped, where :func:`~speedoflight.simulation.grafted.optimum` already
        computed them for these roots and settings (``res.upper.curves``); None searches again.

    Returns
    -------
    RootSpread
        Per root and tree size.

    """
    from ..readers.continuations import grafted_inputs
    from ..simulation.grafted import _roots, run_roots

    if pmax < 1:
        raise InputError(f"--pmax must be at least 1, got {pmax}")
    if replicates < 2:
        raise InputError(f"--replicates {replicates}: a spread over draws needs at least 2; give 64")
    if inputs is None or "drop" not in inputs or "lump" not in inputs:
        inputs = grafted_inputs(dumps, tails=("drop", "lump"), pool=pool, draw=draw)
    g = inputs["drop"]
    roots, seqs, poss, _ = _roots(g, positions)
    lower, sd = _spread(g, roots, pmax, replicates, seed)
    if upper is None:
        uniq, inverse = np.unique(roots, return_inverse=True)
        upper = run_roots(inputs["lump"], uniq, pmax, replicates, seed)[0][inverse]
    elif upper.shape != lower.shape:
        raise ValueError(f"upper curves {upper.shape} for {lower.shape} roots x P")
    return RootSpread(
        lower=lower,
        upper=upper,
        spread=sd,
        known=_known_floor(g, roots, pmax),
        root_prompt=g.prompts[g.node_prompt[roots]],
        root_seq=np.where(seqs >= 0, g.seq_ids[np.maximum(seqs, 0)], -1),
        root_pos=poss,
    )


def _scale(s: RootSpread) -> np.ndarray:
    return np.maximum(s.spread, FLOOR * s.lower)


def root_intervals(
    s: RootSpread, constants: tuple[Sequence[float], Sequence[float]] | None = None, rate: float = RATE
) -> RootIntervals:
    """Return each root's interval from its spread and the fitted constants.

    Parameters
    ----------
    s
        What :func:`root_spread` computed.
    constants
        ``(a, b)`` per P = 1, 2, ... (:func:`fit_constants`); None: the shipped ones (rate :data:`RATE`). Past their
        end the last pair is used.
    rate
        The rate the constants were fitted for (stated with the intervals).

    Returns
    -------
    RootIntervals
        ``low``, ``high`` per root and P.

    """
    a, b = (_LOW, _HIGH) if constants is None else constants
    if not len(a) or len(a) != len(b):
        raise ValueError("no per-root interval constants: fit them with fit_constants")
    pmax = s.lower.shape[1]
    idx = np.minimum(np.arange(pmax), len(a) - 1)
    aa, bb = np.asarray(a, dtype=np.float64)[idx], np.asarray(b, dtype=np.float64)[idx]
    scale = _scale(s)
    low = np.maximum(s.known, s.lower - aa * scale)
    high = np.maximum(s.upper + bb * scale, low)
    return RootIntervals(low=low, high=high, rate=rate, calibrated_to=len(a))


def matched(
    dump: str,
    oracle_file: str,
    *,
    positions: str | Sequence[int] = "start",
    prefixes_from: str | None = None,
    replicates: int = 64,
    seed: int = 0,
) -> tuple[RootSpread, np.ndarray, list[str]]:
    """Return the roots of ``dump`` that ``oracle_file`` computed exactly: their spread, exact curves and kinds.

    Roots are matched as in :func:`~speedoflight.analysis.validation.against_oracle` (by prompt index at prompts'
    ends; by continuation and position inside them, ``prefixes_from`` naming the dump the prefixes were cut from).

    Parameters
    ----------
    dump, oracle_file, positions, prefixes_from
        As for :func:`~speedoflight.analysis.validation.against_oracle`.
    replicates, seed
        Draws per root and their seed.

    Returns
    -------
    tuple
        ``(spread, exact [roots, P], kinds)`` with P the oracle's largest tree size.

    """
    from ..formats.oracle import load_oracle
    from .validation import _same_prefixes

    curves, _, kinds, ometa = load_oracle(oracle_file)
    s = root_spread(dump, pmax=curves.shape[1], positions=positions, replicates=replicates, seed=seed)
    if positions == "start":
        index = {int(p): i for i, p in enumerate(ometa.get("prompt_index", []))}
        keys = np.array([index.get(int(p), -1) for p in s.root_prompt], dtype=np.int64)
    else:
        where = {
            (int(q), int(t)): i
            for i, (q, t) in enumerate(zip(ometa.get("sequence", []), ometa.get("position", []), strict=True))
        }
        keys = np.array([where.get((int(q), int(t)), -1) for q, t in zip(s.root_seq, s.root_pos, strict=True)])
        if prefixes_from is not None:
            same = _same_prefixes(dump, prefixes_from, int(max(ometa.get("position", [0]))))
            keys = np.array(
                [k if k >= 0 and same.get(int(q), False) else -1 for k, q in zip(keys, s.root_seq, strict=True)]
            )
    ok = keys >= 0
    if ok.sum() < 2:
        raise InputError(f"{oracle_file} and {dump} share fewer than two roots; give files of one prompt file")
    sub = RootSpread(*(np.asarray(getattr(s, f))[ok] for f in RootSpread.__dataclass_fields__))
    return sub, np.asarray(curves)[keys[ok]], [str(kinds[k]) for k in keys[ok]]


def _scores(s: RootSpread, exact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far each root's exact value lies below ``lower`` and above ``upper``, in units of its scale."""
    n = exact.shape[1]
    scale = _scale(s)[:, :n]
    below = (s.lower[:, :n] - exact * (1 + TOLERANCE)) / scale
    above = (exact * (1 - TOLERANCE) - s.upper[:, :n]) / scale
    return below, above


def _quantile(scores: np.ndarray, level: float) -> float:
    """Return the ceil((n + 1) level)-th smallest score (the split-conformal quantile), at least 0."""
    n = len(scores)
    k = min(n, math.ceil((n + 1) * level))
    return max(0.0, float(np.sort(scores)[k - 1]))


def fit_constants(
    cases: Sequence[tuple[str, str, str | Sequence[int], str | None]] = FIT_SET,
    *,
    rate: float = RATE,
    root: str = "data",
    replicates: int = 64,
    seed: int = 0,
) -> tuple[list[float], list[float]]:
    """Fit ``a(P)``, ``b(P)`` on the roots of ``cases`` so that about ``rate`` of them are covered at each P.

    Parameters
    ----------
    cases
        ``(dump, oracle, positions, prefixes_from)`` under ``root``.
    rate
        The share of roots to cover; (1 - rate) / 2 may fall out on each side.
    root
        The folder of the files.
    replicates, seed
        Draws per root and their seed.

    Returns
    -------
    tuple
        ``(a, b)``, lists over P = 1..(the largest P any oracle has), rounded up to 3 decimals and made
        non-decreasing in P (a larger tree rests more on the pool; and past the interior roots' oracle, P = 64, the
        prompts' ends alone would set them).

    """
    pairs = []
    for dump, oracle_file, positions, prefixes_from in cases:
        s, exact, _ = matched(
            os.path.join(root, dump),
            os.path.join(root, oracle_file),
            positions=positions if isinstance(positions, str) else list(positions),
            prefixes_from=None if prefixes_from is None else os.path.join(root, prefixes_from),
            replicates=replicates,
            seed=seed,
        )
        pairs.append((s, exact))
    return calibrate(pairs, rate=rate)


def calibrate(pairs: Sequence[tuple[RootSpread, np.ndarray]], *, rate: float = RATE) -> tuple[list[float], list[float]]:
    """Fit ``a(P)``, ``b(P)`` on roots whose exact curves are known (the step of :func:`fit_constants`).

    Parameters
    ----------
    pairs
        ``(spread, exact)``: the roots' :class:`RootSpread` and their exact curves ``[roots, P]`` (P may differ
        between pairs; at each P the roots that have it count).
    rate
        The share of roots to cover; (1 - rate) / 2 may fall out on each side.

    Returns
    -------
    tuple
        ``(a, b)`` over P = 1..(the largest P), rounded up to 3 decimals, non-decreasing in P.

    """
    if not 0.0 < rate < 1.0:
        raise InputError(f"the rate must lie in (0, 1), got {rate}")
    scores = [_scores(s, exact) for s, exact in pairs]
    pmax = max(lo.shape[1] for lo, _ in scores)
    side = (1 + rate) / 2
    a: list[float] = []
    b: list[float] = []
    for i in range(pmax):
        lo = np.concatenate([x[:, i] for x, _ in scores if x.shape[1] > i])
        hi = np.concatenate([y[:, i] for _, y in scores if y.shape[1] > i])
        a.append(max([math.ceil(_quantile(lo, side) * 1000) / 1000, *a[-1:]]))
        b.append(max([math.ceil(_quantile(hi, side) * 1000) / 1000, *b[-1:]]))
    return a, b


def coverage(
    dump: str,
    oracle_file: str,
    *,
    ps: Sequence[int] = (8, 32, 64, 128),
    positions: str | Sequence[int] = "start",
    prefixes_from: str | None = None,
    constants: tuple[Sequence[float], Sequence[float]] | None = None,
    replicates: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """How often the per-root interval holds the root's exact optimum, overall and per kind of prompt.

    Parameters
    ----------
    dump, oracle_file, positions, prefixes_from
        As for :func:`matched`.
    ps
        Tree sizes (those above the oracle's largest P are left out).
    constants
        As for :func:`root_intervals` (None: the shipped ones).
    replicates, seed
        Draws per root and their seed.

    Returns
    -------
    dict
        ``P``, ``roots``, ``coverage`` (per P), ``below`` and ``above`` (the shares of roots whose exact optimum lies below the interval, and above it), ``width`` (the
        median of (high - low) / exact), ``range_coverage`` (the drop..lump range's, for comparison), ``by_kind``
        (``{kind: {"roots", "coverage"}}``).

    """
    s, exact, kinds = matched(
        dump, oracle_file, positions=positions, prefixes_from=prefixes_from, replicates=replicates, seed=seed
    )
    iv = root_intervals(s, constants)
    cols = np.array([p - 1 for p in ps if p <= exact.shape[1]], dtype=np.int64)
    y = exact[:, cols]
    low, high = iv.low[:, cols], iv.high[:, cols]
    below = low > y * (1 + TOLERANCE)
    above = high < y * (1 - TOLERANCE)
    inside = ~below & ~above
    in_range = (s.lower[:, cols] <= y * (1 + TOLERANCE)) & (y * (1 - TOLERANCE) <= s.upper[:, cols])
    kind_arr = np.array(kinds)
    return {
        "P": (cols + 1).tolist(),
        "roots": len(kinds),
        "rate": iv.rate,
        "coverage": inside.mean(axis=0).tolist(),
        "below": below.mean(axis=0).tolist(),
        "above": above.mean(axis=0).tolist(),
        "width": np.median((high - low) / y, axis=0).tolist(),
        "range_coverage": in_range.mean(axis=0).tolist(),
        "by_kind": {
            k: {"roots": int((kind_arr == k).sum()), "coverage": inside[kind_arr == k].mean(axis=0).tolist()}
            for k in sorted(set(kinds))
        },
    }
