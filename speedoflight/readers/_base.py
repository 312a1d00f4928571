"""Types shared by the readers: a source of rows and its chunks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from ..errors import InputError

__all__ = ["KINDS", "RowChunk", "Rows", "Source", "check_kind", "detect_kind", "rows_per_chunk"]

KINDS = ("logits", "logprobs", "probs")


@dataclass(frozen=True)
class RowChunk:
    """A block of consecutive rows from one source.

    Attributes
    ----------
    values
        ``[n, w]`` values as stored (float16, bfloat16, float32 or float64).
        For top-k rows, missing entries hold ``-inf`` (or 0 for probabilities).
    start
        Index of the first row within its source.
    caps
        Optional ``[n]`` upper bound on any unlisted token's probability
        (NaN: use the smallest listed probability).
    entropy, m2
        Optional ``[n]`` exact full-vocabulary H and M2 (NaN where unknown).
    seq, pos
        Optional ``[n]`` sequence ids and positions within the sequence.
    surprisal
        Optional ``[n]`` surprisal ``-log p`` of the token actually sampled.
    prompt
        Optional ``[n]`` prompt ids, when several sequences continue one
        prompt (confidence intervals then resample prompts).
    ids, next_token
        Optional ``[n, w]`` token ids of the listed values and ``[n]`` the token sampled after each row
        (a dump's ``topk_ids`` and ``next_token``, read only when asked: ``Source.chunks(..., with_ids=True)``).

    """

    values: np.ndarray
    start: int
    caps: np.ndarray | None = None
    entropy: np.ndarray | None = None
    m2: np.ndarray | None = None
    seq: np.ndarray | None = None
    pos: np.ndarray | None = None
    surprisal: np.ndarray | None = None
    prompt: np.ndarray | None = None
    ids: np.ndarray | None = None
    next_token: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.values.shape[0])


@dataclass
class Source:
    """An opened file of rows: what it is and how to iterate over it.

    Attributes
    ----------
    path
        The file.
    format
        Human-readable format name (``"npy"``, ``"openai-chat-jsonl"``, ...).
    kind
        What a row holds: ``"logits"``, ``"logprobs"`` or ``"probs"``.
    kind_how
        ``"given"`` (``--kind``), ``"format"`` (the format fixes it) or
        ``"detected"`` (inferred from the values; the CLI says so).
    vocab_size
        Vocabulary size, when known.
    width
        Values per row as stored (``< vocab_size`` for top-k rows).
    n_rows
        Number of rows, when known before reading.
    metadata
        Whatever the file records about itself.

    """

    path: str
    format: str
    kind: str
    kind_how: str
    vocab_size: int | None
    width: int | None
    n_rows: int | None
    dtype: str
    metadata: dict[str, Any] = field(default_factory=dict)
    _chunks: Callable[[int], Iterator[RowChunk]] | None = None
    _file: IO[bytes] | None = field(default=None, repr=False)

    def close(self) -> None:
        """Close the file this source holds open (array formats keep one handle for everything they read)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    @property
    def truncated(self) -> bool:
        """True when rows hold only each distribution's top k entries."""
        if self.vocab_size is None or self.width is None:
            return False
        return self.width < self.vocab_size

    def chunks(self, chunk_bytes: int, with_ids: bool = False) -> Iterator[RowChunk]:
        """Iterate over the rows in chunks of about ``chunk_bytes`` bytes.

        Parameters
        ----------
        chunk_bytes
            Bytes of values per chunk (bounds the working memory).
        with_ids
            Also read the token ids and sampled tokens where the format records them (speedoflight dumps).

        Returns
        -------
        Iterator of RowChunk
            The chunks, in row order.

        """
        if self._chunks is None:  # pragma: no cover - every reader sets it
            raise RuntimeError("source has no chunk iterator")
        if with_ids and (self.format.startswith("speedoflight-dump") or self.format.endswith("-jsonl")):
            return self._chunks(chunk_bytes, True)  # type: ignore[call-arg]
        return self._chunks(chunk_bytes)


class Rows:
    """A 2-D array of rows, read in chunks: its ``shape`` ``(rows, width)`` and ``dtype``; subclasses read the rows.

    Each array format (a memory-mapped ``.npy``, a compressed ``.npz`` member, a torch tensor) sets ``shape`` and
    ``dtype``, and reads ``step`` rows at a time in ``_chunks``.
    """

    shape: tuple[int, int]
    dtype: np.dtype

    def chunks(self, chunk_bytes: int) -> Iterator[RowChunk]:
        """Yield consecutive row chunks (a memory-mapped array releases each chunk's pages after use).

        Parameters
        ----------
        chunk_bytes
            The bytes a chunk may hold (at least one row).

        Yields
        ------
        RowChunk
            The next rows.

        """
        n, w = self.shape
        yield from self._chunks(n, w, rows_per_chunk(chunk_bytes, w, self.dtype.itemsize))

    def _chunks(self, n: int, w: int, step: int) -> Iterator[RowChunk]:
        """Yield the ``n`` rows of ``w`` values, ``step`` rows at a time."""
        raise NotImplementedError  # pragma: no cover - every format reads its rows


def rows_per_chunk(chunk_bytes: int, width: int, itemsize: int) -> int:
    """Return how many rows fit in ``chunk_bytes`` (at least one).

    Parameters
    ----------
    chunk_bytes
        The bytes a chunk may hold.
    width, itemsize
        Values per row and bytes per value.

    Returns
    -------
    int
        Rows per chunk.

    """
    return max(1, int(chunk_bytes) // max(1, width * itemsize))


def check_kind(kind: str | None) -> str | None:
    """Validate a ``--kind`` value.

    Parameters
    ----------
    kind
        ``"logits"``, ``"logprobs"``, ``"probs"`` or None.

    Returns
    -------
    str or None
        The same value, once checked.

    """
    if kind is None:
        return None
    if kind not in KINDS:
        raise InputError(f"{{kind}} {kind!r} is not one of {', '.join(KINDS)}", param="kind")
    return kind


def detect_kind(sample: np.ndarray, path: str, vocab_size: int | None) -> str:
    """Infer what a dense array holds, only where that is unambiguous.

    Rules (on a sample of rows, as float64):

    * full rows with some value above 1: ``logits`` (neither probabilities
      nor log-probabilities can exceed 1);
    * every value in [0, 1] and every row summing to 1 (full rows) or at
      most 1 (top-k rows): ``probs``;
    * every value <= 0 and each row's ``sum exp`` equal to 1 (full rows) or
      at most 1 (top-k rows): ``logprobs``;
    * anything else is ambiguous, and the user must pass ``--kind``.

    Parameters
    ----------
    sample
        A few rows of the array.
    path
        The file, for the error.
    vocab_size
        The vocabulary's size; rows narrower than it are top-k rows. None: the rows are full.

    Returns
    -------
    str
        ``"logits"``, ``"logprobs"`` or ``"probs"``.

    """
    x = np.asarray(sample, dtype=np.float64)
    finite = x[np.isfinite(x)]
    hint = f"{path}: cannot tell whether the rows are logits, log-probabilities or probabilities; pass {{kind}}"
    if finite.size == 0:
        raise InputError(hint, param="kind")
    full = vocab_size is None or x.shape[1] >= vocab_size
    with np.errstate(all="ignore"):
        if finite.min() >= 0.0 and finite.max() <= 1.0:
            sums = np.nansum(x, axis=1)
            if (full and np.allclose(sums, 1.0, atol=1e-2)) or (not full and np.all(sums <= 1.0 + 1e-2)):
                return "probs"
        if finite.max() <= 0.0:
            sums = np.nansum(np.exp(x), axis=1)
            if (full and np.allclose(sums, 1.0, atol=1e-2)) or (not full and np.all(sums <= 1.0 + 1e-2)):
                return "logprobs"
        if finite.max() > 1.0 and full:
            return "logits"
    raise InputError(hint, param="kind")
