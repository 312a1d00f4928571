"""vLLM: ``/metrics`` Prometheus counters and ``SpecDecoding metrics:`` log lines."""

from __future__ import annotations

import re

import numpy as np

from ..errors import InputError
from ._text import _count, _fields, _number, _numbers
from .result import Measured
from .uncertainty import between_groups, distribution_from_cumulative, from_distribution, totals_only

# --- vLLM /metrics ------------------------------------------------------------------------------------------

_VLLM = "vllm:spec_decode_num_"

__all__ = ["check_printout", "log_lines", "read_prometheus", "read_vllm_log", "spec_entry", "spec_line"]


def read_prometheus(path: str, text: str) -> list[Measured]:
    """Read vLLM ``/metrics`` text into one entry per model (:func:`.prometheus.read_counters` with vLLM's names).

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        One scrape of ``GET /metrics`` (Prometheus text).

    Returns
    -------
    list of Measured
        One entry per ``model_name`` label: X = accepted tokens / drafts, with the interval from the distribution
        where per-position counters exist, else from totals only (no standard error).

    """
    from .prometheus import VLLM, read_counters

    return read_counters(path, text, VLLM)


def check_printout(path: str, where: str, mean_len: float | None, rates: list[float] | None) -> None:
    """Refuse a printed mean acceptance length or per-position rates that no run can produce.

    The mean length must be finite; each per-position rate is P(X > i), a probability that cannot grow with the
    position (beyond print rounding of 0.0005).

    Parameters
    ----------
    path, where
        For the message: the file and the line.
    mean_len
        The printed mean acceptance length, or None.
    rates
        The printed per-position acceptance rates, or None.

    """
    if mean_len is not None and not np.isfinite(mean_len):
        raise InputError(f"{path}: {where}: mean acceptance length {mean_len} is not a finite number")
    if rates is None:
        return
    r = np.asarray(rates, dtype=np.float64)
    if not np.all(np.isfinite(r)) or np.any(r < 0) or np.any(r > 1):
        raise InputError(
            f"{path}: {where}: a per-position acceptance rate outside [0, 1] ({rates}); the line is damaged"
        )
    if np.any(np.diff(r) > 0.001 + 1e-9):
        raise InputError(
            f"{path}: {where}: the per-position acceptance rates grow with the position ({rates}); position i+1 can "
            "be accepted only after position i, so they cannot"
        )


def _drafts_from_printout(
    path: str, where: str, accepted: float, drafted: float, mean_len: float | None, rates: list[float] | None
) -> tuple[float, str | None]:
    """Return the number of drafts behind a printed line, and a note when it is recovered from the rounded mean.

    A chain drafts K tokens every time, so drafts = drafted / K, where K is the number of per-position
    rates; the printed mean acceptance length (2 decimals) must then equal 1 + accepted / drafts. When it
    does not (drafts of varying length), drafts come from the printed mean instead.
    """
    k = len(rates) if rates else None
    check_printout(path, where, mean_len, rates)
    if mean_len is not None:
        if mean_len < 1 - 0.005:
            raise InputError(
                f"{path}: {where}: mean acceptance length {mean_len} is below 1 (it counts the bonus token)"
            )
        if rates is not None and abs(sum(rates) - (mean_len - 1)) > 0.005 + 0.0005 * len(rates) + 1e-9:
            raise InputError(
                f"{path}: {where}: the per-position rates sum to {sum(rates):.3f} but the mean acceptance length "
                f"minus 1 is {mean_len - 1:.2f}; the line is inconsistent"
            )
    if k and drafted > 0 and abs(drafted / k - round(drafted / k)) < 1e-9:
        n = drafted / k
        if mean_len is None or abs(1 + accepted / n - mean_len) <= 0.005 + 1e-9:
            return n, None
    if mean_len is None:
        raise InputError(
            f"{path}: {where}: the line prints no mean acceptance length, so the number of drafts cannot be "
            "recovered; give {num_speculative_tokens} K (drafts = drafted / K), or use vLLM's /metrics counters",
            param="num_speculative_tokens",
        )
    if mean_len - 1 <= 0.005:
        if accepted > 0:
            raise InputError(
                f"{path}: {where}: {accepted:g} tokens accepted but the mean acceptance length is {mean_len}"
            )
        if k:
            return drafted / k, None
        raise InputError(
            f"{path}: {where}: nothing accepted and no per-position rates: the number of drafts is unknown"
        )
    if accepted == 0:
        raise InputError(
            f"{path}: {where}: nothing accepted but the mean acceptance length is {mean_len}; the line is inconsistent"
        )
    lo, hi = accepted / (mean_len + 0.005 - 1), accepted / max(mean_len - 0.005 - 1, 1e-12)
    n = accepted / (mean_len - 1)
    return n, f"drafts recovered from the printed mean acceptance length (between {lo:.1f} and {hi:.1f})"


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PROCESS = re.compile(r"\(([A-Za-z]+(?:_DP\d+)?) pid=(\d+)\)")
_ENGINE = re.compile(r"\bEngine (\d+):")


def log_lines(text: str) -> list[tuple[int, str, str]]:
    """Return ``(line number, process, line)`` for every line, ANSI colours removed.

    ``process`` names where a line came from: the ``(APIServer pid=N)`` prefix vLLM puts on every line of a
    server with several processes, extended by the engine of the nearest earlier ``Engine NNN:`` throughput
    line of the same process (vLLM logs each engine's spec line right after that engine's throughput line);
    empty for a plain log.

    Parameters
    ----------
    text
        The log.

    Returns
    -------
    list of tuple
        One tuple per line.

    """
    engine_of: dict[str, str] = {}
    out = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _ANSI.sub("", raw)
        m = _PROCESS.search(line)
        proc = f"{m.group(1)} pid={m.group(2)}" if m else ""
        e = _ENGINE.search(line)
        if e:
            engine_of[proc] = f"engine {int(e.group(1))}"
        who = " ".join(x for x in (proc, engine_of.get(proc, "")) if x)
        out.append((lineno, who, line))
    return out


def read_vllm_log(path: str, text: str, k: int | None = None) -> list[Measured]:
    """Read vLLM V1 ``SpecDecoding metrics:`` lines: one entry for all of them, and one per engine or process.

    Counts are summed over the logging intervals (each line covers the interval since the previous one) and
    over engines, never averaged; batch means over the intervals give the interval. Every field order seen
    across versions is read by name (``Mean acceptance length``, ``Per-position acceptance rate``, ``Avg Draft
    acceptance rate``, ``Current speculative depth``, throughputs); unknown fields are ignored.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        The log's content; other lines are ignored.

    k
        Draft tokens per call (``--num-speculative-tokens``), for lines with neither a mean acceptance length nor
        per-position rates.

    Returns
    -------
    list of Measured
        All engines pooled (label empty), then one entry per engine or process when there are several.

    """
    by: dict[str, list[tuple[str, float, float, float | None, list[float] | None]]] = {}
    for lineno, who, line in log_lines(text):
        at = line.find("SpecDecoding metrics:")
        if at < 0:
            continue
        where = f"line {lineno}"
        acc, drafted, mean_len, rates, _ = spec_line(path, where, line[at + len("SpecDecoding metrics:") :])
        by.setdefault(who, []).append((where, acc, drafted, mean_len, rates))
    lines = [x for rows in by.values() for x in rows]
    if not any(d > 0 for _, _, d, _, _ in lines):
        raise InputError(f"{path}: no 'SpecDecoding metrics:' line with drafted tokens")
    out = [spec_entry(path, "", lines, k)]
    if len(by) > 1:
        out += [
            spec_entry(path, who or "unlabelled lines", rows, k)
            for who, rows in by.items()
            if any(d > 0 for _, _, d, _, _ in rows)
        ]
    return out


def spec_line(
    path: str, where: str, rest: str
) -> tuple[float, float, float | None, list[float] | None, dict[str, str]]:
    """Read the fields of one ``SpecDecoding metrics:`` line (vLLM's, or LMDeploy's copy of it), by name.

    Parameters
    ----------
    path, where
        For messages: the file and the line.
    rest
        The line after ``SpecDecoding metrics:``.

    Returns
    -------
    tuple
        ``(accepted, drafted, mean acceptance length or None, per-position rates or None, every field)``, checked.

    """
    f = _fields(rest)
    try:
        acc = float(_number(f["accepted"]))
        drafted = float(_number(f["drafted"]))
    except (KeyError, ValueError):
        raise InputError(
            f"{path}: {where}: a SpecDecoding line without 'Accepted: N tokens, Drafted: N tokens'"
        ) from None
    mean_len = _number(f["mean acceptance length"]) if "mean acceptance length" in f else None
    rates = _numbers(f["per-position acceptance rate"]) if "per-position acceptance rate" in f else None
    _count(path, where, "Accepted", acc)
    _count(path, where, "Drafted", drafted)
    if acc > drafted:
        raise InputError(f"{path}: {where}: {acc:g} tokens accepted but only {drafted:g} drafted")
    check_printout(path, where, mean_len, rates)
    return acc, drafted, mean_len, rates, f


_V1_CONVENTION = (
    "vLLM prints the mean acceptance length 1 + accepted/drafts (bonus token included); "
    "X = accepted draft tokens / drafts; lines are per logging interval and are summed"
)


def spec_entry(
    path: str,
    label: str,
    lines: list[tuple[str, float, float, float | None, list[float] | None]],
    k_given: int | None = None,
    fmt: str = "vllm-log",
    convention: str = _V1_CONVENTION,
) -> Measured:
    """Return one entry from ``SpecDecoding metrics:`` lines: counts summed, drafts recovered per line.

    Parameters
    ----------
    path
        The file's name.
    label
        The entry's label (an engine, a process, a DP rank; empty for all).
    lines
        ``(where, accepted, drafted, mean length, rates)`` per line, as :func:`spec_line` reads them.
    k_given
        ``--num-speculative-tokens``, for lines with neither a mean length nor rates.
    fmt, convention
        What the entry records.

    Returns
    -------
    Measured
        Batch means over 5 or more intervals, else the distribution the rates give, else totals only.

    """
    totals: list[float] = []
    counts: list[float] = []
    per_pos_sum: np.ndarray | None = None
    drafted_total = 0.0
    notes: set[str] = set()
    k_seen: set[int] = set()
    n_lines = 0
    for where, acc, drafted, mean_len, rates in lines:
        if drafted == 0:
            continue  # an idle interval
        if mean_len is None and rates is None and k_given is not None:
            if abs(drafted / k_given - round(drafted / k_given)) > 1e-9:
                raise InputError(
                    f"{path}: {where}: {drafted:g} drafted tokens are not a multiple of {{num_speculative_tokens}} "
                    f"{k_given}",
                    param="num_speculative_tokens",
                )
            n, note = drafted / k_given, None
            k_seen.add(k_given)
            notes.add(f"drafts = drafted / {k_given} (--num-speculative-tokens) where a line prints no mean length")
        else:
            n, note = _drafts_from_printout(path, where, acc, drafted, mean_len, rates)
        if note:
            notes.add("some intervals: " + note)
        n_lines += 1
        totals.append(acc)
        counts.append(n)
        drafted_total += drafted
        if rates is not None:
            k_seen.add(len(rates))
            c = np.asarray(rates) * n
            if per_pos_sum is None:
                per_pos_sum = c
            elif len(c) == len(per_pos_sum):
                per_pos_sum = per_pos_sum + c
            else:
                per_pos_sum = None
                notes.add("the number of speculative positions changed between lines")
    if n_lines == 0:
        raise InputError(f"{path}: {label}: no 'SpecDecoding metrics:' line with drafted tokens")
    drafts = float(sum(counts))
    acc_total = float(sum(totals))
    dist = None
    if n_lines >= 5:
        mean, se, ci, _ = between_groups(np.array(totals), np.array(counts))
        how = f"batch means over {n_lines} logging intervals (t-interval)"
    elif per_pos_sum is not None and len(k_seen) == 1:
        mean, se, ci, how = from_distribution(
            distribution_from_cumulative(drafts, per_pos_sum), "per-position rates", acc_total / drafts
        )
    else:
        mean, se, ci, how = totals_only(acc_total, drafts, next(iter(k_seen)) if len(k_seen) == 1 else None)
    if per_pos_sum is not None and len(k_seen) == 1:
        dist = np.clip(distribution_from_cumulative(drafts, per_pos_sum) / drafts, 0, 1)
    return Measured.build(
        path,
        fmt,
        label,
        (mean, se, ci, how),
        drafts,
        convention,
        P=next(iter(k_seen)) if len(k_seen) == 1 else None,
        mean_draft_size=drafted_total / drafts,
        distribution=dist,
        notes=tuple(sorted(notes)),
    )
