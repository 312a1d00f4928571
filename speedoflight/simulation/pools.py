"""Pools of logged distributions for the i.i.d. simulator: rows read, truncated (``--top-k``) and sampled.

A pool is a :class:`Distribution` of rows of increasing ``-log p``. :func:`pool` reads one from files;
:class:`PoolScan` builds one as a consumer of a command's one pass over its inputs. Each row keeps its largest
tokens (:func:`keep_counts`: ``--top-k``, or by default until under ``TAIL_MASS`` of its mass is left out,
docs/theory.md section 3.6) and drops or lumps the rest; past a bound on rows and entries the pool is a seeded
uniform sample of the rows read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._config import DEFAULT_CHUNK_BYTES, KEEP_CAP, KEEP_FLOOR, TAIL_MASS
from .._util.paths import expand_paths
from ..errors import InputError

__all__ = ["MAX_POOL_ENTRIES", "MAX_POOL_ROWS", "Distribution", "PoolScan", "keep_counts", "pool"]

#: Rows a pool holds at most; past it, a uniform sample (128 MiB at 64 tokens a row).
MAX_POOL_ROWS = 1 << 18
#: Entries (rows x width) a pool holds at most: 2^25 float64, 256 MiB. Wide rows (full vocabularies) get fewer rows.
MAX_POOL_ENTRIES = 1 << 25
#: Rows converted at a time when a pool is read.
_POOL_BLOCK = 16_384


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
            raise InputError(
                f"{{tail}} must be 'drop' (lower estimate) or 'lump' (upper estimate), got {tail!r}", param="tail"
            )
        if keep is not None and keep < 1:
            raise InputError(f"{{keep}} must be positive, got {keep}", param="keep")
        self.tail, self.keep = tail, keep
        self.max_rows = MAX_POOL_ROWS if max_rows is None else int(max_rows)
        if self.max_rows < 1:
            raise InputError(f"{{pool_rows}} must be positive, got {self.max_rows}", param="pool_rows")
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
