"""Measured acceptance from the logs people have, normalised to X per iteration.

Every reader returns :class:`Measured` entries: X is the number of **draft
tokens accepted per iteration** (verifier call); the iteration produces
X + 1 tokens, which serving systems call the "acceptance length" or
"tokens per step". Each entry says which convention its source used
(``convention``) and how its uncertainty was obtained (``uncertainty``).

Formats (:func:`read_acceptance` detects them from the content):

``csv`` / ``jsonl``
    Plain per-iteration logs: a column (CSV header) or key (JSONL) named
    ``accepted`` (X) or ``tokens_per_call`` / ``accept_length`` (X + 1);
    optional ``tree_size`` (or ``P``), a group column ``sequence`` /
    ``request`` (for the interval over groups), and ``label`` / ``drafter``
    to hold several systems in one file. A JSONL line may also hold a list
    (``{"accepted": [2, 0, 3]}``: one request per line).
``speedoflight-measured``
    The JSONL written by ``speedoflight measure``; one entry per drafter,
    shape and P.
``vllm-metrics``
    The Prometheus text of vLLM's ``/metrics``: ``vllm:spec_decode_num_drafts``,
    ``..._num_draft_tokens``, ``..._num_accepted_tokens`` and
    ``..._num_accepted_tokens_per_pos{position="i"}`` (with or without
    ``_total``). The counters are cumulative since the server started; the
    per-position counter at i counts drafts whose position i was accepted,
    i.e. it estimates P(X > i), not a conditional rate.
``vllm-log``
    vLLM's ``SpecDecoding metrics:`` log lines (each covers the interval
    since the previous one): fields are read by name, unknown ones ignored;
    counts are summed over intervals and engines, and each engine or process
    (``(APIServer pid=N)``, ``Engine NNN:``) is reported too.
``vllm-v0-log``
    vLLM V0's cumulative ``Speculative metrics:`` lines: X = emitted tokens /
    drafts - 1 per interval between consecutive lines.
``vllm-per-request``
    vLLM responses with per-request ``metrics.speculative_decoding``
    (``--per-request-spec-decode-metrics``; development builds: each choice's
    ``speculative_decoding_stats``): X = accepted / verify steps, the
    histogram for the distribution.
``vllm-bench``
    ``vllm bench serve`` reports: the Speculative Decoding section of each run.
``vllm-bench-json``
    ``vllm bench serve --save-result`` JSON: its ``spec_decode_*`` keys, read
    as the text section.
``vllm-offline``
    The printout of ``examples/offline_inference/spec_decode.py``.
``sglang``
    Responses with ``meta_info`` (``spec_verify_ct``, ``spec_accept_token_num``,
    ``spec_draft_token_num``, ``spec_accept_length`` = completion tokens per
    verify step), one per JSONL line or a JSON list.
``sglang-log``
    SGLang server ``Decode batch ... accept len: A`` lines (A = X + 1 per
    logging interval; intervals weighted by running requests, an estimate).
``spec-bench`` / ``eagle``
    Answer JSONL: ``choices[].accept_lengths`` (tokens per step, X + 1),
    ``new_tokens``, ``decoding_steps`` (Spec-Bench), ``choices[].new_tokens``
    and ``idxs`` (EAGLE; ``idxs`` is the last loop index of a turn, so the
    turn made idx + 1 verifier calls).
``llama.cpp``
    Server logs: per-request ``draft acceptance = R (A accepted / G generated),
    mean acceptance length = L, acceptance rate per position = (...)`` lines,
    and cumulative ``statistics <impl>: ... #gen drafts = N, ... #acc tokens = A,
    #mean acc len = L`` lines (one entry per implementation).
``tensorrt-llm``
    TensorRT-LLM iteration stats (a JSON list or JSONL) with
    ``specDecodingStats``: X = accepted draft tokens / requests with drafts,
    summed over iterations.
``aiperf``
    NVIDIA AIPerf ``profile_export.jsonl`` records with ``spec_decode_*``
    metrics: X = accepted draft tokens / verify steps per request.
``llama.cpp-summary``
    The end-of-run summary of llama.cpp's legacy ``speculative`` example
    (``n_draft``, ``n_predict``, ``n_drafted``, ``n_accept``): calls =
    n_predict - n_accept, an estimate within one call.
``llama.cpp-timings``
    llama.cpp server responses with ``timings.draft_n`` and
    ``draft_n_accepted``: only a lower bound on X (the server does not log its
    verifier calls), reported as such.

Where a source prints rounded values (vLLM and llama.cpp print the mean
acceptance length to 2 decimals and per-position rates to 3), the checks
between its numbers allow for that rounding and nothing more.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ..errors import InputError
from ._text import _json_objects, _read_text
from .answers import read_answers
from .engines import is_aiperf, is_tensorrt_llm, read_aiperf, read_tensorrt_llm
from .llamacpp import _LCPP_SLOT, is_legacy_summary, read_llamacpp, read_llamacpp_summary, read_llamacpp_timings
from .plain import _TPC_KEYS, _X_KEYS, read_csv, read_own, read_plain
from .result import FORMATS, Measured
from .sglang import read_sglang, read_sglang_log
from .vllm import _VLLM, read_prometheus, read_vllm_log
from .vllm_more import (
    V0_MARK,
    is_bench_result,
    is_bench_serve,
    is_vllm_per_request,
    read_bench_result,
    read_bench_serve,
    read_vllm_offline,
    read_vllm_per_request,
    read_vllm_v0_log,
)

__all__ = ["FORMATS", "Measured", "detect", "read_acceptance", "read_many"]


# --- detection -----------------------------------------------------------------------------------------------


def _detect_json(objs: list[Any]) -> str:
    first = next((o for o in objs if isinstance(o, dict)), None)
    if first is None:
        return "unknown"
    if is_vllm_per_request(objs):
        return "vllm-per-request"
    if is_bench_result(objs):
        return "vllm-bench-json"
    if is_tensorrt_llm(objs):
        return "tensorrt-llm"
    if is_aiperf(objs):
        return "aiperf"
    if first.get("format") == "speedoflight-measured":
        return "speedoflight-measured"
    if isinstance(first.get("choices"), list) and first["choices"] and isinstance(first["choices"][0], dict):
        ch = first["choices"][0]
        if "accept_lengths" in ch or "decoding_steps" in ch:
            return "spec-bench"
        if "idxs" in ch:
            return "eagle"
    timings = first.get("timings")
    if isinstance(timings, dict) and "draft_n_accepted" in timings:
        return "llama.cpp-timings"
    meta = first.get("meta_info")
    if isinstance(meta, dict) or "spec_verify_ct" in first or isinstance(first.get("sglext"), dict):
        return "sglang"
    if any(k in first for k in _X_KEYS + _TPC_KEYS):
        return "jsonl"
    return "unknown"


_LOG_MARKS = ("SpecDecoding metrics:", "Speculative metrics:", "Decode batch", "draft acceptance", "#gen drafts")


def detect(path: str, text: str) -> str:
    """Return the format of an acceptance file, detected from its content.

    Parameters
    ----------
    path
        The file's name, for error messages.
    text
        The file's content.

    Returns
    -------
    str
        One of :data:`FORMATS`, or ``"unknown"``.

    """
    head = text.lstrip()[:1]
    if head in ("{", "["):
        try:
            objs = _json_objects(path, text)
        except InputError:
            if text.lstrip().startswith('{"format": "speedoflight-measured"'):
                return "speedoflight-measured"
            if not any(mark in text for mark in _LOG_MARKS):  # logs whose lines start "[date ...]"
                raise
        else:
            return _detect_json(objs)
    if _VLLM in text:
        return "vllm-metrics"
    if "SpecDecoding metrics:" in text:
        return "vllm-log"
    if V0_MARK in text:
        return "vllm-v0-log"
    if is_bench_serve(text):
        return "vllm-bench"
    if "Decode batch" in text and "accept len:" in text:
        return "sglang-log"
    if "num_accepted_tokens:" in text and "num_drafts:" in text:
        return "vllm-offline"
    if _LCPP_SLOT.search(text) or "#gen drafts" in text:
        return "llama.cpp"
    if is_legacy_summary(text):
        return "llama.cpp-summary"
    first = text.splitlines()[0] if text.strip() else ""
    if "," in first or any(k in first.split() for k in _X_KEYS + _TPC_KEYS):
        return "csv"
    return "unknown"


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
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    text = _read_text(p)
    if not text.strip():
        raise InputError(f"{p}: is empty")
    kind = fmt or detect(p, text)
    try:
        return _read_kind(p, text, kind, num_speculative_tokens)
    except InputError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, OverflowError) as exc:  # a damaged number or field
        detail = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        raise InputError(
            f"{p}: a value of this {kind} file could not be read ({detail}); the file looks damaged"
        ) from None


def _read_kind(p: str, text: str, kind: str, k: int | None = None) -> list[Measured]:
    """Read ``text`` as the format ``kind`` (see :func:`read_acceptance`)."""
    if kind == "csv":
        return read_csv(p, text)
    if kind == "speedoflight-measured":
        return read_own(p)
    if kind == "vllm-metrics":
        return read_prometheus(p, text)
    if kind == "vllm-log":
        return read_vllm_log(p, text, k)
    if kind == "sglang-log":
        return read_sglang_log(p, text)
    if kind == "vllm-v0-log":
        return read_vllm_v0_log(p, text)
    if kind == "vllm-offline":
        return read_vllm_offline(p, text)
    if kind == "llama.cpp":
        return read_llamacpp(p, text)
    if kind == "llama.cpp-summary":
        return read_llamacpp_summary(p, text)
    if kind == "vllm-bench":
        return read_bench_serve(p, text)
    if kind in (
        "jsonl", "sglang", "spec-bench", "eagle", "llama.cpp-timings", "tensorrt-llm", "aiperf", "vllm-per-request",
        "vllm-bench-json",
    ):  # fmt: skip
        objs = _json_objects(p, text)
        if kind == "vllm-bench-json":
            return read_bench_result(p, objs)
        if kind == "vllm-per-request":
            return read_vllm_per_request(p, objs)
        if kind == "tensorrt-llm":
            return read_tensorrt_llm(p, objs)
        if kind == "aiperf":
            return read_aiperf(p, objs)
        if kind == "llama.cpp-timings":
            return read_llamacpp_timings(p, objs)
        if kind == "sglang":
            return read_sglang(p, objs)
        if kind in ("spec-bench", "eagle"):
            return read_answers(p, objs, kind)
        if not all(isinstance(o, dict) for o in objs):
            raise InputError(f"{p}: every JSONL line must be an object")
        return read_plain(p, "jsonl", objs, [f"line {i}" for i in range(1, len(objs) + 1)])
    raise InputError(
        f"{p}: not a recognised acceptance log; expected one of: {', '.join(FORMATS)} (a CSV needs a header line "
        "with 'accepted' or 'tokens_per_call')"
    )


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
