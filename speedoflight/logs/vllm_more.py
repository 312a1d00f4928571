"""vLLM's other printouts: the V0 engine's cumulative ``Speculative metrics:`` lines, and the offline example's.

V0 (``vllm/engine/metrics.py``, about v0.4 to v0.9) logs, every few seconds, counters that are **cumulative
since the engine started**::

    Speculative metrics: Draft acceptance rate: 0.642, System efficiency: 0.598, Number of speculative
    tokens: 3, Number of accepted tokens: 8547, Number of draft tokens: 13311, Number of emitted tokens: 10616.

(the earliest releases print "Number of draft tokens tokens" and "Number of emitted tokens tokens"). Its
"accepted" counts every position the sampler accepted, also after an earlier rejection, so it is not X. Each
verifier call drafts k tokens (k = "Number of speculative tokens") and emits the accepted prefix plus one token
(the correction, or the bonus token when all k were accepted), so with drafts = draft tokens / k,
X = emitted / drafts - 1.

``examples/offline_inference/spec_decode.py`` prints ``num_drafts``, ``num_draft_tokens``,
``num_accepted_tokens``, ``mean acceptance length`` and ``acceptance at token i`` (newer releases also
``total_num_output_tokens``, which is not X + 1 per draft: it counts a prefill token per request and misses
the tokens cut at the end of a sequence).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import InputError
from ._text import _count, _fields, _number, check_histogram, histogram
from .format import any_object
from .result import Measured
from .uncertainty import between_or_totals, distribution_from_cumulative, from_distribution, totals_only
from .vllm import check_printout, log_lines

__all__ = [
    "is_bench_result",
    "is_bench_serve",
    "is_vllm_per_request",
    "read_bench_result",
    "read_bench_serve",
    "read_vllm_offline",
    "read_vllm_per_request",
    "read_vllm_v0_log",
]

V0_MARK = "Speculative metrics:"
_OFFLINE_KEYS = ("num_drafts", "num_draft_tokens", "num_accepted_tokens")
_AT_TOKEN = re.compile(r"^\s*acceptance at token (\d+):\s*([-+0-9.eEnaif]+)\s*$")


def _v0_field(f: dict[str, str], name: str, path: str, where: str) -> float:
    for key in (name, name.replace(" tokens", " tokens tokens")):
        if key in f:
            try:
                return float(_number(f[key].rstrip(".")))
            except ValueError:
                break
    raise InputError(f"{path}: {where}: a 'Speculative metrics:' line without a number for '{name}'")


def read_vllm_v0_log(path: str, text: str) -> list[Measured]:
    """Read vLLM V0 ``Speculative metrics:`` lines (cumulative counters) into one entry per engine process.

    Consecutive lines of one process give per-interval differences; a counter that falls starts a new run (a
    restart). X = emitted tokens / drafts - 1 per interval, drafts = draft tokens / k.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        The log; other lines are ignored.

    Returns
    -------
    list of Measured
        All processes pooled, then one per process when there are several.

    """
    by: dict[str, list[tuple[str, float, float, float]]] = {}
    k_seen: set[int] = set()
    for lineno, who, line in log_lines(text):
        at = line.find(V0_MARK)
        if at < 0:
            continue
        where = f"line {lineno}"
        f = _fields(line[at + len(V0_MARK) :])
        k = _v0_field(f, "number of speculative tokens", path, where)
        draft = _v0_field(f, "number of draft tokens", path, where)
        emitted = _v0_field(f, "number of emitted tokens", path, where)
        for name, v in (("speculative tokens", k), ("draft tokens", draft), ("emitted tokens", emitted)):
            _count(path, where, name, v)
        if k < 1 or k != round(k):
            raise InputError(f"{path}: {where}: number of speculative tokens {k:g} is not a whole number >= 1")
        k_seen.add(int(k))
        by.setdefault(who, []).append((where, k, draft, emitted))
    if not by:
        raise InputError(f"{path}: no '{V0_MARK}' line")
    if len(k_seen) > 1:
        raise InputError(f"{path}: the number of speculative tokens changes ({sorted(k_seen)}); split the log by run")
    k = k_seen.pop()
    intervals: dict[str, list[tuple[float, float]]] = {}
    notes: set[str] = set()
    for who, rows in by.items():
        prev = (0.0, 0.0)
        for where, _, draft, emitted in rows:
            d_draft, d_emit = draft - prev[0], emitted - prev[1]
            if d_draft < 0 or d_emit < 0:  # the engine restarted: its counters began again
                notes.add("counters fell between two lines (an engine restart): a new run was started there")
                d_draft, d_emit = draft, emitted
            prev = (draft, emitted)
            if d_draft == 0:
                continue
            drafts = d_draft / k
            if abs(drafts - round(drafts)) > 1e-9:
                raise InputError(f"{path}: {where}: {d_draft:g} draft tokens are not a multiple of k = {k}")
            if d_emit < drafts or d_emit > drafts * (k + 1):
                raise InputError(
                    f"{path}: {where}: {d_emit:g} tokens emitted by {drafts:g} drafts of {k}: each draft emits "
                    f"1 to {k + 1}; the counters are inconsistent"
                )
            intervals.setdefault(who, []).append((d_emit - drafts, drafts))
    if not intervals:
        raise InputError(f"{path}: no '{V0_MARK}' line with draft tokens")
    every = [x for rows in intervals.values() for x in rows]
    out = [_v0_entry(path, "", every, k, notes)]
    if len(intervals) > 1:
        out += [_v0_entry(path, who or "unlabelled lines", rows, k, notes) for who, rows in intervals.items()]
    return out


def _v0_entry(path: str, label: str, rows: list[tuple[float, float]], k: int, notes: set[str]) -> Measured:
    drafts = np.array([n for _, n in rows])
    how = f"batch means over {len(rows)} logging intervals (differences of the cumulative lines; t-interval)"
    estimate = between_or_totals([a for a, _ in rows], drafts, minimum=5, how=how, k=k)
    return Measured.build(
        path,
        "vllm-v0-log",
        label,
        estimate,
        float(drafts.sum()),
        "vLLM V0 counts cumulative draft, accepted and emitted tokens; its 'accepted' includes "
        "positions after a rejection, so X = emitted tokens / drafts - 1 with drafts = draft tokens / k "
        "(each call emits the accepted prefix plus one token)",
        P=k,
        mean_draft_size=float(k),
        notes=tuple(sorted(notes)),
    )


def read_vllm_offline(path: str, text: str) -> list[Measured]:
    """Read the printout of vLLM's ``examples/offline_inference/spec_decode.py``, one entry per run in the file.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        The printout; several runs appended to one file start a new run at each ``num_drafts`` line.

    Returns
    -------
    list of Measured
        One entry per run (labelled ``run 1``, ``run 2``, ... where there are several): X = num_accepted_tokens /
        num_drafts; the distribution of X, and with it the interval, from the per-token acceptance (P(X > i),
        printed to 2 decimals).

    """
    runs: list[tuple[dict[str, float], dict[int, float], float | None, int]] = []
    vals: dict[str, float] = {}
    rates: dict[int, float] = {}
    mean_len: float | None = None
    first = 1
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        m = _AT_TOKEN.match(line)
        if m:
            try:
                rates[int(m.group(1))] = float(m.group(2))
            except ValueError:
                raise InputError(f"{path}: line {lineno}: {line!r} has no number") from None
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "num_drafts" and "num_drafts" in vals:  # the printout of the next run begins
            runs.append((vals, rates, mean_len, first))
            vals, rates, mean_len, first = {}, {}, None, lineno
        try:
            if key in _OFFLINE_KEYS:
                vals[key] = float(_number(value))
                _count(path, f"line {lineno}", key, vals[key])
            elif key == "mean acceptance length":
                mean_len = float(_number(value))
        except ValueError:
            raise InputError(f"{path}: line {lineno}: {key} = {value.strip()!r} is not a number") from None
    runs.append((vals, rates, mean_len, first))
    many = len(runs) > 1
    return [_offline_run(path, *run, label=f"run {i}" if many else "") for i, run in enumerate(runs, start=1)]


def _offline_run(
    path: str, vals: dict[str, float], rates: dict[int, float], mean_len: float | None, lineno: int, label: str
) -> Measured:
    """One run of the spec_decode.py printout (starting at ``lineno``) as an entry."""
    where = f"{path}" + (f": the run from line {lineno}" if label else "")
    if "num_drafts" not in vals or "num_accepted_tokens" not in vals:
        raise InputError(f"{where}: the spec_decode.py printout lacks num_drafts or num_accepted_tokens")
    n, acc = vals["num_drafts"], vals["num_accepted_tokens"]
    if n <= 0:
        raise InputError(f"{where}: num_drafts is {n:g}: nothing was drafted")
    per_pos = [rates[i] for i in sorted(rates)] if rates else None
    if per_pos is not None and sorted(rates) != list(range(len(rates))):
        raise InputError(f"{where}: the 'acceptance at token i' lines skip a position")
    check_printout(path, "acceptance at token lines", mean_len, per_pos)
    drafted = vals.get("num_draft_tokens")
    if drafted is not None and acc > drafted:
        raise InputError(f"{where}: {acc:g} tokens accepted but only {drafted:g} drafted")
    x = acc / n
    if mean_len is not None and abs(1 + x - mean_len) > 0.005 + 1e-9:
        raise InputError(
            f"{where}: mean acceptance length {mean_len} is not 1 + {acc:g}/{n:g}; the printout is damaged"
        )
    k = len(per_pos) if per_pos else None
    if per_pos:
        counts = distribution_from_cumulative(n, np.asarray(per_pos) * n)
        mean, se, ci, how = from_distribution(counts, "the per-token acceptance (printed to 2 decimals)", x)
        dist = np.clip(counts / n, 0, 1)
    else:
        mean, se, ci, how = totals_only(acc, n, k)
        dist = None
    return Measured.build(
        path,
        "vllm-offline",
        label,
        (mean, se, ci, how),
        n,
        "spec_decode.py prints num_accepted_tokens and num_drafts: X = accepted / drafts (its "
        "mean acceptance length is X + 1); total_num_output_tokens / num_drafts is not used (it counts a "
        "prefill token per request and misses tokens cut at the end)",
        P=k,
        mean_draft_size=drafted / n if drafted is not None else None,
        distribution=dist,
    )


# --- per-request metrics (--per-request-spec-decode-metrics, vLLM 0.29+) -------------------------------------


def _per_request_stats(o: Any) -> list[Any]:
    """Return the spec-decode objects of one response.

    They are ``metrics.speculative_decoding``, or (development builds) each choice's ``speculative_decoding_stats``.
    """
    if not isinstance(o, dict):
        return []
    m = o.get("metrics")
    if isinstance(m, dict) and "speculative_decoding" in m:
        return [m["speculative_decoding"]]
    choices = o.get("choices")
    if isinstance(choices, list):
        return [
            c["speculative_decoding_stats"]
            for c in choices
            if isinstance(c, dict) and "speculative_decoding_stats" in c
        ]
    return []


def is_vllm_per_request(objs: list[Any]) -> bool:
    """Whether the objects are vLLM responses carrying per-request spec-decode metrics.

    Parameters
    ----------
    objs
        The file's JSON objects.

    Returns
    -------
    bool
        True when one of the first 50 carries them.

    """
    return any_object(objs, lambda o: bool(_per_request_stats(o)))


def read_vllm_per_request(path: str, objs: list[Any]) -> list[Measured]:
    """Read vLLM responses' per-request ``speculative_decoding`` metrics into one entry.

    X per request = ``num_accepted_draft_tokens`` / ``num_spec_steps`` (verify steps), with the interval between
    requests; the histograms (steps that accepted exactly j draft tokens) give the distribution of X.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    objs
        Responses, one per JSONL line (or a JSON list).

    Returns
    -------
    list of Measured
        One entry.

    """
    acc, steps, drafted, ks = [], [], [], set()
    pooled: np.ndarray | None = None
    every_hist = True
    nulls = 0
    for i, o in enumerate(objs, start=1):
        for sd in _per_request_stats(o):
            where = f"line {i}"
            if sd is None:
                nulls += 1  # vLLM leaves it null for n > 1
                continue
            if not isinstance(sd, dict):
                raise InputError(f"{path}: {where}: speculative_decoding is not an object")
            h = histogram(path, where, sd.get("acceptance_histogram"))
            n = sd.get("num_spec_steps", None if h is None else float(h.sum()))
            a = sd.get("num_accepted_draft_tokens", None if h is None else float((np.arange(len(h)) * h).sum()))
            if n is None or a is None:
                raise InputError(
                    f"{path}: {where}: needs num_spec_steps and num_accepted_draft_tokens (or the histogram)"
                )
            n, a = float(_count(path, where, "num_spec_steps", n)), float(_count(path, where, "num_accepted", a))
            check_histogram(path, where, h, n, a)
            d = sd.get("num_draft_tokens")
            if d is not None and a > float(_count(path, where, "num_draft_tokens", d)):
                raise InputError(f"{path}: {where}: {a:g} draft tokens accepted but only {d} drafted")
            length = sd.get("mean_acceptance_length")
            if isinstance(length, int | float) and n > 0 and abs(length - (1 + a / n)) > 1e-4 * max(1.0, length):
                raise InputError(f"{path}: {where}: mean_acceptance_length {length} is not 1 + {a:g}/{n:g}")
            if sd.get("num_spec_tokens") is not None:
                ks.add(int(_count(path, where, "num_spec_tokens", sd["num_spec_tokens"])))
            if n == 0:
                continue
            acc.append(a)
            steps.append(n)
            drafted.append(float(d) if d is not None else np.nan)
            if h is None:
                every_hist = False
            else:
                pooled = h if pooled is None else np.pad(pooled, (0, max(0, len(h) - len(pooled))))
                if pooled is not h:
                    pooled[: len(h)] += h
    if not acc:
        raise InputError(f"{path}: no response with speculative_decoding metrics and verify steps")
    n_arr = np.array(steps)
    if len(acc) < 2 and every_hist and pooled is not None:
        estimate = from_distribution(pooled, "the acceptance histogram (steps as independent)")
    else:
        estimate = between_or_totals(acc, steps)
    return [
        Measured.build(
            path,
            "vllm-per-request",
            "",
            estimate,
            float(n_arr.sum()),
            "vLLM's per-request metrics count verify steps (num_spec_steps) and accepted draft tokens "
            "(bonus excluded): X = accepted / steps; mean_acceptance_length = X + 1",
            P=next(iter(ks)) if len(ks) == 1 else None,
            mean_draft_size=float(np.nansum(drafted)) / float(n_arr.sum()) if not np.all(np.isnan(drafted)) else None,
            groups=len(acc),
            distribution=pooled / pooled.sum() if every_hist and pooled is not None else None,
            notes=(f"{nulls} response(s) without metrics (vLLM leaves them null for n > 1)",) if nulls else (),
        )
    ]


# --- vllm bench serve ----------------------------------------------------------------------------------------

BENCH_MARK = "Speculative Decoding"
_BENCH_KEYS = {
    "acceptance rate (%)": "rate",
    "acceptance length": "length",
    "drafts": "drafts",
    "draft tokens": "draft_tokens",
    "accepted tokens": "accepted",
}
_POSITION = re.compile(r"^\s*Position (\d+):\s*(\S+)\s*$")


def is_bench_serve(text: str) -> bool:
    """Whether ``text`` holds a ``vllm bench serve`` report with its Speculative Decoding section.

    Parameters
    ----------
    text
        The file's content.

    Returns
    -------
    bool
        True when a dashed ``Speculative Decoding`` header and an ``Accepted tokens:`` line are present.

    """
    return f"-{BENCH_MARK}-" in text and "Accepted tokens:" in text


def read_bench_serve(path: str, text: str) -> list[Measured]:
    """Read the Speculative Decoding sections of ``vllm bench serve`` reports (one entry per run in the file).

    ``Drafts``, ``Draft tokens`` and ``Accepted tokens`` are the differences of the server's ``/metrics`` counters
    over the run: X = accepted / drafts; ``Acceptance length`` (X + 1) is checked against them; the per-position
    acceptance (percent, 2 decimals) gives the distribution of X.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        One or more reports.

    Returns
    -------
    list of Measured
        One entry per Speculative Decoding section, labelled ``run 1``, ``run 2``, ... when there are several.

    """
    runs: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if f"-{BENCH_MARK}-" in line:
            cur = {"line": lineno, "pos": {}}
            runs.append(cur)
            continue
        if cur is None:
            continue
        if line.startswith("=" * 10):
            cur = None
            continue
        m = _POSITION.match(line)
        key, sep, value = line.partition(":")
        try:
            if m:
                cur["pos"][int(m.group(1))] = float(m.group(2)) / 100.0
            elif sep and key.strip().lower() in _BENCH_KEYS:
                cur[_BENCH_KEYS[key.strip().lower()]] = float(_number(value))
        except ValueError:
            raise InputError(f"{path}: line {lineno}: {line.strip()!r} has no number") from None
    if not runs:
        raise InputError(f"{path}: no '{BENCH_MARK}' section")
    out = []
    for i, r in enumerate(runs, start=1):
        where = f"the Speculative Decoding section at line {r['line']}"
        if "drafts" not in r or "accepted" not in r:
            raise InputError(f"{path}: {where} lacks Drafts or Accepted tokens")
        n, a = r["drafts"], r["accepted"]
        _count(path, where, "Drafts", n)
        _count(path, where, "Accepted tokens", a)
        if n <= 0:
            raise InputError(f"{path}: {where}: no drafts")
        if "draft_tokens" in r and a > r["draft_tokens"]:
            raise InputError(f"{path}: {where}: {a:g} tokens accepted but only {r['draft_tokens']:g} drafted")
        if "length" in r and abs(r["length"] - (1 + a / n)) > 0.005 + 1e-9:
            raise InputError(f"{path}: {where}: acceptance length {r['length']} is not 1 + {a:g}/{n:g}")
        pos = [r["pos"][j] for j in sorted(r["pos"])] if r["pos"] else None
        check_printout(path, where, None, pos)
        if pos:
            counts = distribution_from_cumulative(n, np.asarray(pos) * n)
            mean, se, ci, how = from_distribution(counts, "the per-position acceptance (printed to 0.01%)", a / n)
            dist = np.clip(counts / n, 0, 1)
        else:
            mean, se, ci, how = totals_only(a, n, None)
            dist = None
        k = len(pos) if pos else None
        out.append(
            Measured.build(
                path,
                "vllm-bench",
                f"run {i}" if len(runs) > 1 else "",
                (mean, se, ci, how),
                n,
                "vllm bench serve differences the server's counters over the run: X = accepted tokens "
                "/ drafts (its acceptance length is X + 1; its acceptance rate divides by draft tokens)",
                P=k,
                mean_draft_size=r["draft_tokens"] / n if "draft_tokens" in r else None,
                distribution=dist,
            )
        )
    return out


def is_bench_result(objs: list[Any]) -> bool:
    """Whether the objects are ``vllm bench serve --save-result`` files with spec-decode keys.

    Parameters
    ----------
    objs
        The file's JSON objects.

    Returns
    -------
    bool
        True when one holds ``spec_decode_num_drafts``.

    """
    return any_object(objs, lambda o: "spec_decode_num_drafts" in o)


def read_bench_result(path: str, objs: list[Any]) -> list[Measured]:
    """Read ``vllm bench serve --save-result`` JSON: one entry per run (object) with spec-decode keys.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    objs
        Result objects (one JSON document, a list, or JSONL).

    Returns
    -------
    list of Measured
        One entry per run: X = ``spec_decode_accepted_tokens`` / ``spec_decode_num_drafts``.

    """
    lines = []
    for o in objs:
        if not isinstance(o, dict) or "spec_decode_num_drafts" not in o:
            continue
        lines.append("-" * 15 + BENCH_MARK + "-" * 15)
        for key, label in (
            ("spec_decode_acceptance_length", "Acceptance length"),
            ("spec_decode_num_drafts", "Drafts"),
            ("spec_decode_draft_tokens", "Draft tokens"),
            ("spec_decode_accepted_tokens", "Accepted tokens"),
        ):
            if o.get(key) is not None:
                lines.append(f"{label}: {o[key]!r}")
        rates = o.get("spec_decode_per_position_acceptance_rates") or []
        if not isinstance(rates, list):
            raise InputError(f"{path}: spec_decode_per_position_acceptance_rates is not a list")
        lines += [f"  Position {i}: {100 * float(r)!r}" for i, r in enumerate(rates)]
        lines.append("=" * 50)
    out = read_bench_serve(path, "\n".join(lines) + "\n")
    return [replace(m, format="vllm-bench-json", convention=m.convention + " (from --save-result JSON)") for m in out]
