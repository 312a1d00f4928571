"""Rows of any readable file as float64 log-probabilities (for pools of distributions)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from .._config import DEFAULT_CHUNK_BYTES
from . import open_source
from .scan import check_chunk, check_pool_source, chunk_logprobs

__all__ = ["logprob_rows"]


def logprob_rows(
    paths: str | Sequence[str],
    *,
    kind: str | None = None,
    vocab_size: int | None = None,
    temperature: float = 1.0,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Iterator[tuple[np.ndarray, bool]]:
    """Yield ``(log-probabilities [n, w], full)`` chunk by chunk, over all files.

    Parameters
    ----------
    paths
        Files or globs.
    kind, vocab_size
        As for :func:`speedoflight.readers.open_source`.
    temperature
        Full rows (logits, log-probabilities or probabilities over the whole
        vocabulary) are normalised in float64 at this temperature; top-k rows
        are passed on as listed (``full`` false), missing entries as ``-inf``,
        and cannot be rescaled.
    chunk_bytes
        Bytes of rows read at a time.

    Yields
    ------
    tuple
        ``(log-probabilities, full)`` per chunk.

    """
    from .._util.paths import expand_paths
    from .verifier import OneVerifier

    check = OneVerifier()
    for path in expand_paths([paths] if isinstance(paths, str) else paths):
        with open_source(path, kind=kind, vocab_size=vocab_size) as src:
            check.add(src)
            full = check_pool_source(src, temperature)
            for chunk in src.chunks(chunk_bytes):
                check_chunk(src, chunk)
                yield chunk_logprobs(src, chunk, temperature, full), full
