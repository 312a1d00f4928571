"""Branching-random-walk simulator: the optimal draft tree E[X*(P)] by Monte Carlo.

Under the i.i.d. model every node of the draft tree has its own next-token
distribution: a row of a pool of logged distributions (any file the estimator
reads), or a member of a family (``uniform:K``, ``geometric:q``,
``zipf:s:V``, ``dirichlet:alpha:V`` drawn fresh per node, ``deterministic``).
For a pool, each replicate's tree is a fixed function of its seed: a node's
row is a hash of the node's identity (splitmix64 over the path), so every
search order sees the same tree: the kernel lists the top-P set breadth first
below a threshold; the best-first heap of docs/theory.md section 5 (also the tree
export and depth caps) finds the same set, checked against a heapq twin. One run
gives E[X*(P)] for every P up to Pmax. Replicates run in parallel, each from
its own seed derived from one seed (``numpy.random.SeedSequence``), so results
are bit-identical for the same seed whatever the thread count.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from .._config import DEFAULT_CONFIDENCE
from .._util.stats import t_interval
from ..errors import InputError
from ..kernels import tree as KT
from .pools import MAX_POOL_ENTRIES, MAX_POOL_ROWS, Distribution, PoolScan, _rows_from_probs, keep_counts, pool

__all__ = [
    "MAX_POOL_ENTRIES",
    "MAX_POOL_ROWS",
    "Distribution",
    "PoolScan",
    "SimulationResult",
    "default_at",
    "family",
    "keep_counts",
    "optimal_tree",
    "pool",
    "simulate",
]

#: The most tree nodes one simulate call may list (replicates x Pmax): about 10 minutes at 20M nodes/s.
MAX_POPS = 12_000_000_000
_MAX_DEPTH = 4096


def family(spec: str) -> Distribution:
    """Parse a family: ``uniform:K``, ``geometric:q``, ``zipf:s:V``, ``dirichlet:alpha:V``, ``deterministic``.

    Parameters
    ----------
    spec
        The family: ``uniform:K`` (K >= 1 equally likely tokens), ``geometric:q`` (p_i = (1 - q) q^i,
        0 < q < 1, truncated where the tail falls below 1e-16), ``zipf:s:V`` (p_i proportional to
        i^-s over V tokens, s > 0), ``dirichlet:alpha:V`` (a symmetric Dirichlet over V tokens,
        alpha > 0) or ``deterministic`` (one token of probability 1).

    Returns
    -------
    Distribution
        One fixed ``neglogp`` row, or the Dirichlet parameters ``(alpha, V)``.

    Raises
    ------
    InputError
        When ``spec`` is not one of these or a parameter is out of range.

    """
    parts = spec.split(":")
    name = parts[0]
    try:
        if name == "deterministic" and len(parts) == 1:
            return Distribution(spec, neglogp=np.zeros((1, 1)))
        if name == "uniform" and len(parts) == 2:
            k = int(parts[1])
            if k < 1:
                raise ValueError
            return Distribution(spec, neglogp=np.full((1, k), math.log(k)))
        if name == "geometric" and len(parts) == 2:
            q = float(parts[1])
            if not 0 < q < 1:
                raise ValueError
            n = max(1, math.ceil(math.log(1e-16) / math.log(q)))
            p = (1 - q) * q ** np.arange(n)
            return Distribution(spec, neglogp=_rows_from_probs(p), note=f"truncated at {n} tokens (tail < 1e-16)")
        if name == "zipf" and len(parts) == 3:
            s, v = float(parts[1]), int(parts[2])
            if s <= 0 or v < 1:
                raise ValueError
            p = np.arange(1, v + 1, dtype=np.float64) ** -s
            return Distribution(spec, neglogp=_rows_from_probs(p / p.sum()))
        if name == "dirichlet" and len(parts) == 3:
            a, v = float(parts[1]), int(parts[2])
            if a <= 0 or v < 1:
                raise ValueError
            return Distribution(spec, dirichlet=(a, v), note="a fresh Dirichlet draw for every expanded node")
    except ValueError:
        pass
    raise InputError(
        f"{{family}} {spec!r}: expected uniform:K (K >= 1), geometric:q (0 < q < 1), zipf:s:V (s > 0), "
        "dirichlet:alpha:V (alpha > 0) or deterministic",
        param="family",
    )


def default_at(pmax: int) -> np.ndarray:
    """Every P up to 1000, then 20 log-spaced points per decade, always including Pmax.

    Parameters
    ----------
    pmax
        Largest tree size P, at least 1.

    Returns
    -------
    ndarray
        Increasing int64 P values in 1..pmax.

    Raises
    ------
    InputError
        When ``pmax`` is below 1.

    """
    if pmax < 1:
        raise InputError(f"{{pmax}} must be at least 1, got {pmax}", param="pmax")
    small = np.arange(1, min(pmax, 1000) + 1)
    if pmax <= 1000:
        return small
    big = np.unique(np.round(np.geomspace(1000, pmax, max(2, int(20 * math.log10(pmax / 1000)) + 1))))
    return np.unique(np.concatenate([small, big, [pmax]])).astype(np.int64)


@dataclass(frozen=True)
class SimulationResult:
    """E[X*(P)] over replicates at the chosen P values, with the tree's shape."""

    P: np.ndarray
    mean: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    replicates: int
    seed: int
    policy: str
    distribution: str
    confidence: float
    nodes_per_depth: np.ndarray  # mean over replicates, at Pmax (index = depth)
    per_replicate: np.ndarray = field(repr=False)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict.

        Returns
        -------
        dict
            ``P``, ``mean``, ``se``, ``ci_low``, ``ci_high`` (E[X*(P)], the optimal tree's expected accepted
            tokens, per P), ``tokens_per_call`` (mean + 1), the settings (``replicates``, ``seed``,
            ``policy``, ``distribution``, ``confidence``, ``note``) and ``shape``: ``pmax``,
            ``nodes_per_depth`` (mean nodes at depth 1..the deepest, at Pmax), ``root_branching`` (mean
            nodes at depth 1) and ``depth`` (the deepest level with any node).

        """
        last = int(np.max(np.nonzero(self.nodes_per_depth)[0])) if self.nodes_per_depth.any() else 0
        return {
            "P": self.P.tolist(),
            "mean": self.mean.tolist(),
            "se": self.se.tolist(),
            "ci_low": self.ci_low.tolist(),
            "ci_high": self.ci_high.tolist(),
            "tokens_per_call": (self.mean + 1).tolist(),
            "replicates": self.replicates,
            "seed": self.seed,
            "policy": self.policy,
            "distribution": self.distribution,
            "confidence": self.confidence,
            "note": self.note,
            "shape": {
                "pmax": int(self.P[-1]),
                "nodes_per_depth": self.nodes_per_depth[1 : last + 1].tolist(),
                "root_branching": float(self.nodes_per_depth[1]) if last >= 1 else 0.0,
                "depth": last,
            },
        }


def _seeds(seed: int, replicates: int) -> np.ndarray:
    ss = np.random.SeedSequence(seed)
    return np.array([c.generate_state(1, np.uint32)[0] for c in ss.spawn(replicates)], dtype=np.int64)


def packed_layout(neglogp: np.ndarray, pmax: int) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """Return the packed kernel's inputs: first surprisals, rank gaps, depth and rank bit widths (None: no fit).

    A heap entry's payload (row, rank, depth) must fit in the 53 bits a
    float64 holds exactly.
    """
    n_rows, width = neglogp.shape
    bd = int(pmax + 2).bit_length()
    bw = max(1, int(width).bit_length())
    if bd + bw + max(1, int(n_rows).bit_length()) > 53:
        return None
    with np.errstate(invalid="ignore"):
        gap = np.ascontiguousarray(np.diff(neglogp, axis=1))  # never read where the next rank is absent
    return np.ascontiguousarray(neglogp[:, 0]), gap, bd, bw


def growth_rate(neglogp: np.ndarray) -> float:
    """Return the pool's Malthusian parameter: the root lambda of E[sum_i p_i^lambda] = 1 (0 if there is none).

    The number of nodes of path surprisal at most t grows like e^(lambda t);
    lambda is 1 when every row sums to one and below 1 when tails are
    dropped. 0 means no exponential growth to speak of (at most one token
    per row on average, or rows of certain tokens throughout).
    """
    x = neglogp[np.isfinite(neglogp)]
    n_rows = neglogp.shape[0]

    def excess(lam: float) -> float:
        return float(np.exp(-lam * x).sum() / n_rows - 1.0)

    if excess(0.0) <= 0:
        return 0.0
    if abs(excess(1.0)) < 1e-9:
        return 1.0
    hi = 1.0
    while excess(hi) > 0:
        hi *= 2
        if hi > 64:
            return 0.0
    from scipy.optimize import brentq  # imported here: a third of a second, paid only where a pool is grown

    return float(brentq(excess, 0.0, hi, xtol=1e-6))


def simulate(
    dist: Distribution,
    pmax: int,
    *,
    replicates: int = 100,
    seed: int = 0,
    at: np.ndarray | Sequence[int] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    progress: bool = False,
    max_depth: int | None = None,
) -> SimulationResult:
    """Simulate the optimal draft tree: E[X*(P)] with mean, standard error and CI per P.

    Parameters
    ----------
    dist
        Where node distributions come from (:func:`pool` or :func:`family`).
    pmax
        Largest tree size P (draft tokens per verifier call), at least 1.
    replicates
        Independent trees (at least 2), each from its own seed derived from ``seed``.
    seed
        Seed of the replicates; results are bit-identical for the same seed.
    at
        P values to report, in 1..pmax (sorted, duplicates dropped); None: :func:`default_at`.
    confidence
        Two-sided coverage of the Student-t interval over replicates.
    progress
        A progress bar on stderr.
    max_depth
        Only trees at most this deep (for drafters that pay per level; needs a pool of rows); None: any depth.

    Returns
    -------
    SimulationResult
        E[X*(P)] (the optimal tree's expected accepted tokens) per P, with its standard error and
        interval, the per-replicate curves and the mean nodes per depth at Pmax.

    Raises
    ------
    InputError
        When ``pmax``, ``replicates`` or ``at`` is out of range, or the run would need more than 4 GiB.

    """
    if pmax < 1:
        raise InputError(f"{{pmax}} must be at least 1, got {pmax}", param="pmax")
    if replicates < 2:
        raise InputError(f"{{replicates}} must be at least 2 (for an interval), got {replicates}", param="replicates")
    try:
        at_arr = default_at(pmax) if at is None else np.unique(np.asarray(at, dtype=np.int64))
    except (OverflowError, ValueError):
        raise InputError(f"-P values must be whole numbers in 1..{pmax}") from None
    if at_arr.size == 0 or at_arr[0] < 1 or at_arr[-1] > pmax:
        raise InputError(f"-P values must lie in 1..{pmax}")
    per_replicate = 8 * (len(at_arr) + _MAX_DEPTH + 1) + 256  # curves, depth histogram, its seed
    if replicates * per_replicate > 4 * 2**30:
        raise InputError(
            f"{{replicates}} {replicates} needs about {replicates * per_replicate / 2**30:.1f} GiB of results; "
            "lower {replicates} (2,000 give intervals to a fraction of a percent)",
            param="replicates",
        )
    if replicates * pmax > MAX_POPS:
        raise InputError(
            f"{{replicates}} {replicates} x {{pmax}} {pmax} = {replicates * pmax:.3g} tree nodes, about "
            f"{replicates * pmax / 2e7 / 60:.0f} minutes at 20M nodes/s; lower either (the limit is {MAX_POPS:.0e})",
            param=("replicates", "pmax"),
        )
    seeded = dist.neglogp is not None and dist.neglogp.shape[0] > 1
    if max_depth is not None and (not seeded or max_depth < 1):
        raise InputError(
            f"{{max_depth}} {max_depth}: a depth cap needs a pool of rows and a depth of at least 1", param="max_depth"
        )
    if seeded:  # node lists of level_cap(pmax) nodes, 18 bytes each, one per thread
        mem = 18 * KT.level_cap(pmax) * min(replicates, numba.get_num_threads())
    else:
        mem = (pmax + 2) * 96 + (dist.dirichlet[1] * (pmax + 1) * 8 * 2 if dist.dirichlet else 0)
    if mem > 4 * 2**30:
        raise InputError(
            f"{{pmax}} {pmax} needs about {mem / 2**30:.1f} GiB; lower {{pmax}} (or V for dirichlet)", param="pmax"
        )
    seeds = _seeds(seed, replicates)
    threads = numba.get_num_threads()
    growth = growth_rate(dist.neglogp) if seeded and dist.neglogp is not None else 0.0
    layout = packed_layout(dist.neglogp, pmax) if dist.neglogp is not None and not seeded else None
    curves = np.zeros((replicates, len(at_arr)))
    hists = np.zeros((replicates, _MAX_DEPTH + 1), dtype=np.int64)
    from tqdm import tqdm

    step = max(2, min(replicates, 64))
    with tqdm(total=replicates, disable=not progress, file=sys.stderr, unit="replicate", leave=False) as bar:
        for lo in range(0, replicates, step):
            sl = slice(lo, min(replicates, lo + step))
            if dist.dirichlet is not None:
                a, v = dist.dirichlet
                KT.top_p_dirichlet(float(a), int(v), seeds[sl], pmax, at_arr, curves[sl], hists[sl])
            elif seeded:
                assert dist.neglogp is not None
                if max_depth is not None:  # the best tree of depth <= max_depth: the heap, capped
                    KT.top_p_pool_heap(dist.neglogp, seeds[sl], pmax, at_arr, curves[sl], hists[sl], max_depth)
                else:
                    KT.top_p_pool_seeded(dist.neglogp, seeds[sl], pmax, at_arr, curves[sl], hists[sl], threads, growth)
            else:  # one row (a family): the packed heap; its payload always fits below the memory cap
                assert layout is not None
                first, gap, bd, bw = layout
                KT.top_p_pool_fast(first, gap, seeds[sl], pmax, at_arr, curves[sl], hists[sl], bd, bw)
            bar.update(sl.stop - sl.start)
    mean, se, ci_lo, ci_hi = t_interval(curves, confidence)
    return SimulationResult(
        P=at_arr,
        mean=mean,
        se=se,
        ci_low=ci_lo,
        ci_high=ci_hi,
        replicates=replicates,
        seed=seed,
        policy="optimal",
        distribution=dist.name,
        confidence=confidence,
        nodes_per_depth=hists.mean(axis=0),
        per_replicate=curves,
        note=dist.note,
    )


def optimal_tree(dist: Distribution, pmax: int, seed: int = 0) -> dict[str, list[int]]:
    """Draw one optimal tree of ``pmax`` nodes: per node its parent (-1: root), sibling rank, depth.

    The tree is replicate 0 of :func:`simulate` with the same ``dist`` and
    ``seed`` (the seeded tree of its first replicate seed). Nodes are listed
    in pop order, i.e. by decreasing path probability, so any prefix of the
    list is the optimal tree of that size on the same tree.

    Parameters
    ----------
    dist
        A pool or fixed family (not ``dirichlet``).
    pmax
        Nodes to draw (fewer when the tree has fewer nodes of positive probability).
    seed
        Seed, as for :func:`simulate`.

    Returns
    -------
    dict
        ``parent`` (pop index of each node's parent, -1 for the root's children), ``rank`` (0-based rank
        among its siblings), ``depth`` (1 for the root's children) and ``expected_accepted`` (the tree's
        E[X], the sum of its nodes' path probabilities, a float).

    Raises
    ------
    InputError
        When ``dist`` is a Dirichlet family.

    """
    if dist.neglogp is None:
        raise InputError("tree export needs a pool or a fixed family (not dirichlet)")
    root = np.uint64(KT.root_id(int(_seeds(seed, 1)[0])))
    parent = np.full(pmax, -2, dtype=np.int64)
    rank = np.zeros(pmax, dtype=np.int64)
    depth = np.zeros(pmax, dtype=np.int64)
    out = np.zeros(1)
    hist = np.zeros(_MAX_DEPTH + 1, dtype=np.int64)
    at = np.array([pmax], dtype=np.int64)
    n = KT.top_p_seeded_heap(dist.neglogp, root, pmax, at, out, hist, parent, rank, depth, pmax)
    return {
        "parent": parent[:n].tolist(),
        "rank": rank[:n].tolist(),
        "depth": depth[:n].tolist(),
        "expected_accepted": float(out[0]),
    }
