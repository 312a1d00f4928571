"""SGLang responses: ``meta_info`` verify steps, accepted and drafted tokens."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import InputError
from ._text import _count, _integer, check_histogram, histogram
from .prometheus import samples
from .result import Measured
from .uncertainty import between_groups, totals_only

__all__ = [
    "is_server_info",
    "is_sglang_metrics",
    "read_server_info",
    "read_sglang",
    "read_sglang_log",
    "read_sglang_metrics",
]

_ACCEPTED_KEYS = ("spec_num_correct_drafts", "spec_accepted_drafts", "spec_accept_token_num")
_DRAFTED_KEYS = ("spec_num_proposed_drafts", "spec_proposed_drafts", "spec_draft_token_num")
_HIST_KEYS = ("spec_correct_drafts_histogram", "spec_accept_histogram")


def _records(path: str, objs: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """Return each request's speculative fields with where they were.

    They sit in ``meta_info``, in OpenAI replies' ``sglext.spec_tokens_details`` (a list when n > 1), or at the
    top level.
    """
    out = []
    for i, o in enumerate(objs, start=1):
        where = f"record {i}"
        if not isinstance(o, dict):
            raise InputError(f"{path}: {where} is not a JSON object")
        ext = o.get("sglext")
        details = ext.get("spec_tokens_details") if isinstance(ext, dict) else None
        metas = details if isinstance(details, list) else [details] if details is not None else [o.get("meta_info", o)]
        for j, meta in enumerate(metas):
            if not isinstance(meta, dict):
                raise InputError(f"{path}: {where}: meta_info is not an object")
            out.append((where if len(metas) == 1 else f"{where} choice {j}", meta))
    return out


def read_sglang(path: str, objs: list[Any]) -> list[Measured]:
    """Read SGLang response objects (``meta_info``) into one entry.

    X is accepted tokens per verify step, with the interval between requests.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    objs
        The responses, each with ``meta_info`` (or its fields at the top level).

    Returns
    -------
    list of Measured
        One entry; requests with ``spec_verify_ct`` 0 are skipped (and noted).

    """
    totals, counts, sizes = [], [], []
    hist_total: np.ndarray | None = None
    all_hist = True
    skipped = 0
    mismatched = 0
    derived = 0
    for where, meta in _records(path, objs):
        if "spec_verify_ct" not in meta:
            raise InputError(f"{path}: {where}: meta_info has no spec_verify_ct; was speculative decoding on?")
        v = _integer(path, where, "spec_verify_ct", meta["spec_verify_ct"])
        if v == 0:
            skipped += 1
            continue
        comp = meta.get("completion_tokens")
        if comp is not None:
            comp = _integer(path, where, "completion_tokens", comp)
        acc_key = next((k for k in _ACCEPTED_KEYS if k in meta), None)
        if acc_key is not None:
            a = _integer(path, where, acc_key, meta[acc_key])
        elif comp is not None:
            # completion tokens = the token sampled at prefill + one per verify step + the accepted drafts
            a = _integer(path, where, "completion_tokens", comp) - v - 1
            derived += 1
            if a < 0:
                raise InputError(f"{path}: {where}: completion_tokens {comp} is below spec_verify_ct {v} + 1")
        else:
            raise InputError(
                f"{path}: {where}: needs spec_num_correct_drafts (or spec_accept_token_num), or completion_tokens "
                "with spec_verify_ct"
            )
        draft_key = next((k for k in _DRAFTED_KEYS if k in meta), None)
        if draft_key is not None:
            dnum = _integer(path, where, draft_key, meta[draft_key])
            if a > dnum:
                raise InputError(f"{path}: {where}: {a} tokens accepted but only {dnum} drafted")
            sizes.append(dnum / v)
        if "spec_accept_length" in meta and comp is not None:
            length = _count(path, where, "spec_accept_length", meta["spec_accept_length"])
            if abs(length - float(comp) / v) > 0.01 * length + 1e-6:
                raise InputError(
                    f"{path}: {where}: spec_accept_length {length} is not completion_tokens / spec_verify_ct "
                    f"= {float(comp) / v:.3f}"
                )
        h = histogram(path, where, next((meta[k] for k in _HIST_KEYS if k in meta), None))
        if h is not None and len(h):
            check_histogram(path, where, h, v, a)
            if hist_total is None or len(hist_total) < len(h):
                hist_total = np.pad(
                    hist_total if hist_total is not None else np.zeros(0),
                    (0, len(h) - (len(hist_total) if hist_total is not None else 0)),
                )
            hist_total[: len(h)] += h
        else:
            all_hist = False
        if comp is not None and acc_key is not None and abs(float(comp) - (a + v + 1)) > max(2.0, 0.05 * float(comp)):
            mismatched += 1
        totals.append(a)
        counts.append(v)
    if not counts:
        raise InputError(f"{path}: no request with spec_verify_ct > 0")
    mean, se, ci, how = between_groups(np.array(totals, float), np.array(counts, float))
    notes = []
    if skipped:
        notes.append(f"{skipped} request(s) without verify steps skipped")
    if derived:
        notes.append(
            f"{derived} request(s) without accepted counts: X from completion_tokens - spec_verify_ct - 1 (the "
            "token sampled at prefill is not a verify step's); off where a stop string or max_tokens cut tokens"
        )
    if mismatched:
        notes.append(
            f"{mismatched} request(s) where completion_tokens differs from accepted + verify steps + 1 by more than 2 "
            "(prefill token, stop strings or truncation)"
        )
    p = None
    if sizes and max(sizes) - min(sizes) < 1e-9 and abs(sizes[0] - round(sizes[0])) < 1e-9:
        p = round(sizes[0])
    return [
        Measured.build(
            path,
            "sglang",
            "",
            (mean, se, ci, how),
            float(sum(counts)),
            "SGLang counts accepted draft tokens (spec_num_correct_drafts, before 0.5.15 "
            "spec_accept_token_num) and verify steps (spec_verify_ct): X = accepted / verify steps; its "
            "spec_accept_length = completion_tokens / spec_verify_ct includes the token sampled at prefill, so it "
            "is not used",
            distribution=hist_total / hist_total.sum() if all_hist and hist_total is not None else None,
            P=p,
            mean_draft_size=float(np.mean(sizes)) if sizes else None,
            groups=len(counts),
            notes=tuple(notes),
        )
    ]


_DECODE = re.compile(r"Decode batch(?: \[\d+\])?[.,]")
_RANK = re.compile(r"^\s*\[[^\]]*?((?: (?:DP|PP|TP|EP)\d+)+)\]")
_ACCEPT_LEN = re.compile(r"accept len: ([-+0-9.eEnaif]+)")
_RUNNING = re.compile(r"#running-req: (\d+)")


def read_sglang_log(path: str, text: str) -> list[Measured]:
    """Read SGLang server ``Decode batch ... accept len: A ...`` lines into one entry (and one per DP rank).

    ``accept len`` is the tokens a request gains per verify step over the last logging interval (40 decode
    batches by default), bonus token included: A = X + 1. SGLang's ``accept rate`` is left alone: its
    denominator changed between releases (it counted the tree slot of the current token, and before 0.5.15 the
    bonus token in the numerator), so it is not a per-token acceptance. A line does not say how many verify
    steps it covers; intervals are weighted by the running requests at the time of the line, an estimate.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        The server log; other lines are ignored.

    Returns
    -------
    list of Measured
        All ranks pooled, then one entry per DP rank when there are several.

    """
    by: dict[str, list[tuple[float, float]]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not _DECODE.search(line):
            continue
        m = _ACCEPT_LEN.search(line)
        if not m:
            continue
        where = f"line {lineno}"
        try:
            a = float(m.group(1))
        except ValueError:
            raise InputError(f"{path}: {where}: accept len {m.group(1)!r} is not a number") from None
        if not np.isfinite(a) or a < 1:
            raise InputError(f"{path}: {where}: accept len {a:g} is below 1 or not finite (it counts the bonus token)")
        r = _RUNNING.search(line)
        weight = float(r.group(1)) if r else 1.0
        if weight <= 0:
            continue
        rank = _RANK.search(line)
        dp = " ".join(x for x in (rank.group(1).split() if rank else []) if x.startswith("DP"))
        by.setdefault(dp, []).append((a - 1.0, weight))
    if not by:
        raise InputError(f"{path}: no SGLang 'Decode batch ... accept len' line")
    out = [_sglang_log_entry(path, "", [x for rows in by.values() for x in rows])]
    if len(by) > 1:
        out += [_sglang_log_entry(path, dp or "no DP rank", rows) for dp, rows in by.items()]
    return out


def _sglang_log_entry(path: str, label: str, rows: list[tuple[float, float]]) -> Measured:
    x = np.array([r[0] for r in rows])
    w = np.array([r[1] for r in rows])
    notes = (
        "each interval weighted by its running requests (the line does not say how many verify steps it "
        "covers): an estimate",
    )
    if len(rows) >= 5:
        mean, se, ci, _ = between_groups(x * w, w)
        how = f"batch means over {len(rows)} logging intervals, weighted by running requests (t-interval)"
    else:
        mean, se, ci = float((x * w).sum() / w.sum()), None, None
        how = f"{len(rows)} logging interval(s): too few for an interval"
    return Measured.build(
        path,
        "sglang-log",
        label,
        (mean, se, ci, how),
        float(w.sum()),
        "SGLang's 'accept len' is tokens per verify step, bonus token included: X = accept len - 1 "
        "(its 'accept rate' is not a per-token acceptance and is not used)",
        notes=notes,
    )


# --- /get_server_info ----------------------------------------------------------------------------------------


def _server_states(o: Any) -> list[Any]:
    """Return the per-DP-rank states of a ``/get_server_info`` reply that carry an accept length (older: the reply)."""
    if not isinstance(o, dict):
        return []
    states = o.get("internal_states")
    if isinstance(states, list):
        return [s for s in states if isinstance(s, dict) and "avg_spec_accept_length" in s]
    return [o] if "avg_spec_accept_length" in o else []


def is_server_info(objs: list[Any]) -> bool:
    """Whether the objects are SGLang ``/get_server_info`` replies with ``avg_spec_accept_length``.

    Parameters
    ----------
    objs
        The file's JSON objects.

    Returns
    -------
    bool
        True when the first object (or one of its ``internal_states``) holds ``avg_spec_accept_length``.

    """
    first = next((o for o in objs if isinstance(o, dict)), None)
    return bool(_server_states(first))


def read_server_info(path: str, objs: list[Any]) -> list[Measured]:
    """Read SGLang's ``/get_server_info``: ``avg_spec_accept_length`` per DP rank, X = A - 1, without a count.

    The scheduler's ``get_internal_state`` reports ``cum_spec_accept_length / cum_spec_accept_count``: tokens
    gained per request per verify step, bonus included, summed over every logging interval since the server
    started (or the cache was flushed); the same A as the log's ``accept len``, pooled exactly, but the reply does
    not say over how many verify steps.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    objs
        The reply (one JSON document).

    Returns
    -------
    list of Measured
        One entry per DP rank (labelled ``DP rank i`` when there are several); no interval, iterations unknown.

    """
    states = [s for o in objs for s in _server_states(o)]
    out = []
    for i, state in enumerate(states):
        where = f"internal_states[{i}]" if len(states) > 1 else "the reply"
        a = state["avg_spec_accept_length"]
        if a is None:
            continue  # speculative decoding off on that rank, or no decode batch logged yet
        a = _count(path, where, "avg_spec_accept_length", a, minimum=1)
        out.append(
            Measured.build(
                path,
                "sglang-server-info",
                f"DP rank {i}" if len(states) > 1 else "",
                (a - 1.0, None, None, "a mean without its number of verify steps: no interval"),
                float("nan"),
                "SGLang's avg_spec_accept_length is tokens per request per verify step since the server started, "
                "bonus token included: X = avg_spec_accept_length - 1",
                notes=("the reply gives the mean only: the number of verify steps behind it is unknown",),
            )
        )
    if not out:
        raise InputError(
            f"{path}: avg_spec_accept_length is null: speculative decoding is off, or no decode batch has been logged "
            "yet; ask /get_server_info again after traffic"
        )
    return out


# --- /metrics ------------------------------------------------------------------------------------------------


def is_sglang_metrics(text: str) -> bool:
    """Whether ``text`` is a Prometheus scrape with SGLang's speculative-decoding series.

    Parameters
    ----------
    text
        The file's content.

    Returns
    -------
    bool
        True when ``sglang:spec_verify_calls_total`` or the ``sglang:spec_accept_length`` gauge is present.

    """
    return "sglang:spec_verify_calls" in text or "sglang:spec_accept_length" in text


def read_sglang_metrics(path: str, text: str) -> list[Measured]:
    """Read SGLang's ``/metrics``: verify calls, completion tokens and requests, per model (an estimate).

    ``sglang:spec_verify_calls_total`` (sgl-project/sglang PR #25689, 2026-05) adds each finished request's
    ``spec_verify_ct``; ``sglang:generation_tokens_total`` its completion tokens and ``sglang:num_requests_total``
    one (``TokenizerMetricsCollector.observe_one_finished_request``). A request's completion tokens are the token
    sampled at prefill, one per verify step and its accepted drafts, so accepted = generation - requests - verify
    calls, and X = that / verify calls: an estimate, off where a stop string or ``max_tokens`` cut tokens. The gauge
    ``sglang:spec_accept_length`` covers only the last logging interval and is not used.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        One scrape of ``GET /metrics``.

    Returns
    -------
    list of Measured
        One entry per ``model_name`` label.

    """
    names = {
        "sglang:spec_verify_calls_total": "verify",
        "sglang:generation_tokens_total": "generated",
        "sglang:num_requests_total": "requests",
    }
    per_model: dict[str, dict[str, float]] = {}
    gauge = False
    for s in samples(path, text):
        gauge = gauge or s.name == "sglang:spec_accept_length"
        if s.name in names:
            d = per_model.setdefault(s.labels.get("model_name", ""), {})
            d[names[s.name]] = d.get(names[s.name], 0.0) + _count(path, s.name, "the counter", s.value)
    if not any("verify" in d for d in per_model.values()):
        raise InputError(
            f"{path}: no sglang:spec_verify_calls_total counter (SGLang builds from 2026-05 have it)"
            + (
                "; sglang:spec_accept_length is a gauge of the last logging interval, not a mean over the run. "
                "Read /get_server_info (avg_spec_accept_length) or the responses' meta_info instead"
                if gauge
                else "; was speculative decoding on?"
            )
        )
    out = []
    for model, d in per_model.items():
        where = f"model {model!r}" if model else "the counters"
        if "verify" not in d:
            continue
        for need, name in (("generated", "sglang:generation_tokens_total"), ("requests", "sglang:num_requests_total")):
            if need not in d:
                raise InputError(f"{path}: {where}: {name} is missing; X needs it with sglang:spec_verify_calls_total")
        v, g, n = d["verify"], d["generated"], d["requests"]
        if v == 0:
            raise InputError(f"{path}: {where}: no verify calls yet (sglang:spec_verify_calls_total is 0)")
        acc = g - n - v
        if acc < 0:
            raise InputError(
                f"{path}: {where}: {g:g} generation tokens for {n:g} requests and {v:g} verify calls; every request "
                "emits at least one token at prefill and one per verify call, so the counters are inconsistent"
            )
        out.append(
            Measured.build(
                path,
                "sglang-metrics",
                model,
                totals_only(acc, v, None),
                v,
                "SGLang counts verify calls (spec_verify_calls_total) and completion tokens per finished request; "
                "accepted = generation_tokens - num_requests - verify calls (completion tokens = the prefill token "
                "+ one per verify call + accepted drafts), X = accepted / verify calls",
                notes=(
                    "an estimate: requests cut by a stop string or max_tokens, or finished with no token, make it low",
                ),
                model=model or None,
            )
        )
    return out
