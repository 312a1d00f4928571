"""TensorRT-LLM iteration stats and NVIDIA AIPerf per-request records.

TensorRT-LLM (``IterationStats.specDecodingStats``, one object per iteration; ``cpp/include/tensorrt_llm/executor/
types.h``): ``numDraftTokens``, ``numAcceptedTokens`` (draft tokens accepted, bonus excluded),
``numRequestsWithDraftTokens`` (verify steps in the iteration) and ``acceptanceLength`` = 1 + accepted / requests.
The counts are per iteration: X = sum of accepted / sum of requests.

AIPerf (``profile_export.jsonl``, one record per request): ``metrics.spec_decode_accepted_draft_tokens``,
``spec_decode_steps`` (verify steps), ``spec_decode_draft_tokens``, ``spec_decode_acceptance_length`` (X + 1); with
``--export-level records`` a ``spec_decode_acceptance`` object may add the histogram of X per step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ._text import check_histogram, histogram
from .result import Measured
from .uncertainty import between_groups, from_distribution, totals_only

__all__ = ["is_aiperf", "is_tensorrt_llm", "read_aiperf", "read_tensorrt_llm"]


def _stats_of(o: Any) -> Any:
    return o.get("specDecodingStats") if isinstance(o, dict) else None


def is_tensorrt_llm(objs: list[Any]) -> bool:
    """Whether the objects are TensorRT-LLM iteration stats with ``specDecodingStats``.

    Parameters
    ----------
    objs
        The file's JSON objects.

    Returns
    -------
    bool
        True when one holds ``specDecodingStats``.

    """
    return any(isinstance(_stats_of(o), dict) for o in objs[:50])


def _num(path: str, where: str, name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
        raise InputError(f"{path}: {where}: {name} = {v!r} is not a count >= 0")
    return float(v)


def read_tensorrt_llm(path: str, objs: list[Any]) -> list[Measured]:
    """Read TensorRT-LLM iteration stats into one entry: X = accepted draft tokens / requests with drafts.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    objs
        Iteration stats objects (a JSON list or JSONL), each with ``specDecodingStats`` (null when none).

    Returns
    -------
    list of Measured
        One entry, with batch means over the iterations (5 or more with drafts) for the interval.

    """
    acc, req, drafted = [], [], []
    for i, o in enumerate(objs, start=1):
        s = _stats_of(o)
        if s is None:
            continue
        where = f"record {i}"
        if not isinstance(s, dict):
            raise InputError(f"{path}: {where}: specDecodingStats is not an object")
        a = _num(path, where, "numAcceptedTokens", s.get("numAcceptedTokens"))
        d = _num(path, where, "numDraftTokens", s.get("numDraftTokens"))
        n = _num(path, where, "numRequestsWithDraftTokens", s.get("numRequestsWithDraftTokens"))
        if a > d:
            raise InputError(f"{path}: {where}: {a:g} tokens accepted but only {d:g} drafted")
        if n == 0:
            continue
        length = s.get("acceptanceLength")
        if isinstance(length, int | float) and abs(length - (1 + a / n)) > 1e-6 * max(1.0, length):
            raise InputError(
                f"{path}: {where}: acceptanceLength {length} is not 1 + {a:g}/{n:g}; the record is inconsistent"
            )
        acc.append(a)
        req.append(n)
        drafted.append(d)
    if not acc:
        raise InputError(f"{path}: no iteration with specDecodingStats and draft tokens")
    a_arr, n_arr = np.array(acc), np.array(req)
    if len(acc) >= 5:
        mean, se, ci, _ = between_groups(a_arr, n_arr)
        how = f"batch means over {len(acc)} iterations (t-interval)"
    else:
        mean, se, ci, how = totals_only(float(a_arr.sum()), float(n_arr.sum()), None)
    return [
        Measured.build(
            path,
            "tensorrt-llm",
            "",
            (mean, se, ci, how),
            float(n_arr.sum()),
            "TensorRT-LLM counts accepted draft tokens (bonus excluded) and requests with drafts per "
            "iteration: X = sum numAcceptedTokens / sum numRequestsWithDraftTokens (acceptanceLength = X + 1)",
            mean_draft_size=float(sum(drafted)) / float(n_arr.sum()),
        )
    ]


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
    return any(isinstance(o, dict) and _metric(o, "spec_decode_accepted_draft_tokens") is not None for o in objs[:50])


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
        a = _num(path, where, "spec_decode_accepted_draft_tokens", a)
        n = _metric(o, "spec_decode_steps")
        if n is None:
            length = _metric(o, "spec_decode_acceptance_length")
            if not isinstance(length, int | float) or not length > 1:
                raise InputError(f"{path}: {where}: neither spec_decode_steps nor an acceptance length above 1")
            n = a / (length - 1)
        n = _num(path, where, "spec_decode_steps", n)
        if n == 0:
            continue
        d = _metric(o, "spec_decode_draft_tokens")
        if d is not None and a > _num(path, where, "spec_decode_draft_tokens", d):
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
    a_arr, n_arr = np.array(acc), np.array(steps)
    dist = None
    if len(acc) >= 2:
        mean, se, ci, how = between_groups(a_arr, n_arr)
    else:
        mean, se, ci, how = totals_only(float(a_arr.sum()), float(n_arr.sum()), None)
    if hists and all(h is not None for h in hists):
        counts = np.zeros(max(len(h) for h in hists if h is not None))
        for h in hists:
            if h is not None:
                counts[: len(h)] += h
        dist = counts / counts.sum()
        if len(acc) < 2:
            mean, se, ci, how = from_distribution(counts, "the acceptance histogram", mean)
    return [
        Measured.build(
            path,
            "aiperf",
            "",
            (mean, se, ci, how),
            float(n_arr.sum()),
            "AIPerf records accepted draft tokens (bonus excluded) and verify steps per request: "
            "X = accepted / steps (its acceptance length is X + 1)",
            mean_draft_size=float(np.nansum(drafted)) / float(n_arr.sum()) if not np.all(np.isnan(drafted)) else None,
            groups=len(acc),
            distribution=dist,
        )
    ]
