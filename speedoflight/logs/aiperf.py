"""NVIDIA AIPerf per-request records.

``profile_export.jsonl``, one record per request: ``metrics.spec_decode_accepted_draft_tokens``, ``spec_decode_steps``
(verify steps), ``spec_decode_draft_tokens``, ``spec_decode_acceptance_length`` (X + 1); with ``--export-level
records`` a ``spec_decode_acceptance`` object may add the histogram of X per step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ._text import _nonnegative, check_histogram, histogram
from .format import any_object
from .result import Measured
from .uncertainty import between_or_totals, from_distribution

__all__ = ["is_aiperf", "read_aiperf"]


def _metric(rec: dict[str, Any], tag: str) -> Any:
    m = rec.get("metrics", {}).get(tag) if isinstance(rec.get("metrics"), dict) else None
    return m.get("value") if isinstance(m, dict) else m


def is_aiperf(objs: list[Any]) -> bool:
    """Whether the objects are AIPerf records with speculative-decoding metrics.

    Parameters
    ----------
    objs
        The file's JSON objects.

    Returns
    -------
    bool
        True when a record's ``metrics`` hold ``spec_decode_accepted_draft_tokens``.

    """
    return any_object(objs, lambda o: _metric(o, "spec_decode_accepted_draft_tokens") is not None)


def read_aiperf(path: str, objs: list[Any]) -> list[Measured]:
    """Read AIPerf ``profile_export.jsonl`` records into one entry, X per verify step with the interval between requests.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    objs
        Per-request records.

    Returns
    -------
    list of Measured
        One entry; the distribution of X from the records' acceptance histograms where every record has one.

    """
    acc, steps, drafted, hists = [], [], [], []
    for i, o in enumerate(objs, start=1):
        if not isinstance(o, dict):
            continue
        a = _metric(o, "spec_decode_accepted_draft_tokens")
        if a is None:
            continue
        where = f"line {i}"
        a = _nonnegative(path, where, "spec_decode_accepted_draft_tokens", a)
        n = _metric(o, "spec_decode_steps")
        if n is None:
            length = _metric(o, "spec_decode_acceptance_length")
            if not isinstance(length, int | float) or not length > 1:
                raise InputError(f"{path}: {where}: neither spec_decode_steps nor an acceptance length above 1")
            n = a / (length - 1)
        n = _nonnegative(path, where, "spec_decode_steps", n)
        if n == 0:
            continue
        d = _metric(o, "spec_decode_draft_tokens")
        if d is not None and a > _nonnegative(path, where, "spec_decode_draft_tokens", d):
            raise InputError(f"{path}: {where}: {a:g} draft tokens accepted but only {d:g} drafted")
        acc.append(a)
        steps.append(n)
        drafted.append(float(d) if d is not None else np.nan)
        sda = o.get("spec_decode_acceptance")
        h = histogram(path, where, sda.get("acceptance_histogram")) if isinstance(sda, dict) else None
        check_histogram(path, where, h, n, a)
        hists.append(h)
    if not acc:
        raise InputError(f"{path}: no AIPerf record with spec_decode_accepted_draft_tokens and steps")
    n_arr = np.array(steps)
    dist = None
    estimate = between_or_totals(acc, steps)
    if hists and all(h is not None for h in hists):
        counts = np.zeros(max(len(h) for h in hists if h is not None))
        for h in hists:
            if h is not None:
                counts[: len(h)] += h
        dist = counts / counts.sum()
        if len(acc) < 2:
            estimate = from_distribution(counts, "the acceptance histogram", estimate[0])
    return [
        Measured.build(
            path,
            "aiperf",
            "",
            estimate,
            float(n_arr.sum()),
            "AIPerf records accepted draft tokens (bonus excluded) and verify steps per request: "
            "X = accepted / steps (its acceptance length is X + 1)",
            mean_draft_size=float(np.nansum(drafted)) / float(n_arr.sum()) if not np.all(np.isnan(drafted)) else None,
            groups=len(acc),
            distribution=dist,
        )
    ]
