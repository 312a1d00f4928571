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
  shipped oracles, prose and code, prompts' ends and interior roots), apart for the roots whose trie rests on one
  continuation and those on several (:data:`GROUPS`; a lone path leaves far more of the tree to the pool): at each
  P, the ``(n + 1)(1 + rate) / 2``-th smallest of the group's scores ``(lower - exact) / s`` and
  ``(exact - upper) / s``, so that about (1 - rate) / 2 of its fit roots fall out on each side, then the running
  maximum over P. They are checked on roots they were not fitted on (Gemma 3's oracles, the markup prompts):
  :func:`coverage`.

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
    "GROUPS",
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

#: The groups of roots that get constants of their own: a trie on one continuation, or on several.
GROUPS = ("one", "several")

# a(P) and b(P) per group for P = 1..(the fit's largest P) (fit_constants(FIT_SET), rounded up to 3 decimals); past
# the end, the last pair.
# fmt: off
_LOW: dict[str, tuple[float, ...]] = {
    "one": (
        0, 0.741, 1.214, 1.335, 1.554, 1.83, 1.958, 2.009, 2.009, 2.131, 2.438, 2.455, 2.455, 2.455, 2.455, 2.455,
        2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455,
        2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.455, 2.47, 2.494, 2.515,
        2.536, 2.557, 2.577, 2.597, 2.615, 2.633, 2.651, 2.669, 2.687, 2.705, 2.722, 2.74, 2.758, 2.774, 2.79, 2.804,
        2.817,
    ),
    "several": (
        0, 0, 0.479, 0.666, 0.745, 0.747, 0.842, 0.979, 0.989, 0.989, 1.1, 1.144, 1.196, 1.236, 1.251, 1.274, 1.303,
        1.304, 1.333, 1.362, 1.399, 1.404, 1.45, 1.481, 1.482, 1.482, 1.482, 1.482, 1.482, 1.482, 1.5, 1.521, 1.545,
        1.568, 1.59, 1.611, 1.63, 1.646, 1.654, 1.659, 1.662, 1.664, 1.699, 1.705, 1.707, 1.709, 1.709, 1.709, 1.709,
        1.709, 1.709, 1.709, 1.719, 1.732, 1.743, 1.755, 1.768, 1.78, 1.79, 1.799, 1.81, 1.821, 1.829, 1.836, 1.842,
        1.848, 1.854, 1.859, 1.864, 1.87, 1.877, 1.885, 1.891, 1.897, 1.897, 1.897, 1.897, 1.898, 1.901, 1.903, 1.905,
        1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906,
        1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906,
        1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906, 1.906,
        1.906, 1.906,
    ),
}
_HIGH: dict[str, tuple[float, ...]] = {
    "one": (
        0, 1.933, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88,
        2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88,
        2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88,
        2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88, 2.88,
    ),
    "several": (
        0, 0, 0, 0, 1.101, 1.101, 1.105, 1.105, 1.105, 1.105, 1.105, 1.105, 1.198, 1.213, 1.213, 1.213, 1.296, 1.296,
        1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296,
        1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296,
        1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296,
        1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296,
        1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296,
        1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296,
        1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296, 1.296,
        1.296, 1.296, 1.296, 1.296, 1.296,
    ),
}
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
    root_paths : ndarray
        Per root, the continuations its trie rests on (``root_continuations``): 1 puts it in group ``"one"``.

    """

    lower: np.ndarray
    upper: np.ndarray
    spread: np.ndarray
    known: np.ndarray
    root_prompt: np.ndarray
    root_seq: np.ndarray
    root_pos: np.ndarray
    root_paths: np.ndarray

    @property
    def group(self) -> np.ndarray:
        """Per root, its group of :data:`GROUPS`: ``"one"`` (its trie is one continuation) or ``"several"``."""
        return np.where(self.root_paths <= 1, GROUPS[0], GROUPS[1])


@dataclass(frozen=True)
class RootIntervals:
    """Per-root intervals ``[low, high]`` (``[roots, pmax]``) at ``rate``.

    ``calibrated_to``: per group, the largest P its constants were fitted at (larger P use that P's).
    """

    low: np.ndarray
    high: np.ndarray
    rate: float
    calibrated_to: dict[str, int]

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
    "{rate:.0%} or more of the SmolLM2 roots it was fitted on, and for 82-97% of held-out roots (Gemma 3; markup) "
    "by model and kind (docs/theory.md section 8.9); a share of roots, not a probability for any one root, not "
    "checked above the P it was fitted at, and not about realised acceptance, which also varies with the sampled "
    "tokens"
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
        root_paths=g.node_conts[roots].astype(np.int64),
    )


def _scale(s: RootSpread) -> np.ndarray:
    return np.maximum(s.spread, FLOOR * s.lower)


#: Fitted constants: per group, ``(a, b)`` over P = 1, 2, ...
Constants = Mapping[str, tuple[Sequence[float], Sequence[float]]]


def root_intervals(s: RootSpread, constants: Constants | None = None, rate: float = RATE) -> RootIntervals:
    """Return each root's interval from its spread and the fitted constants.

    Parameters
    ----------
    s
        What :func:`root_spread` computed.
    constants
        Per group, ``(a, b)`` over P = 1, 2, ... (:func:`fit_constants`); None: the shipped ones (rate
        :data:`RATE`). Past their end the last pair is used.
    rate
        The rate the constants were fitted for (stated with the intervals).

    Returns
    -------
    RootIntervals
        ``low``, ``high`` per root and P.

    """
    if constants is None:
        constants = {k: (_LOW[k], _HIGH[k]) for k in GROUPS}
    pmax = s.lower.shape[1]
    aa = np.zeros(s.lower.shape)
    bb = np.zeros(s.lower.shape)
    group = s.group
    for k in sorted(set(group.tolist())):
        if k not in constants or not len(constants[k][0]) or len(constants[k][0]) != len(constants[k][1]):
            raise ValueError(f"no per-root interval constants for group {k!r}: fit them with fit_constants")
        a, b = constants[k]
        idx = np.minimum(np.arange(pmax), len(a) - 1)
        aa[group == k] = np.asarray(a, dtype=np.float64)[idx]
        bb[group == k] = np.asarray(b, dtype=np.float64)[idx]
    scale = _scale(s)
    low = np.maximum(s.known, s.lower - aa * scale)
    high = np.maximum(s.upper + bb * scale, low)
    return RootIntervals(
        low=low, high=high, rate=rate, calibrated_to={k: len(v[0]) for k, v in sorted(constants.items())}
    )


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
    made_from = ometa.get("dump")
    source = prefixes_from or dump
    if positions != "start" and made_from and os.path.basename(str(made_from)) != os.path.basename(source):
        raise InputError(
            f"{oracle_file} holds prefixes of {made_from}'s continuations, not of {os.path.basename(dump)}'s; give "
            "that dump"
        )
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
) -> dict[str, tuple[list[float], list[float]]]:
    """Fit ``a(P)``, ``b(P)`` per group on the roots of ``cases``, so that about ``rate`` of them are covered.

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
    dict
        Per group, ``(a, b)``: lists over P = 1..(the largest P of its roots' oracles), rounded up to 3 decimals
        and made non-decreasing in P (a larger tree rests more on the pool).

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


def calibrate(
    pairs: Sequence[tuple[RootSpread, np.ndarray]], *, rate: float = RATE
) -> dict[str, tuple[list[float], list[float]]]:
    """Fit ``a(P)``, ``b(P)`` per group on roots whose exact curves are known (the step of :func:`fit_constants`).

    Parameters
    ----------
    pairs
        ``(spread, exact)``: the roots' :class:`RootSpread` and their exact curves ``[roots, P]`` (P may differ
        between pairs; at each P the roots that have it count).
    rate
        The share of roots to cover; (1 - rate) / 2 may fall out on each side.

    Returns
    -------
    dict
        Per group that has roots, ``(a, b)`` over P = 1..(the largest P its roots have), rounded up to 3 decimals,
        non-decreasing in P.

    """
    if not 0.0 < rate < 1.0:
        raise InputError(f"the rate must lie in (0, 1), got {rate}")
    side = (1 + rate) / 2
    out: dict[str, tuple[list[float], list[float]]] = {}
    for k in GROUPS:
        scores = []
        for s, exact in pairs:
            mine = s.group == k
            if mine.any():
                below, above = _scores(s, exact)
                scores.append((below[mine], above[mine]))
        if not scores:
            continue
        a: list[float] = []
        b: list[float] = []
        for i in range(max(lo.shape[1] for lo, _ in scores)):
            lo = np.concatenate([x[:, i] for x, _ in scores if x.shape[1] > i])
            hi = np.concatenate([y[:, i] for _, y in scores if y.shape[1] > i])
            a.append(max([math.ceil(_quantile(lo, side) * 1000) / 1000, *a[-1:]]))
            b.append(max([math.ceil(_quantile(hi, side) * 1000) / 1000, *b[-1:]]))
        out[k] = (a, b)
    return out


def coverage(
    dump: str,
    oracle_file: str,
    *,
    ps: Sequence[int] = (8, 32, 64, 128),
    positions: str | Sequence[int] = "start",
    prefixes_from: str | None = None,
    constants: Constants | None = None,
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
        median of (high - low) / exact), ``range_coverage`` (the drop..lump range's, for comparison), ``by_group`` and ``by_kind``
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
        "by_group": {
            k: {"roots": int((s.group == k).sum()), "coverage": inside[s.group == k].mean(axis=0).tolist()}
            for k in GROUPS
            if (s.group == k).any()
        },
    }
