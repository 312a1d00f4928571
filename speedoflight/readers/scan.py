"""One pass over the rows of several sources, feeding every consumer that needs them.

A command that needs the moments, an i.i.d. pool (tails dropped and lumped)
and the sampled trajectories of the same dump reads it once: :func:`scan`
opens nothing itself, iterates each source's chunks once, converts a chunk
to float64 log-probabilities at most once (for the consumers that ask for
them, see :func:`chunk_logprobs`), and hands each chunk to every consumer in
turn. A consumer is any object with ``wants_logprobs``, ``begin(i, source)``
(checks before the first chunk of source i) and ``add(i, source, chunk,
logprobs, full)``; one that sets ``wants_ids`` gets chunks with token ids.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from .._config import DEFAULT_CHUNK_BYTES, MISSING_LOGPROB
from ..errors import InputError
from ._base import RowChunk, Source

__all__ = ["RowConsumer", "check_pool_source", "chunk_logprobs", "scan"]


class RowConsumer(Protocol):
    """What :func:`scan` feeds."""

    wants_logprobs: bool

    def begin(self, index: int, source: Source) -> None:
        """Check source ``index`` before its first chunk (raise :class:`InputError` to refuse it).

        Parameters
        ----------
        index
            Position of the source in the ``sources`` given to :func:`scan`.
        source
            The opened source, before any of its chunks is read.

        """

    def add(self, index: int, source: Source, chunk: RowChunk, logprobs: np.ndarray | None, full: bool) -> None:
        """Take one chunk (``logprobs`` only when ``wants_logprobs``).

        Parameters
        ----------
        index
            Position of the chunk's source in the ``sources`` given to :func:`scan`.
        source
            The chunk's source.
        chunk
            The rows as stored.
        logprobs
            ``[n, w]`` float64 log-probabilities of the chunk's rows (see :func:`chunk_logprobs`) when
            ``wants_logprobs``, else None.
        full
            Whether the source's rows are full distributions (see :func:`check_pool_source`); False when
            no consumer wants log-probabilities.

        """


def check_pool_source(src: Source, temperature: float) -> bool:
    """Check that a source's rows can be turned into log-probabilities at ``temperature``.

    Parameters
    ----------
    src
        An opened source.
    temperature
        The temperature the rows are rescaled to (full rows only).

    Returns
    -------
    bool
        Whether its rows are full distributions (else top-k rows, passed on as listed).

    """
    full = not (src.truncated or src.width is None)
    if not full and temperature != 1.0:
        raise InputError(f"{src.path}: top-k rows cannot be rescaled to temperature {temperature}")
    if full and temperature <= 0:
        raise InputError("--temperature must be > 0 for a pool (at 0 every row is deterministic)")
    return full


def chunk_logprobs(src: Source, chunk: RowChunk, temperature: float, full: bool) -> np.ndarray:
    """Return a chunk's rows as float64 log-probabilities.

    Parameters
    ----------
    src
        The chunk's source.
    chunk
        Rows as stored.
    temperature
        Full rows are normalised at this temperature (top-k rows cannot be rescaled).
    full
        What :func:`check_pool_source` said of the source.

    Returns
    -------
    ndarray
        ``[n, w]`` log-probabilities; missing top-k entries are ``-inf``.

    """
    from scipy.special import logsumexp

    x = np.asarray(chunk.values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if src.kind == "probs":
            x = np.log(x)
        if full:
            x = x / temperature
            x = x - logsumexp(x, axis=1, keepdims=True)
    if np.isnan(x).any() or (x == np.inf).any():
        raise InputError(f"{src.path}: rows starting at {chunk.start} hold NaN or +inf; check the file")
    if not full:
        x = np.where(x <= MISSING_LOGPROB, -np.inf, x)  # chunks may be read-only file views
    return x


def scan(
    sources: Sequence[Source],
    consumers: Sequence[Any],
    *,
    temperature: float = 1.0,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: bool = False,
) -> int:
    """Read every source's rows once and hand each chunk to every consumer.

    Parameters
    ----------
    sources
        Opened sources, in order.
    consumers
        :class:`RowConsumer` objects, called in this order for each chunk.
    temperature
        Temperature of the log-probabilities given to consumers that want them.
    chunk_bytes
        Bytes of rows read at a time (bounds the working memory).
    progress
        A progress bar on stderr.

    Returns
    -------
    int
        Rows read.

    """
    from tqdm import tqdm

    want_lp = any(c.wants_logprobs for c in consumers)
    want_ids = any(getattr(c, "wants_ids", False) for c in consumers)
    total = sum(s.n_rows or 0 for s in sources) or None
    n = 0
    with tqdm(total=total, unit="row", disable=not progress, file=sys.stderr, leave=False) as bar:
        for i, src in enumerate(sources):
            for c in consumers:
                c.begin(i, src)
            full = check_pool_source(src, temperature) if want_lp else False
            for chunk in src.chunks(chunk_bytes, with_ids=want_ids):
                lp = None  # converted once, when the first consumer that wants it comes (earlier ones check first)
                for c in consumers:
                    if c.wants_logprobs and lp is None:
                        lp = chunk_logprobs(src, chunk, temperature, full)
                    c.add(i, src, chunk, lp if c.wants_logprobs else None, full)
                n += chunk.n
                bar.update(chunk.n)
    return n
