"""The exact i.i.d. threshold curve: expected (size, gain) of "all nodes with V <= t".

Under the i.i.d. assumption every node's next-token distribution is an
independent draw from one law, here the pool of logged distributions. One
step of the walk, ``xi = -log p_i``, has the law ``F`` (atoms ``-log p_i``
with weight ``p_i``, averaged over rows), and the expected number of children
with surprisal in ``dx`` is the counting measure ``C`` (atoms ``-log p_i``
with weight 1). For the policy "draft every node whose cumulative surprisal
is at most t":

* expected size ``N(t) = sum_{n>=1} C^{*n}([0, t])``;
* expected gain ``G(t) = sum_{n>=1} F^{*n}([0, t])`` (expected accepted tokens).

Both renewal measures are computed on a grid of step ``h`` with the FFT:
``U = F_hat / (1 - F_hat)`` after tilting by ``e^{-theta x}``, which makes the
series converge and the circular wrap-around negligible (``theta = 1.25`` for
``C``, whose renewal measure grows like ``e^x``; ``0.25`` for ``F``). The
curve ``(N(t), G(t))`` is read at ``N = P`` (linear interpolation between
grid points, which a randomised threshold attains). The grid error is
estimated by redoing everything with step ``h/2``.

This is a policy whose tree size varies with the realisation, so at equal mean
size it can beat the fixed-budget optimum E[X*(P)] (visibly at small P); the
fixed-budget optimum comes from the simulator. The same ``G`` also gives an
i.i.d. upper bound on E[X*(P)]: ``min_t G(t) + P e^{-t}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._config import DEFAULT_CHUNK_BYTES
from ..errors import InputError
from ..kernels import moments as K

__all__ = ["AtomPool", "AtomScan", "IIDCurve", "atom_pool", "atom_pool_from_rows", "iid_curve", "threshold_bound"]

_THETA_N = 1.25
_THETA_G = 0.25
_WRAP_SPAN = 160.0


@dataclass(frozen=True)
class AtomPool:
    """Histograms of the step law on two grids (``h`` and ``h/2``), per row on average."""

    h: float
    t_max: float
    weights: np.ndarray  # F on the grid of step h
    counts: np.ndarray  # C on the grid of step h
    weights_fine: np.ndarray  # the same on the grid of step h/2
    counts_fine: np.ndarray
    n_rows: int
    tail: str


@dataclass(frozen=True)
class IIDCurve:
    """The exact i.i.d. curve at requested P, with its grid error."""

    P: np.ndarray
    gain: np.ndarray  # G at mean size N = P (grid h/2)
    grid_error: np.ndarray  # |value(h) - value(h/2)|
    bound: np.ndarray  # min_t G(t) + P e^{-t}, capped at P
    h: float
    t: np.ndarray  # grid (step h/2)
    size: np.ndarray  # N(t)
    g: np.ndarray  # G(t)


def _tail_code(tail: str) -> int:
    if tail not in ("lump", "drop"):
        raise InputError(
            f"{{tail}} must be 'lump' (upper estimate) or 'drop' (lower estimate), got {tail!r}", param="tail"
        )
    return K.TAIL_LUMP if tail == "lump" else K.TAIL_DROP


def atom_pool_from_rows(
    logprobs: np.ndarray, *, full: bool = True, tail: str = "lump", h: float = 0.004, t_max: float = 40.0
) -> AtomPool:
    """Build the step-law histograms from rows of log-probabilities ``[n, w]``.

    Parameters
    ----------
    logprobs
        ``[n, w]`` log-probabilities (nats), ``n >= 1``; missing entries ``-inf``.
    full
        Whether the rows are full distributions; if not, they are top-k rows and ``tail`` says what
        becomes of the unlisted mass.
    tail
        ``"lump"`` the unlisted mass of a top-k row into one token (upper estimate) or ``"drop"`` it
        (lower estimate).
    h
        Grid step of the histograms, in nats, in ``(0, 0.1]``.
    t_max
        Last grid point, in nats; atoms of larger surprisal are left out.

    Returns
    -------
    AtomPool
        The step law ``F`` and the counting measure ``C`` on grids of step ``h`` and ``h/2``, per row.

    """
    lp = np.ascontiguousarray(logprobs, dtype=np.float64)
    if lp.ndim != 2 or lp.shape[0] == 0:
        raise InputError(f"expected rows of log-probabilities [n, w], got shape {lp.shape}")
    acc = _Acc(h, t_max, tail)
    acc.add(lp, full)
    return acc.finish()


class _Acc:
    def __init__(self, h: float, t_max: float, tail: str):
        if not (0 < h <= 0.1):
            raise InputError(f"grid step h must lie in (0, 0.1] nats, got {h}")
        self.h, self.t_max, self.tail, self.code = h, t_max, tail, _tail_code(tail)
        m = math.ceil(t_max / h) + 1
        self.w, self.c = np.zeros(m), np.zeros(m)
        self.wf, self.cf = np.zeros(2 * m - 1), np.zeros(2 * m - 1)
        self.n = 0

    def add(self, lp: np.ndarray, full: bool) -> None:
        K.atom_histogram(lp, 1.0 / self.h, self.code, full, self.w, self.c)
        K.atom_histogram(lp, 2.0 / self.h, self.code, full, self.wf, self.cf)
        self.n += lp.shape[0]

    def finish(self) -> AtomPool:
        if self.n == 0:
            raise InputError("the pool has no rows")
        n = float(self.n)
        return AtomPool(self.h, self.t_max, self.w / n, self.c / n, self.wf / n, self.cf / n, self.n, self.tail)


def atom_pool(
    paths: str | Sequence[str],
    *,
    kind: str | None = None,
    vocab_size: int | None = None,
    temperature: float = 1.0,
    tail: str = "lump",
    h: float = 0.004,
    t_max: float = 40.0,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> AtomPool:
    """Read a pool of distributions from files (any format the estimator reads).

    Full rows (logits, log-probabilities, probabilities) are normalised in
    float64 at ``temperature``; top-k rows keep their listed tokens and drop
    or lump the unlisted mass (``tail``).

    Parameters
    ----------
    paths
        A file, a glob, or a list of them; all are pooled.
    kind, vocab_size
        As for :func:`speedoflight.readers.open_source`.
    temperature
        Full rows are normalised at this temperature; top-k rows cannot be rescaled.
    tail
        ``"lump"`` the unlisted mass of a top-k row into one token (upper estimate) or ``"drop"`` it
        (lower estimate).
    h
        Grid step of the histograms, in nats, in ``(0, 0.1]``.
    t_max
        Last grid point, in nats; atoms of larger surprisal are left out.
    chunk_bytes
        Bytes of rows read at a time.

    Returns
    -------
    AtomPool
        The step law ``F`` and the counting measure ``C`` on grids of step ``h`` and ``h/2``, per row.

    """
    from ..readers.logrows import logprob_rows

    acc = _Acc(h, t_max, tail)
    for x, full in logprob_rows(
        paths, kind=kind, vocab_size=vocab_size, temperature=temperature, chunk_bytes=chunk_bytes
    ):
        acc.add(x, full)
    return acc.finish()


class AtomScan:
    """:func:`atom_pool` as a consumer of :func:`speedoflight.readers.scan.scan` (one pass with other consumers).

    Parameters
    ----------
    tail
        ``"drop"`` or ``"lump"`` the unlisted mass of top-k rows.
    h, t_max
        Grid step and range of the step-law histograms (nats).

    """

    wants_logprobs = True

    def __init__(self, *, tail: str = "lump", h: float = 0.004, t_max: float = 40.0) -> None:
        self._acc = _Acc(h, t_max, tail)  # every file so far
        self._file: _Acc | None = None  # the file being read, added to the total when it ends

    def _flush(self) -> None:
        """Add the file just read to the total: per file, then in file order, as workers' parts are merged."""
        f, self._file = self._file, None
        if f is not None:
            self.merge(-1, (f.w, f.c, f.wf, f.cf, f.n))

    def begin(self, index: int, source: Any) -> None:
        """Nothing to check beyond what :func:`~speedoflight.readers.scan.scan` checks for log-probabilities.

        Parameters
        ----------
        index, source
            Index of the source in the scan, and the source (both unused).

        """
        self._flush()
        a = self._acc
        self._file = _Acc(a.h, a.t_max, a.tail)

    def add(self, index: int, source: Any, chunk: Any, logprobs: np.ndarray | None, full: bool) -> None:
        """Add a chunk's log-probabilities to the histograms.

        Parameters
        ----------
        index, source
            Index of the source in the scan, and the source (both unused).
        chunk
            The rows as stored (unused: the log-probabilities stand for them).
        logprobs
            The chunk's rows as float64 log-probabilities ``[n, w]`` (missing top-k entries ``-inf``);
            never None, as this consumer asks for them.
        full
            Whether the rows are full distributions; if not, the unlisted mass is dropped or lumped
            (``tail``).

        """
        assert logprobs is not None
        assert self._file is not None, "begin() comes before add()"
        self._file.add(logprobs, full)

    def blank(self) -> AtomScan:
        """Empty histograms on the same grid, for a worker (:func:`~speedoflight.readers.scan.scan_shards`).

        Returns
        -------
        AtomScan
            With no rows.

        """
        a = self._acc
        return AtomScan(tail=a.tail, h=a.h, t_max=a.t_max)

    def part(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """One file's histograms (a few thousand grid points each, whatever the rows).

        Returns
        -------
        tuple
            The step-law and counting-measure sums on the grids of step h and h/2, and the rows behind them.

        """
        self._flush()
        a = self._acc
        return _trimmed(a.w), _trimmed(a.c), _trimmed(a.wf), _trimmed(a.cf), a.n

    def merge(self, index: int, part: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]) -> None:
        """Add file ``index``'s histograms (:meth:`part`); in file order, so equal to one scan's bit for bit.

        Parameters
        ----------
        index
            The file's place among the sources (unused: the driver merges in order).
        part
            A worker's histograms.

        """
        a = self._acc
        w, c, wf, cf, n = part
        a.w[: len(w)] += w  # a part ends at its last non-zero bin: adding the zeros after it changes nothing
        a.c[: len(c)] += c
        a.wf[: len(wf)] += wf
        a.cf[: len(cf)] += cf
        a.n += int(n)

    def finish(self) -> AtomPool:
        """Return the pool.

        Returns
        -------
        AtomPool
            The step-law histograms over every row read.

        """
        self._flush()
        return self._acc.finish()


def _trimmed(x: np.ndarray) -> np.ndarray:
    """``x`` up to its last non-zero entry (surprisals far below ``t_max`` leave the tail of the grid empty)."""
    nz = np.flatnonzero(x)
    return x[: nz[-1] + 1 if nz.size else 0]


def _renewal(measure: np.ndarray, h: float, theta: float) -> np.ndarray:
    """``sum_{n>=1} measure^{*n}`` on the grid, by FFT with exponential tilting."""
    m = len(measure)
    x = np.arange(m) * h
    tilt = np.exp(-theta * x)
    f = measure * tilt
    mass = f.sum()
    if mass >= 1.0 - 1e-12:
        raise InputError(
            "the pool is (nearly) deterministic: a node's tilted child mass is not below 1, "
            "so the threshold curve diverges; E[X] = P for a deterministic verifier"
        )
    # Wrap-around adds u(x + L h) e^{-(theta - growth) L h} to u(x), growth 1 for C and 0 for F,
    # and theta - growth = 0.25 for both: a span L h of 160 nats keeps it below e^{-40}.
    size = 1 << math.ceil(math.log2(max(2 * m, m + _WRAP_SPAN / h)))
    fh = np.fft.rfft(f, size)
    u = np.fft.irfft(fh / (1.0 - fh), size)[:m]
    return np.maximum(u, 0.0) / tilt


def _curve(weights: np.ndarray, counts: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size = np.cumsum(_renewal(counts, h, _THETA_N))
    gain = np.cumsum(_renewal(weights, h, _THETA_G))
    t = np.arange(len(weights)) * h
    return t, np.maximum.accumulate(size), np.maximum.accumulate(gain)


#: Capacities per block of :func:`threshold_bound` (a block's table is ``block x len(t)`` floats).
_BOUND_BLOCK = 64


def threshold_bound(gain: np.ndarray, t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Return ``min_t G(t) + P e^{-t}`` at each P, a block of P at a time (the same numbers as in one table).

    Parameters
    ----------
    gain, t
        The gain ``G`` on its grid of thresholds ``t``.
    p
        Capacities.

    Returns
    -------
    ndarray
        The bound at each P (not capped at P). One ``[len(p), len(t)]`` table would hold half a GB for a best-P
        search on a dense grid; each element and each minimum is the same in blocks.

    """
    decay = np.exp(-t[None, :])
    out = np.empty(len(p))
    for i in range(0, len(p), _BOUND_BLOCK):
        out[i : i + _BOUND_BLOCK] = np.min(gain[None, :] + p[i : i + _BOUND_BLOCK, None] * decay, axis=1)
    return out


def gain_at(size: np.ndarray, gain: np.ndarray, p: np.ndarray) -> np.ndarray:
    # (0, 0) is the empty tree; drop plateaus of N, keeping the largest G on each
    n_all = np.concatenate([[0.0], size])
    g_all = np.concatenate([[0.0], gain])
    keep = np.r_[n_all[1:] > n_all[:-1], True]
    return np.interp(p, n_all[keep], g_all[keep])


def iid_curve(pool: AtomPool, p: np.ndarray | Sequence[float]) -> IIDCurve:
    """Evaluate the exact i.i.d. curve of a pool at verifier capacities ``p``.

    Parameters
    ----------
    pool
        The step-law histograms (:func:`atom_pool`, :func:`atom_pool_from_rows` or :class:`AtomScan`).
    p
        Verifier capacities P: the mean tree sizes ``N(t) = P`` at which the curve is read.

    Returns
    -------
    IIDCurve
        At each P the gain ``G`` (expected accepted draft tokens) and the i.i.d. upper bound
        ``min_t G(t) + P e^{-t}``, both capped at P, the grid error of the gain, and the curve
        ``(N(t), G(t))`` on the grid of step ``h/2``. A deterministic pool gives P for both.

    Raises
    ------
    InputError
        When the grid does not reach the largest P (raise ``t_max``) or the
        pool is deterministic.

    """
    pp = np.atleast_1d(np.asarray(p, dtype=np.float64))
    if pool.weights_fine[0] >= 1.0 - 1e-12:
        # every step has surprisal ~0: a deterministic verifier, the perfect drafter gets X = P
        zero = np.zeros_like(pp)
        return IIDCurve(
            P=pp,
            gain=pp.copy(),
            grid_error=zero,
            bound=pp.copy(),
            h=pool.h,
            t=np.zeros(1),
            size=np.full(1, np.inf),
            g=np.full(1, np.inf),
        )
    coarse = _curve(pool.weights, pool.counts, pool.h)
    t, size, gain = _curve(pool.weights_fine, pool.counts_fine, pool.h / 2)
    if size[-1] < pp.max():
        raise InputError(
            f"the grid up to t = {pool.t_max:g} nats reaches trees of {size[-1]:.3g} nodes, fewer than "
            f"P = {pp.max():.3g}; raise t_max"
        )
    fine = gain_at(size, gain, pp)
    rough = gain_at(coarse[1], coarse[2], pp)
    bound = threshold_bound(gain, t, pp)
    return IIDCurve(
        P=pp,
        gain=np.minimum(fine, pp),
        grid_error=np.abs(fine - rough),
        bound=np.minimum(bound, pp),
        h=pool.h,
        t=t,
        size=size,
        g=gain,
    )
