"""Rows of any readable file as float64 log-probabilities (for pools of distributions)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from scipy.special import logsumexp

from .._config import DEFAULT_CHUNK_BYTES, MISSING_LOGPROB
from ..errors import InputError
from . import open_source

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

    Full rows (logits, log-probabilities or probabilities over the whole
    vocabulary) are normalised in float64 at ``temperature``; top-k rows are
    passed on as listed (``full`` false), missing entries as ``-inf``, and
    cannot be rescaled.
    """
    from .._util.paths import expand_paths

    for path in expand_paths([paths] if isinstance(paths, str) else paths):
        src = open_source(path, kind=kind, vocab_size=vocab_size)
        full = not (src.truncated or src.width is None)
        if not full and temperature != 1.0:
            raise InputError(f"{path}: top-k rows cannot be rescaled to temperature {temperature}")
        if full and temperature <= 0:
            raise InputError("--temperature must be > 0 for a pool (at 0 every row is deterministic)")
        for chunk in src.chunks(chunk_bytes):
            x = np.asarray(chunk.values, dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                if src.kind == "probs":
                    x = np.log(x)
                if full:
                    x = x / temperature
                    x = x - logsumexp(x, axis=1, keepdims=True)
            if np.isnan(x).any() or (x == np.inf).any():
                raise InputError(f"{path}: rows starting at {chunk.start} hold NaN or +inf; check the file")
            if not full:
                x = np.where(x <= MISSING_LOGPROB, -np.inf, x)  # chunks may be read-only file views
            yield x, full
