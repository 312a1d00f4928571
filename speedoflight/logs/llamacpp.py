"""llama.cpp server logs: per-request ``draft acceptance`` lines and cumulative ``statistics`` lines."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import InputError
from ._text import _fields, _number, _numbers
from .result import Measured
from .uncertainty import between_groups, distribution_from_cumulative, from_distribution, totals_only
from .vllm import _drafts_from_printout, check_printout

_LCPP_SLOT = re.compile(
    r"draft acceptance(?: rate)?\s*=\s*([\d.]+)\s*\(\s*(\d+)\s*accepted\s*/\s*(\d+)\s*generated\s*\)(.*)$",
    re.MULTILINE,  # detection searches a whole log; a real one rarely ends on this line
)
_LCPP_STATS = re.compile(r"statistics\s+([\w\-.]+)\s*:(.*)$")
_ACC_PER_POS = re.compile(r"acc per pos\s*=\s*\(([^)]*)\)")
_TASK = re.compile(r"\bid\s+\d+\s*\|\s*task\s+-?\d+\b")

__all__ = ["is_legacy_summary", "read_llamacpp", "read_llamacpp_summary", "read_llamacpp_timings"]


def read_llamacpp(path: str, text: str) -> list[Measured]:
    """Read llama.cpp server log text.

    Reads the per-request acceptance lines, and the last ``statistics`` line per implementation.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        The log's content.

    Returns
    -------
    list of Measured
        One entry for all ``draft acceptance`` lines (interval between requests), if any, then one per drafting
        implementation from its ``statistics`` lines (the last line of each server run, summed over runs).

    """
    slot_recs: list[dict[str, Any]] = []
    stats: dict[str, list[dict[str, Any]]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        where = f"line {lineno}"
        m = _LCPP_SLOT.search(line)
        if m:
            rate, acc, gen = float(m.group(1)), float(m.group(2)), float(m.group(3))
            if acc > gen:
                raise InputError(f"{path}: {where}: {acc:g} accepted but only {gen:g} generated")
            if gen and abs(rate - acc / gen) > 1e-4 + 0.5e-5:
                raise InputError(f"{path}: {where}: draft acceptance {rate} is not {acc:g}/{gen:g}")
            f = _fields(m.group(4))
            length_key = next((key for key in ("mean acceptance length", "mean len") if key in f), None)
            mean_len = _number(f[length_key]) if length_key else None
            rates = _numbers(f["acceptance rate per position"]) if "acceptance rate per position" in f else None
            task = _TASK.search(line)
            slot_recs.append(
                {
                    "where": where,
                    "acc": acc,
                    "gen": gen,
                    "mean_len": mean_len,
                    "rates": rates,
                    "task": task and task.group(0),
                }
            )
            continue
        m = _ACC_PER_POS.search(line)
        if m:  # the trace line after a 2026 "draft acceptance ... mean len" line, for the same slot and task
            task = _TASK.search(line)
            rec = slot_recs[-1] if slot_recs else None
            if rec is not None and rec["rates"] is None and task is not None and rec["task"] == task.group(0):
                rec["rates"] = _numbers(m.group(1))
            continue
        m = _LCPP_STATS.search(line)
        if m and "#gen drafts" in m.group(2):
            f = _fields(m.group(2))
            try:
                rec = {
                    "drafts": _number(f["#gen drafts"]),
                    "gen": _number(f["#gen tokens"]),
                    "acc": _number(f["#acc tokens"]),
                    "acc_drafts": _number(f["#acc drafts"]) if "#acc drafts" in f else None,
                    "mean_len": _number(f["#mean acc len"]) if "#mean acc len" in f else None,
                    "rates": _numbers(f["#acc rate/pos"]) if "#acc rate/pos" in f else None,
                    "where": where,
                }
            except (KeyError, ValueError):
                raise InputError(
                    f"{path}: {where}: a statistics line without '#gen drafts', '#gen tokens' and '#acc tokens'"
                ) from None
            for name in ("drafts", "gen", "acc", "acc_drafts"):
                v = rec[name]
                if isinstance(v, float) and (not np.isfinite(v) or v < 0):
                    raise InputError(f"{path}: {where}: a statistics count ({name} = {v}) is negative or not finite")
            if rec["acc"] > rec["gen"]:  # type: ignore[operator]
                raise InputError(f"{path}: {where}: #acc tokens = {rec['acc']:g} exceeds #gen tokens = {rec['gen']:g}")
            check_printout(path, where, rec["mean_len"], rec["rates"])  # type: ignore[arg-type]
            stats.setdefault(m.group(1), []).append(rec)
    out = []
    for impl, recs in stats.items():
        # cumulative counters: a drop means the server restarted; add up the last line of every run
        finals = [
            r for r, nxt in zip(recs, [*recs[1:], None], strict=True) if nxt is None or nxt["drafts"] < r["drafts"]
        ]
        drafts = sum(r["drafts"] for r in finals)
        acc = sum(r["acc"] for r in finals)
        gen = sum(r["gen"] for r in finals)
        for r in finals:
            w = r["where"]
            if r["acc"] > r["gen"]:
                raise InputError(f"{path}: {w}: #acc tokens {r['acc']:g} exceeds #gen tokens {r['gen']:g}")
            if r["acc_drafts"] is not None and r["acc_drafts"] > r["drafts"]:
                raise InputError(f"{path}: {w}: #acc drafts exceeds #gen drafts")
            if (
                r["drafts"]
                and r["mean_len"] is not None
                and abs(1 + r["acc"] / r["drafts"] - r["mean_len"]) > 0.005 + 1e-9
            ):
                raise InputError(
                    f"{path}: {w}: #mean acc len {r['mean_len']} is not 1 + #acc tokens / #gen drafts "
                    f"= {1 + r['acc'] / r['drafts']:.3f}"
                )
            if (
                r["drafts"]
                and r["rates"]
                and abs(sum(r["rates"]) - r["acc"] / r["drafts"]) > 0.0005 * len(r["rates"]) + 1e-9
            ):
                raise InputError(
                    f"{path}: {w}: #acc rate/pos sums to {sum(r['rates']):.3f}, not #acc tokens / #gen drafts"
                )
        if drafts == 0:
            continue
        ks = {len(r["rates"]) for r in finals if r["rates"]}
        if len(finals) == 1 and finals[0]["rates"]:
            counts = distribution_from_cumulative(drafts, np.asarray(finals[0]["rates"]) * drafts)
            mean, se, ci, how = from_distribution(counts, "#acc rate/pos", acc / drafts)
            dist = np.clip(counts / drafts, 0, 1)
        else:
            mean, se, ci, how = totals_only(acc, drafts, next(iter(ks)) if len(ks) == 1 else None)
            dist = None
        out.append(
            Measured.build(
                path,
                "llama.cpp",
                impl,
                (mean, se, ci, how),
                drafts,
                "llama.cpp statistics lines are cumulative per drafting implementation; "
                "X = #acc tokens / #gen drafts (its #mean acc len is X + 1)",
                P=next(iter(ks)) if len(ks) == 1 else None,
                mean_draft_size=gen / drafts,
                distribution=dist,
                notes=(f"{len(finals)} server run(s) (cumulative counters; a drop starts a new run)",),
            )
        )
    slots, unknown = _requests(path, slot_recs)
    if unknown is not None:
        where, why = unknown
        if not out:
            raise InputError(
                f"{path}: {where}: a request that {why}: the number of drafts cannot be recovered from this line "
                "(llama.cpp's drafts vary in length); read the server's /metrics "
                "(llamacpp:spec_decode_num_drafts_total) or its statistics lines (llama-server -lv 4) instead"
            )
        # the statistics lines give the drafts that the request lines do not: read those, and say so
        note = f"the per-request 'draft acceptance' lines were not used ({where}: a request that {why})"
        out = [replace(m, notes=(*m.notes, note)) for m in out]
    elif slots is not None:
        out.insert(0, slots)
    if not out:
        raise InputError(f"{path}: no llama.cpp 'draft acceptance' or 'statistics' line with drafts")
    return out


def _requests(path: str, recs: list[dict[str, Any]]) -> tuple[Measured | None, tuple[str, str] | None]:
    """Return the entry of the per-request lines, or where and why the first line's drafts cannot be known.

    A line gives its number of drafts through its mean acceptance length 1 + accepted / drafts (2 decimals), and
    through its rates when every draft had the same length. llama.cpp's drafts vary in length (n-gram matches,
    ``--draft-p-min``), so a line that accepted nothing (any number of drafts from 1 to the drafted tokens fits
    it), prints a mean length of 1.00 (below 1.005: drafts >= accepted / 0.005) or prints no mean length at all
    cannot give it.
    """
    totals: list[float] = []
    counts: list[float] = []
    drafted = 0.0
    ks: set[int] = set()
    notes: set[str] = set()
    for r in recs:
        acc, gen, mean_len, rates, where = r["acc"], r["gen"], r["mean_len"], r["rates"], r["where"]
        if gen == 0:
            continue
        check_printout(path, where, mean_len, rates)
        if mean_len is not None and mean_len < 1 - 0.005:
            raise InputError(f"{path}: {where}: mean length {mean_len} is below 1 (it counts the bonus token)")
        if mean_len is None or acc == 0 or mean_len < 1.005:
            why = (
                "prints no mean acceptance length"
                if mean_len is None
                else f"accepted nothing (between 1 and {gen:g} drafts fit it)"
                if acc == 0
                else f"prints a mean length of {mean_len} (at least {acc / 0.005:.0f} drafts)"
            )
            return None, (where, why)
        n, note = _drafts_from_printout(path, where, acc, gen, mean_len, rates)
        if note:
            notes.add("some requests: " + note)
        if rates:
            ks.add(len(rates))
        totals.append(acc)
        counts.append(n)
        drafted += gen
    if not counts:
        return None, None
    return (
        Measured.build(
            path,
            "llama.cpp",
            "requests (draft acceptance lines)",
            between_groups(np.array(totals), np.array(counts)),
            float(sum(counts)),
            "llama.cpp prints accepted/generated draft tokens per request and the mean acceptance length 1 + "
            "accepted/drafts; X = accepted / drafts",
            P=next(iter(ks)) if len(ks) == 1 else None,
            mean_draft_size=drafted / sum(counts),
            groups=len(counts),
            notes=tuple(sorted(notes)),
        ),
        None,
    )


_LEGACY = re.compile(r"^\s*(?:\S+\s+I\s+)?(n_draft|n_predict|n_drafted|n_accept)\s*=\s*(\S+)\s*$")


def is_legacy_summary(text: str) -> bool:
    """Whether ``text`` holds the end-of-run summary of llama.cpp's ``speculative`` example.

    Parameters
    ----------
    text
        The file's content.

    Returns
    -------
    bool
        True when ``n_predict`` and ``n_accept`` lines are both present.

    """
    keys = {m.group(1) for line in text.splitlines() if (m := _LEGACY.match(line))}
    return {"n_predict", "n_accept"} <= keys


def read_llamacpp_summary(path: str, text: str) -> list[Measured]:
    """Read the summary of llama.cpp's legacy ``speculative`` example (``n_draft``, ``n_predict``, ...).

    The example samples one token from the prompt pass, without a draft, and then every verifier call emits the
    tokens it accepted plus one of its own (``examples/speculative/speculative.cpp``: ``n_predict`` counts every
    emitted token, ``n_accept`` the accepted draft tokens), so the calls are ``n_predict - n_accept - 1`` and
    X = ``n_accept`` / calls (the run stops once ``n_predict`` passes its limit, after a whole call).
    ``n_drafted`` / calls gives the mean draft length (``n_draft`` is only its maximum, so dividing ``n_drafted``
    by it counts drafts right only when every draft has full length).

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        The printout; other lines are ignored.

    Returns
    -------
    list of Measured
        One entry per summary in the file (several runs may be appended), labelled ``run 1``, ``run 2``, ...

    """
    runs: list[dict[str, float]] = [{}]
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _LEGACY.match(line)
        if not m:
            continue
        key = m.group(1)
        if key in runs[-1]:
            runs.append({})
        try:
            v = float(m.group(2))
        except ValueError:
            raise InputError(f"{path}: line {lineno}: {key} = {m.group(2)!r} is not a number") from None
        if not np.isfinite(v) or v < 0 or v != round(v):
            raise InputError(f"{path}: line {lineno}: {key} = {m.group(2)} is not a count")
        runs[-1][key] = v
    out = []
    for i, run in enumerate(runs, start=1):
        if "n_predict" not in run or "n_accept" not in run:
            raise InputError(f"{path}: a speculative summary without n_predict and n_accept (run {i})")
        acc, emitted = run["n_accept"], run["n_predict"]
        drafted = run.get("n_drafted")
        if drafted is not None and acc > drafted:
            raise InputError(f"{path}: run {i}: n_accept = {acc:g} exceeds n_drafted = {drafted:g}")
        calls = emitted - acc - 1  # the first token comes from the prompt pass, not from a call
        if calls <= 0:
            raise InputError(f"{path}: run {i}: n_predict = {emitted:g} leaves no verifier call after {acc:g} accepted")
        mean, se, ci, how = totals_only(acc, calls, int(run["n_draft"]) if "n_draft" in run else None)
        out.append(
            Measured.build(
                path,
                "llama.cpp-summary",
                f"run {i}" if len(runs) > 1 else "",
                (mean, se, ci, how),
                calls,
                "llama.cpp's speculative example counts emitted tokens (n_predict) and accepted draft "
                "tokens (n_accept); calls = n_predict - n_accept - 1 (the first token comes from the prompt pass; "
                "each call emits its accepted tokens plus one), X = n_accept / calls",
                P=int(run["n_draft"]) if "n_draft" in run else None,
                mean_draft_size=drafted / calls if drafted is not None else None,
                notes=("an estimate within one verifier call",),
            )
        )
    return out


def read_llamacpp_timings(path: str, objs: list[Any]) -> list[Measured]:
    """Read llama.cpp server responses' ``timings`` (``draft_n``, ``draft_n_accepted``, ``predicted_n``): a bound.

    The server counts drafted and accepted tokens per request but not its verifier calls, and decode steps
    without a draft (skipped by ``--draft-min``) emit one token each. Counting every step as a call,
    calls <= ``predicted_n - draft_n_accepted``, so X >= ``draft_n_accepted`` / that: a lower bound on the
    accepted draft tokens per call, reported as such.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    objs
        Responses (or their ``timings`` objects), one per JSONL line.

    Returns
    -------
    list of Measured
        One entry whose mean is the lower bound, with the interval between requests.

    """
    acc, steps = [], []
    for i, o in enumerate(objs, start=1):
        t = o.get("timings", o) if isinstance(o, dict) else None
        if not isinstance(t, dict) or "draft_n_accepted" not in t:
            continue
        try:
            a = float(t["draft_n_accepted"])
            d = float(t.get("draft_n", np.nan))
            n = float(t["predicted_n"])
        except (KeyError, TypeError, ValueError):
            raise InputError(
                f"{path}: line {i}: timings need numeric predicted_n, draft_n and draft_n_accepted"
            ) from None
        for name, v in (("draft_n_accepted", a), ("predicted_n", n)):
            if not np.isfinite(v) or v < 0:
                raise InputError(f"{path}: line {i}: {name} = {v:g} is not a count")
        if np.isfinite(d) and a > d:
            raise InputError(f"{path}: line {i}: draft_n_accepted = {a:g} exceeds draft_n = {d:g}")
        if n - a <= 0:
            raise InputError(f"{path}: line {i}: predicted_n = {n:g} leaves no decode step after {a:g} accepted")
        acc.append(a)
        steps.append(n - a)
    if not acc:
        raise InputError(f"{path}: no response with timings.draft_n_accepted")
    mean, se, ci, how = between_groups(np.array(acc), np.array(steps))
    return [
        Measured.build(
            path,
            "llama.cpp-timings",
            "lower bound",
            (mean, se, ci, how),
            float(sum(steps)),
            "llama.cpp's timings give drafted and accepted tokens per request, not its verifier calls: "
            "X >= draft_n_accepted / (predicted_n - draft_n_accepted), a LOWER BOUND (steps without a draft "
            "count as calls)",
            groups=len(acc),
            notes=("a lower bound on X, not X: llama.cpp does not log its verifier calls per request",),
        )
    ]
