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

from .._config import DEFAULT_CHUNK_BYTES, DEFAULT_CONFIDENCE, KEEP_CAP, KEEP_FLOOR, TAIL_MASS
from .._util.paths import expand_paths
from .._util.stats import t_interval
from ..errors import InputError
from ..kernels import tree as KT

__all__ = [
    "KEEP_CAP",
    "KEEP_FLOOR",
    "TAIL_MASS",
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

#: Rows a pool holds at most; past it, a uniform sample (128 MiB at 64 tokens a row).
MAX_POOL_ROWS = 1 << 18
#: Entries (rows x width) a pool holds at most: 2^25 float64, 256 MiB. Wide rows (full vocabularies) get fewer rows.
MAX_POOL_ENTRIES = 1 << 25
#: Rows converted at a time when a pool is read.
_POOL_BLOCK = 16_384
#: The most tree nodes one simulate call may list (replicates x Pmax): about 10 minutes at 20M nodes/s.
MAX_POPS = 12_000_000_000
_MAX_DEPTH = 4096


@dataclass(frozen=True)
class Distribution:
    """Where node distributions come from: a pool of rows, or fresh Dirichlet draws."""

    name: str
    neglogp: np.ndarray | None = None  # [rows, width] of -log p, increasing, inf-padded
    dirichlet: tuple[float, int] | None = None
    note: str = ""


def _rows_from_probs(p: np.ndarray) -> np.ndarray:
    p = np.sort(np.atleast_2d(np.asarray(p, dtype=np.float64)), axis=1)[:, ::-1]
    with np.errstate(divide="ignore"):
        return np.ascontiguousarray(-np.log(p))


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
        f"--family {spec!r}: expected uniform:K (K >= 1), geometric:q (0 < q < 1), zipf:s:V (s > 0), "
        "dirichlet:alpha:V (alpha > 0) or deterministic"
    )


def pool(
    paths: str | Sequence[str],
    *,
    kind: str | None = None,
    vocab_size: int | None = None,
    temperature: float = 1.0,
    tail: str = "drop",
    keep: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    max_rows: int | None = None,
    seed: int = 0,
) -> Distribution:
    """Read a pool of distributions from files; each row keeps its ``keep`` largest tokens.

    The mass outside what a row lists (the unlisted tail of top-k rows, or
    the tokens beyond ``keep`` of full rows) is dropped (``tail="drop"``: a
    lower estimate of E[X*]) or lumped into one extra token (``"lump"``: an
    upper estimate). ``keep=None`` truncates adaptively (:func:`keep_counts`).

    Parameters
    ----------
    paths
        Files or globs, any format the estimator reads.
    kind, vocab_size
        As for :func:`speedoflight.readers.open_source`.
    temperature
        Full rows are normalised at this temperature (> 0); top-k rows take only 1.
    tail
        ``"drop"`` or ``"lump"`` the mass a row does not list.
    keep
        Largest tokens kept per row (at least 1); None (the default): each row keeps its tokens until the mass it
        leaves out is below :data:`TAIL_MASS`, at least :data:`KEEP_FLOOR` and at most :data:`KEEP_CAP` of them.
    chunk_bytes
        Bytes of rows read at a time.
    max_rows, seed
        Past ``max_rows`` rows (default :data:`MAX_POOL_ROWS`), the pool is a uniform sample of that many rows
        (reservoir sampling with ``seed``), so memory is bounded whatever the input's size.

    Returns
    -------
    Distribution
        The pool: one ``neglogp`` row per row read (or sampled), increasing, ``inf``-padded to a common width.

    """
    from ..readers.logrows import logprob_rows

    acc = PoolScan(tail=tail, keep=keep, max_rows=max_rows, seed=seed)
    n_files = len(expand_paths([paths] if isinstance(paths, str) else paths))
    for x, full in logprob_rows(
        paths, kind=kind, vocab_size=vocab_size, temperature=temperature, chunk_bytes=chunk_bytes
    ):
        acc.add(0, None, None, x, full)
    return acc.finish(n_files)


class PoolScan:
    """:func:`pool` as a consumer of :func:`speedoflight.readers.scan.scan` (one pass with other consumers).

    Parameters
    ----------
    tail
        ``"drop"`` (lower estimate) or ``"lump"`` (upper estimate) the mass a row does not list.
    keep
        Tokens kept per row; None: adaptive (:func:`keep_counts`).
    max_rows, seed
        Past ``max_rows`` rows (default :data:`MAX_POOL_ROWS`; fewer where the rows are so wide that they would hold
        more than :data:`MAX_POOL_ENTRIES` entries) the pool is a uniform sample of that many (Algorithm R,
        seeded): memory stays bounded; below it every row is kept, in order.

    Attributes
    ----------
    listed_min : int
        The fewest tokens a row read lists (its finite entries), before any truncation.
    kept_min : int
        The fewest tokens a row keeps (at most what it lists).
    cut : int
        Rows that listed more tokens than they kept.

    """

    wants_logprobs = True

    def __init__(
        self, *, tail: str = "drop", keep: int | None = None, max_rows: int | None = None, seed: int = 0
    ) -> None:
        if tail not in ("drop", "lump"):
            raise InputError(f"--tail must be 'drop' (lower estimate) or 'lump' (upper estimate), got {tail!r}")
        if keep is not None and keep < 1:
            raise InputError(f"--top-k must be positive, got {keep}")
        self.tail, self.keep = tail, keep
        self.max_rows = MAX_POOL_ROWS if max_rows is None else int(max_rows)
        if self.max_rows < 1:
            raise InputError(f"--pool-rows must be positive, got {self.max_rows}")
        self._cap = self.max_rows  # rows the buffer holds: fewer where wide rows would pass MAX_POOL_ENTRIES
        self._rng = np.random.default_rng(seed)
        self._buf: np.ndarray | None = None
        self._seen = 0
        self.listed_min = 0
        self.kept_min = 0
        self.cut = 0

    def begin(self, index: int, source: Any) -> None:
        """Nothing to check beyond what :func:`~speedoflight.readers.scan.scan` checks for log-probabilities.

        Parameters
        ----------
        index
            Position of the source in the scan (unused).
        source
            The source (unused).

        """

    def add(self, index: int, source: Any, chunk: Any, logprobs: np.ndarray | None, full: bool) -> None:
        """Keep a chunk's rows: the ``keep`` largest tokens, the rest dropped or lumped.

        Parameters
        ----------
        index, source, chunk
            Where the rows came from (unused).
        logprobs
            ``[n, w]`` float64 log-probabilities of the rows (required).
        full
            Whether the rows are full distributions (unused).

        """
        assert logprobs is not None
        for lo in range(0, len(logprobs), _POOL_BLOCK):  # small blocks: the conversions' copies stay small
            self._add_rows(self._converted(logprobs[lo : lo + _POOL_BLOCK]))

    def _converted(self, logprobs: np.ndarray) -> np.ndarray:
        """Rows as increasing ``-log p``: the ``keep`` largest tokens, the rest dropped or lumped."""
        x = -np.sort(-logprobs, axis=1)
        listed = np.isfinite(x).sum(axis=1)
        if len(x):
            low = int(listed.min())
            self.listed_min = low if self.listed_min == 0 else min(self.listed_min, low)
        with np.errstate(under="ignore"):
            k = keep_counts(x, self.keep)
        self.cut += int((k < listed).sum())
        if len(k):
            got = int(np.minimum(k, np.maximum(listed, 1)).min())
            self.kept_min = got if self.kept_min == 0 else min(self.kept_min, got)
        x = x[:, : int(k.max(initial=1))]
        x[np.arange(x.shape[1])[None, :] >= k[:, None]] = -np.inf
        p = np.exp(x)
        if self.tail == "lump":
            rest = np.clip(1.0 - p.sum(axis=1, keepdims=True), 0.0, 1.0)
            p = np.concatenate([p, np.where(rest > 1e-12, rest, 0.0)], axis=1)
        return _rows_from_probs(p)

    def _add_rows(self, rows: np.ndarray) -> None:
        """Every row while the pool has room, in order; then Algorithm R."""
        if self._buf is None:
            # np.empty commits memory only as rows are written: a small input costs its own size
            self._cap = max(1, min(self.max_rows, MAX_POOL_ENTRIES // rows.shape[1]))
            self._buf = np.empty((self._cap, rows.shape[1]))
        if rows.shape[1] > self._buf.shape[1]:
            self._widen(rows.shape[1])
        room = self._cap - self._seen
        if room > 0:
            k = min(room, len(rows))
            self._put(np.arange(self._seen, self._seen + k), rows[:k])
            self._seen += k
            rows = rows[k:]
            if not len(rows):
                return
        self._sample(rows)

    def _widen(self, width: int) -> None:
        """Make the buffer ``width`` wide; where that passes :data:`MAX_POOL_ENTRIES`, hold fewer rows.

        The rows held are a uniform sample of the rows seen; a uniform subset of them is a uniform sample of the
        rows seen too, so Algorithm R goes on with the smaller reservoir.
        """
        assert self._buf is not None
        filled = min(self._seen, self._cap)
        cap = max(1, min(self.max_rows, MAX_POOL_ENTRIES // width))
        held = self._buf[:filled]
        if filled > cap:
            held = held[np.sort(self._rng.choice(filled, size=cap, replace=False))]
            filled = cap
        wider = np.empty((cap, width))
        wider[:filled, : held.shape[1]] = held
        wider[:filled, held.shape[1] :] = np.inf
        self._buf, self._cap = wider, cap  # _seen still counts every row read, as Algorithm R needs

    def _put(self, slots: np.ndarray, rows: np.ndarray) -> None:
        assert self._buf is not None
        w = rows.shape[1]
        self._buf[slots, :w] = rows
        self._buf[slots, w:] = np.inf

    def _sample(self, rows: np.ndarray) -> None:
        """Algorithm R on a block: row i (0-based over all rows) replaces slot j ~ U{0..i} when j < max_rows."""
        index = self._seen + np.arange(len(rows))
        self._seen += len(rows)
        slot = self._rng.integers(0, index + 1)
        hit = np.flatnonzero(slot < self._cap)
        if not hit.size:
            return
        # within the block a later row wins a slot, as it would one row at a time
        _, last = np.unique(slot[hit][::-1], return_index=True)
        take = hit[::-1][last]
        self._put(slot[take], rows[take])

    def finish(self, n_files: int) -> Distribution:
        """Return the pool as a :class:`Distribution`.

        Parameters
        ----------
        n_files
            Files the rows came from (for the name).

        Returns
        -------
        Distribution
            ``neglogp`` rows, increasing, ``inf``-padded.

        """
        if self._buf is None or self._seen == 0:
            raise InputError("the pool has no rows")
        rows = self._buf[: min(self._seen, self._cap)]
        if not np.all(np.isfinite(rows[:, 0])):
            raise InputError("a pool row has no token with positive probability")
        note = f"tail {'dropped (lower estimate)' if self.tail == 'drop' else 'lumped into one token (upper estimate)'}"
        if self.cut:
            note += (
                f"; {self.cut} of {self._seen} rows keep fewer tokens than they list ("
                + (f"--top-k {self.keep}" if self.keep else f"until under {TAIL_MASS:g} of their mass is left out")
                + ")"
            )
        if self._seen > len(rows):
            note += f"; a uniform sample of {len(rows)} of the {self._seen} rows read (memory bound, --pool-rows)"
        return Distribution(f"pool of {len(rows)} rows from {n_files} file(s)", neglogp=rows, note=note)


def keep_counts(x: np.ndarray, keep: int | None = None) -> np.ndarray:
    """Return how many of each row's largest tokens a truncation keeps (docs/theory.md section 3.6).

    Parameters
    ----------
    x
        ``[n, w]`` log-probabilities, each row in decreasing order (``-inf`` where a row lists fewer).
    keep
        A fixed count (``--top-k``): ``min(keep, w)`` for every row. None: the default rule, the fewest leading
        tokens that leave out less than :data:`TAIL_MASS` of the row's mass (the unlisted mass of a top-k row
        counts as left out), at least :data:`KEEP_FLOOR` and at most :data:`KEEP_CAP`, never more than ``w``.

    Returns
    -------
    ndarray
        ``[n]`` int64 counts.

    """
    n, w = x.shape
    if keep is not None:
        return np.full(n, min(int(keep), w), dtype=np.int64)
    if w <= KEEP_FLOOR:
        return np.full(n, w, dtype=np.int64)
    left = 1.0 - np.cumsum(np.exp(x[:, : min(w, KEEP_CAP)]), axis=1)  # mass left out after the first j + 1 tokens
    need = 1 + (left >= TAIL_MASS).sum(axis=1)  # left decreases along a row: the first j + 1 with left < TAIL_MASS
    return np.clip(need, KEEP_FLOOR, min(KEEP_CAP, w)).astype(np.int64)


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
        raise InputError(f"--pmax must be at least 1, got {pmax}")
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
    at_one = excess(1.0)
    if abs(at_one) < 1e-9:
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
        raise InputError(f"--pmax must be at least 1, got {pmax}")
    if replicates < 2:
        raise InputError(f"--replicates must be at least 2 (for an interval), got {replicates}")
    try:
        at_arr = default_at(pmax) if at is None else np.unique(np.asarray(at, dtype=np.int64))
    except (OverflowError, ValueError):
        raise InputError(f"-P values must be whole numbers in 1..{pmax}") from None
    if at_arr.size == 0 or at_arr[0] < 1 or at_arr[-1] > pmax:
        raise InputError(f"-P values must lie in 1..{pmax}")
    per_replicate = 8 * (len(at_arr) + _MAX_DEPTH + 1) + 256  # curves, depth histogram, its seed
    if replicates * per_replicate > 4 * 2**30:
        raise InputError(
            f"--replicates {replicates} needs about {replicates * per_replicate / 2**30:.1f} GiB of results; "
            "lower --replicates (2,000 give intervals to a fraction of a percent)"
        )
    if replicates * pmax > MAX_POPS:
        raise InputError(
            f"--replicates {replicates} x --pmax {pmax} = {replicates * pmax:.3g} tree nodes, about "
            f"{replicates * pmax / 2e7 / 60:.0f} minutes at 20M nodes/s; lower either (the limit is {MAX_POPS:.0e})"
        )
    seeded = dist.neglogp is not None and dist.neglogp.shape[0] > 1
    if max_depth is not None and (not seeded or max_depth < 1):
        raise InputError(f"--max-depth {max_depth}: a depth cap needs a pool of rows and a depth of at least 1")
    if seeded:  # node lists of level_cap(pmax) nodes, 18 bytes each, one per thread
        mem = 18 * KT.level_cap(pmax) * min(replicates, numba.get_num_threads())
    else:
        mem = (pmax + 2) * 96 + (dist.dirichlet[1] * (pmax + 1) * 8 * 2 if dist.dirichlet else 0)
    if mem > 4 * 2**30:
        raise InputError(f"--pmax {pmax} needs about {mem / 2**30:.1f} GiB; lower --pmax (or V for dirichlet)")
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
