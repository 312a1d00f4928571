"""Measured acceptance from the logs people have, normalised to X per iteration.

Every reader returns :class:`Measured` entries: X is the number of **draft
tokens accepted per iteration** (verifier call); the iteration produces
X + 1 tokens, which serving systems call the "acceptance length" or
"tokens per step". Each entry says which convention its source used
(``convention``) and how its uncertainty was obtained (``uncertainty``).

Where a source prints rounded values (vLLM and llama.cpp print the mean
acceptance length to 2 decimals and per-position rates to 3), the checks
between its numbers allow for that rounding and nothing more.

The formats (:func:`read_acceptance` detects them from the content, in this
order; :mod:`.table` holds one entry per format, and ``docs/cli.md`` says what
each reads and which source it was written from):

"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..errors import InputError
from ._text import _read_text
from .render import rst_list
from .result import Measured
from .table import FORMATS, by_name, detect

__doc__ = (__doc__ or "") + rst_list()

__all__ = ["FORMATS", "Measured", "detect", "read_acceptance", "read_many"]


def read_acceptance(
    path: str | os.PathLike[str], fmt: str | None = None, num_speculative_tokens: int | None = None
) -> list[Measured]:
    """Read measured acceptance from any supported file.

    Parameters
    ----------
    path
        A CSV, JSONL/JSON, Prometheus text or server log (see the module docstring).
    fmt
        Force a format (one of :data:`FORMATS`); by default it is detected from the content.

    num_speculative_tokens
        K, the draft tokens per call of a chain, for vLLM log lines that print neither the mean acceptance
        length nor per-position rates (drafts = drafted / K).

    Returns
    -------
    list of Measured
        One entry per system in the file (drafter and shape, model, or drafting implementation).

    Raises
    ------
    InputError
        For an unreadable file, an unknown layout, missing fields, negative counts, more tokens accepted than
        drafted, or totals that contradict each other.

    """
    p = os.fspath(path)
    if num_speculative_tokens is not None and (
        isinstance(num_speculative_tokens, bool)
        or not isinstance(num_speculative_tokens, int)
        or num_speculative_tokens < 1
    ):
        raise InputError(f"num_speculative_tokens must be a whole number >= 1, got {num_speculative_tokens!r}")
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    text = _read_text(p)
    if not text.strip():
        raise InputError(f"{p}: is empty")
    kind = fmt or detect(p, text)
    if kind not in FORMATS:
        raise InputError(
            f"{p}: not a recognised acceptance log; expected one of: {', '.join(FORMATS)} (a CSV needs a header "
            "line with 'accepted' or 'tokens_per_call')"
        )
    try:
        return by_name(kind).read(p, text, num_speculative_tokens)
    except InputError:
        raise
    except (ValueError, OverflowError) as exc:  # a number that does not parse: a damaged value, not a bug
        detail = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        raise InputError(
            f"{p}: a value of this {kind} file could not be read ({detail}); the file looks damaged"
        ) from None


def read_many(
    paths: Iterable[str | os.PathLike[str]], fmt: str | None = None, num_speculative_tokens: int | None = None
) -> list[Measured]:
    """Read several files (see :func:`read_acceptance`) into one list.

    Parameters
    ----------
    paths
        The files, read in order.
    fmt
        Force one format for every file (one of :data:`FORMATS`); by default each file's is detected.

    num_speculative_tokens
        As for :func:`read_acceptance`.

    Returns
    -------
    list of Measured
        The entries of every file, in the order of ``paths``.

    """
    out: list[Measured] = []
    for path in paths:
        out.extend(read_acceptance(path, fmt, num_speculative_tokens))
    return out
