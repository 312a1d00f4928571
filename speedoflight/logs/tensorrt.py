"""TensorRT-LLM: iteration stats (read), and its Prometheus ``/metrics`` (refused, with the reason).

Iteration stats (``IterationStats.specDecodingStats``, one object per iteration; ``cpp/include/tensorrt_llm/executor/
types.h``): ``numDraftTokens``, ``numAcceptedTokens`` (draft tokens accepted, bonus excluded),
``numRequestsWithDraftTokens`` (verify steps in the iteration) and ``acceptanceLength`` = 1 + accepted / requests.
The counts are per iteration: X = sum of accepted / sum of requests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ._text import _nonnegative
from .format import any_object
from .result import Measured
from .uncertainty import between_or_totals

__all__ = ["is_tensorrt_llm", "is_tensorrt_llm_metrics", "read_tensorrt_llm", "refuse_tensorrt_llm"]


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
    return any_object(objs, lambda o: isinstance(_stats_of(o), dict))


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
        a = _nonnegative(path, where, "numAcceptedTokens", s.get("numAcceptedTokens"))
        d = _nonnegative(path, where, "numDraftTokens", s.get("numDraftTokens"))
        n = _nonnegative(path, where, "numRequestsWithDraftTokens", s.get("numRequestsWithDraftTokens"))
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
    n_arr = np.array(req)
    estimate = between_or_totals(acc, req, minimum=5, how=f"batch means over {len(acc)} iterations (t-interval)")
    return [
        Measured.build(
            path,
            "tensorrt-llm",
            "",
            estimate,
            float(n_arr.sum()),
            "TensorRT-LLM counts accepted draft tokens (bonus excluded) and requests with drafts per "
            "iteration: X = sum numAcceptedTokens / sum numRequestsWithDraftTokens (acceptanceLength = X + 1)",
            mean_draft_size=float(sum(drafted)) / float(n_arr.sum()),
        )
    ]


def is_tensorrt_llm_metrics(text: str) -> bool:
    """Whether ``text`` is a Prometheus scrape with TensorRT-LLM's speculative-decoding series.

    Parameters
    ----------
    text
        The file's content.

    Returns
    -------
    bool
        True when a ``trtllm_spec_decode_`` series (``trtllm:`` through Dynamo) is present.

    """
    return "trtllm_spec_decode_" in text or "trtllm:spec_decode_" in text


def refuse_tensorrt_llm(path: str, text: str) -> list[Measured]:
    """Refuse TensorRT-LLM's ``/metrics``, saying why: X cannot be derived from it.

    ``tensorrt_llm/metrics/collector.py`` (``MetricsCollector``) sums ``specDecodingStats.numDraftTokens`` and
    ``numAcceptedTokens`` into ``trtllm_spec_decode_num_draft_tokens_total`` and
    ``..._num_accepted_tokens_total``, but keeps no count of drafts (requests with draft tokens per iteration), and
    ``trtllm_spec_decode_acceptance_length`` is a gauge set to the *last iteration's* acceptance length. Accepted
    / draft tokens is the per-token acceptance rate, not X; the gauge is one iteration, not a mean.

    Parameters
    ----------
    path
        The file's name, for the message.
    text
        The scrape (unused: every TensorRT-LLM scrape lacks the drafts).

    Returns
    -------
    list of Measured
        Never returns.

    Raises
    ------
    InputError
        Always, with the reason and what to read instead.

    """
    raise InputError(
        f"{path}: TensorRT-LLM's /metrics cannot give X: it counts draft and accepted tokens but not drafts, and "
        "trtllm_spec_decode_acceptance_length is a gauge of the last iteration only; save the iteration stats "
        "(specDecodingStats per iteration, format tensorrt-llm) instead"
    )
