"""One pass over the rows of several sources, feeding every consumer that needs them.

A command that needs the moments, an i.i.d. pool (tails dropped and lumped)
and the sampled trajectories of the same dump reads it once: :func:`scan`
opens nothing itself, iterates each source's chunks once, converts a chunk
to float64 log-probabilities at most once (for the consumers that ask for
them, see :func:`chunk_logprobs`), and hands each chunk to every consumer in
turn. Every chunk is validated once (:func:`~speedoflight.kernels.rowmoments.check_rows`, the estimator's
check): by the first consumer where it sets ``checks_rows`` (the estimator checks as it computes), else here. A
consumer is any object with ``wants_logprobs``, ``begin(i, source)``
(checks before the first chunk of source i) and ``add(i, source, chunk,
logprobs, full)``; one that sets ``wants_ids`` gets chunks with token ids.

On a dask cluster (:func:`scan_shards`) each file is one task: a worker feeds a blank copy of each consumer
(``blank()``) the file's rows and returns what it kept (``part()``): sums, histograms and per-sequence values,
never rows. The driver adds the parts in file order (``merge(i, part)``), so the result is the single scan's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from .._config import DEFAULT_CHUNK_BYTES, MIN_TEMPERATURE, MISSING_LOGPROB
from ..errors import InputError
from ._base import RowChunk, Source

__all__ = [
    "ModelNameScan",
    "RowConsumer",
    "ShardConsumer",
    "check_chunk",
    "check_pool_source",
    "chunk_logprobs",
    "mergeable",
    "scan",
    "scan_shards",
]


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


class ShardConsumer(RowConsumer, Protocol):
    """A consumer that can run on a worker, one file at a time (:func:`scan_shards`)."""

    def blank(self) -> ShardConsumer:
        """Return an empty consumer with the same settings, holding nothing that cannot travel (no open file).

        Returns
        -------
        ShardConsumer
            Sent to a worker, which scans one file into it.

        """

    def part(self) -> Any:
        """Return what this consumer kept of the one file it was fed: sums and per-sequence values, not rows.

        Returns
        -------
        object
            Sent back to the driver.

        """

    def merge(self, index: int, part: Any) -> None:
        """Add file ``index``'s part; the driver merges the files in order, as :func:`scan` would read them.

        Parameters
        ----------
        index
            The file's place among the sources.
        part
            What :meth:`part` returned for it on a worker.

        """


def mergeable(consumer: Any) -> bool:
    """Whether ``consumer`` can run on workers (has ``blank``, ``part`` and ``merge``).

    Parameters
    ----------
    consumer
        A :class:`RowConsumer`.

    Returns
    -------
    bool
        True for a :class:`ShardConsumer`.

    """
    return all(callable(getattr(consumer, k, None)) for k in ("blank", "part", "merge"))


def scan_shards(
    client: Any,
    sources: Sequence[Any],
    consumers: Sequence[Any],
    *,
    open_kw: dict[str, Any],
    temperature: float = 1.0,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: bool = False,
) -> None:
    """:func:`scan` on a dask cluster: one task per source, each returning its consumers' parts.

    Parameters
    ----------
    client
        A dask client (:func:`speedoflight._util.dist.connect`).
    sources
        The sources (opened, their facts, or paths), in order: each worker opens its own by path.
    consumers
        :class:`ShardConsumer` objects; each receives every file's part, in order.
    open_kw
        How the sources were opened (``kind``, ``vocab_size``, ``tensor`` for
        :func:`~speedoflight.readers.open_source`).
    temperature, chunk_bytes
        As for :func:`scan`.
    progress
        A progress bar of finished files on stderr (the driver's).

    """
    from .._util.dist import run_tasks

    blanks = [c.blank() for c in consumers]
    calls = [(getattr(s, "path", s), open_kw, blanks, temperature, chunk_bytes) for s in sources]
    for i, parts in enumerate(run_tasks(client, shard_parts, calls, progress=progress)):
        for c, part in zip(consumers, parts, strict=True):
            c.merge(i, part)


def shard_parts(
    path: str, open_kw: dict[str, Any], blanks: Sequence[Any], temperature: float, chunk_bytes: int
) -> list[Any]:
    """One file's parts (a dask task): open it, scan it into the blank consumers, return their parts.

    Parameters
    ----------
    path
        The file.
    open_kw
        Keywords of :func:`~speedoflight.readers.open_source`.
    blanks
        Empty consumers (:meth:`ShardConsumer.blank`).
    temperature, chunk_bytes
        As for :func:`scan`.

    Returns
    -------
    list
        Each consumer's :meth:`ShardConsumer.part`, in order.

    """
    from . import open_source

    src = open_source(path, **open_kw)
    scan([src], blanks, temperature=temperature, chunk_bytes=chunk_bytes)
    return [c.part() for c in blanks]


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
        raise InputError("{temperature} must be > 0 for a pool (at 0 every row is deterministic)", param="temperature")
    if full and temperature < MIN_TEMPERATURE:
        raise InputError(
            f"{{temperature}} {temperature:g} is below {MIN_TEMPERATURE:g}, where 1/T overflows", param="temperature"
        )
    return full


def check_chunk(src: Source, chunk: RowChunk) -> None:
    """Refuse a chunk whose rows no distribution gives (:func:`~speedoflight.kernels.rowmoments.check_rows`).

    Parameters
    ----------
    src
        The chunk's source (its kind and vocabulary).
    chunk
        Rows as stored.

    """
    from ..kernels.rowmoments import check_rows

    check_rows(
        chunk.values, src.kind, vocab_size=src.vocab_size, caps=chunk.caps, where=src.path, row_offset=chunk.start
    )


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
    sources: Iterable[Source],
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
        Opened sources, in order, or a :class:`~speedoflight.readers.sources.Sources` that opens each in its turn
        and closes it after its rows.
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
    checked = bool(consumers) and getattr(consumers[0], "checks_rows", False)  # the first sees each chunk first
    want_ids = any(getattr(c, "wants_ids", False) for c in consumers)
    # files opened one at a time (readers.sources.Sources) say their rows only when opened
    total = sum(s.n_rows or 0 for s in sources) or None if isinstance(sources, list | tuple) else None
    n = 0
    with tqdm(total=total, unit="row", disable=not progress, file=sys.stderr, leave=False) as bar:
        for i, src in enumerate(sources):
            for c in consumers:
                c.begin(i, src)
            full = check_pool_source(src, temperature) if want_lp else False
            for chunk in src.chunks(chunk_bytes, with_ids=want_ids):
                if not checked:
                    check_chunk(src, chunk)
                lp = None  # converted once, when the first consumer that wants it comes (earlier ones check first)
                for c in consumers:
                    if c.wants_logprobs and lp is None:
                        lp = chunk_logprobs(src, chunk, temperature, full)
                    c.add(i, src, chunk, lp if c.wants_logprobs else None, full)
                n += chunk.n
                bar.update(chunk.n)
    return n


class ModelNameScan:
    """A consumer that keeps the model the first source names ('' for arrays and logs that name none), and its metadata."""

    wants_logprobs = False

    def __init__(self) -> None:
        self.name = ""
        self.n_layers: int | None = None
        #: The first source's metadata (empty where it has none).
        self.metadata: dict[str, Any] = {}

    def begin(self, index: int, source: Any) -> None:
        """Keep the first source's model name and layer count (from its metadata).

        Parameters
        ----------
        index
            The source's place in the scan.
        source
            The opened source.

        """
        from .._util.provenance import model_name

        if index == 0:
            meta = source.metadata or {}
            self.metadata = dict(meta) if isinstance(meta, dict) else {}
            self.name = model_name(meta) or ""
            layers = meta.get("n_layers") if isinstance(meta, dict) else None
            self.n_layers = int(layers) if isinstance(layers, int) and layers > 0 else None

    def add(self, *args: Any) -> None:
        """Nothing: the name is in the metadata.

        Parameters
        ----------
        *args
            The chunk (unused).

        """

    def blank(self) -> ModelNameScan:
        """Return an empty one, for a worker.

        Returns
        -------
        ModelNameScan
            With no name yet.

        """
        return ModelNameScan()

    def part(self) -> tuple[str, int | None]:
        """Return the file's model name and layers.

        Returns
        -------
        tuple
            ``(name, n_layers)``.

        """
        return self.name, self.n_layers

    def merge(self, index: int, part: tuple[str, int | None]) -> None:
        """Keep the first file's name and layers.

        Parameters
        ----------
        index
            The file's place among the sources.
        part
            Its ``(name, n_layers)``.

        """
        if index == 0:
            self.name, self.n_layers = part
