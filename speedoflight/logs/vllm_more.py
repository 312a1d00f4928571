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

import numpy as np

from ..errors import InputError
from ._text import _count, _fields, _number
from .result import Measured
from .uncertainty import between_groups, distribution_from_cumulative, from_distribution, totals_only
from .vllm import check_printout, log_lines

__all__ = ["read_vllm_offline", "read_vllm_v0_log"]

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
    accepted = np.array([a for a, _ in rows])
    drafts = np.array([n for _, n in rows])
    if len(rows) >= 5:
        mean, se, ci, _ = between_groups(accepted, drafts)
        how = f"batch means over {len(rows)} logging intervals (differences of the cumulative lines; t-interval)"
    else:
        mean, se, ci, how = totals_only(float(accepted.sum()), float(drafts.sum()), k)
    return Measured(
        source=path,
        format="vllm-v0-log",
        label=label,
        mean_accepted=mean,
        iterations=float(drafts.sum()),
        se=se,
        ci=ci,
        uncertainty=how,
        convention="vLLM V0 counts cumulative draft, accepted and emitted tokens; its 'accepted' includes "
        "positions after a rejection, so X = emitted tokens / drafts - 1 with drafts = draft tokens / k "
        "(each call emits the accepted prefix plus one token)",
        P=k,
        mean_draft_size=float(k),
        notes=tuple(sorted(notes)),
    )


def read_vllm_offline(path: str, text: str) -> list[Measured]:
    """Read the printout of vLLM's ``examples/offline_inference/spec_decode.py``.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        The printout.

    Returns
    -------
    list of Measured
        One entry: X = num_accepted_tokens / num_drafts; the distribution of X, and with it the interval, from
        the per-token acceptance (P(X > i), printed to 2 decimals).

    """
    vals: dict[str, float] = {}
    rates: dict[int, float] = {}
    mean_len = None
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
        try:
            if key in _OFFLINE_KEYS:
                vals[key] = float(_number(value))
                _count(path, f"line {lineno}", key, vals[key])
            elif key == "mean acceptance length":
                mean_len = float(_number(value))
        except ValueError:
            raise InputError(f"{path}: line {lineno}: {key} = {value.strip()!r} is not a number") from None
    if "num_drafts" not in vals or "num_accepted_tokens" not in vals:
        raise InputError(f"{path}: the spec_decode.py printout lacks num_drafts or num_accepted_tokens")
    n, acc = vals["num_drafts"], vals["num_accepted_tokens"]
    if n <= 0:
        raise InputError(f"{path}: num_drafts is {n:g}: nothing was drafted")
    per_pos = [rates[i] for i in sorted(rates)] if rates else None
    if per_pos is not None and sorted(rates) != list(range(len(rates))):
        raise InputError(f"{path}: the 'acceptance at token i' lines skip a position")
    check_printout(path, "acceptance at token lines", mean_len, per_pos)
    drafted = vals.get("num_draft_tokens")
    if drafted is not None and acc > drafted:
        raise InputError(f"{path}: {acc:g} tokens accepted but only {drafted:g} drafted")
    x = acc / n
    if mean_len is not None and abs(1 + x - mean_len) > 0.005 + 1e-9:
        raise InputError(f"{path}: mean acceptance length {mean_len} is not 1 + {acc:g}/{n:g}; the printout is damaged")
    k = len(per_pos) if per_pos else None
    if per_pos:
        counts = distribution_from_cumulative(n, np.asarray(per_pos) * n)
        mean, se, ci, how = from_distribution(counts, "the per-token acceptance (printed to 2 decimals)", x)
        dist = np.clip(counts / n, 0, 1)
    else:
        mean, se, ci, how = totals_only(acc, n, k)
        dist = None
    return [
        Measured(
            source=path,
            format="vllm-offline",
            label="",
            mean_accepted=mean,
            iterations=n,
            se=se,
            ci=ci,
            uncertainty=how,
            convention="spec_decode.py prints num_accepted_tokens and num_drafts: X = accepted / drafts (its "
            "mean acceptance length is X + 1); total_num_output_tokens / num_drafts is not used (it counts a "
            "prefill token per request and misses tokens cut at the end)",
            P=k,
            mean_draft_size=drafted / n if drafted is not None else None,
            distribution=dist,
        )
    ]
