"""LMDeploy server logs: the ``SpecDecoding metrics:`` part of its periodic stats line.

LMDeploy (``lmdeploy/metrics/loggers.py``, ``LoggingStatLogger``; InternLM/lmdeploy@1263d5cd, 2026-08) prints, per
DP rank and logging interval, one line::

    [2026-08-20 10:00:00 DP0] Avg thr (in/out): 12.0 / 93.0 tokens/s, Server (succeeded/failed/routed/waiting):
    3 / 0 / 1 / 0, Engine (running/waiting): 1 / 0, KV cache: 1.2%, SpecDecoding metrics: Draft acceptance rate:
    62.00%, Mean acceptance length: 2.86, Accepted: 930 tokens, Drafted: 1500 tokens, Per-position acceptance rate:
    0.800, 0.620, 0.440

Releases from 2025-11 to 2026-02 (PR #3945) printed the ``SpecDecoding metrics:`` part on a line of its own, after
a ``[date DPn] Avg prompt throughput: ...`` line. The counts cover the interval since the previous line (the logger
resets them), as vLLM's do; mean acceptance length = 1 + accepted / drafts; the per-position rates are drafts with
position i accepted / drafts (P(X > i)); the draft acceptance rate is accepted / drafted, in percent to 2 decimals.
vLLM prints the same field names but never LMDeploy's ``[date DPn]`` stats prefix, which tells the two apart.
"""

from __future__ import annotations

import re

from ..errors import InputError
from ._text import _number
from .result import Measured
from .vllm import spec_entry, spec_line

__all__ = ["is_lmdeploy_log", "read_lmdeploy_log"]

_MARK = "SpecDecoding metrics:"
_STATS = re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d DP(\d+)\] Avg (?:thr \(in/out\)|prompt throughput)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def is_lmdeploy_log(text: str) -> bool:
    """Whether ``text`` is an LMDeploy server log with speculative-decoding stats.

    Parameters
    ----------
    text
        The file's content.

    Returns
    -------
    bool
        True when it holds LMDeploy's ``[date DPn] Avg ...`` stats lines and a ``SpecDecoding metrics:`` part.

    """
    return _MARK in text and bool(_STATS.search(text))


def read_lmdeploy_log(path: str, text: str, k: int | None = None) -> list[Measured]:
    """Read LMDeploy's ``SpecDecoding metrics:`` lines: all DP ranks pooled, then one entry per rank.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        The server log; other lines are ignored.
    k
        Draft tokens per call, for lines with neither a mean acceptance length nor per-position rates.

    Returns
    -------
    list of Measured
        All ranks pooled (label empty), then one entry per DP rank when there are several.

    """
    by: dict[str, list[tuple[str, float, float, float | None, list[float] | None]]] = {}
    rank = ""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _ANSI.sub("", raw)
        m = _STATS.search(line)
        if m:
            rank = f"DP{m.group(1)}"  # a bare SpecDecoding line (2025-11 to 2026-02) belongs to the line before
        at = line.find(_MARK)
        if at < 0:
            continue
        where = f"line {lineno}"
        acc, drafted, mean_len, rates, fields = spec_line(path, where, line[at + len(_MARK) :])
        if "draft acceptance rate" in fields and drafted > 0:
            try:
                pct = _number(fields["draft acceptance rate"])
            except ValueError:
                raise InputError(f"{path}: {where}: the draft acceptance rate is not a number") from None
            if abs(pct - 100 * acc / drafted) > 0.005 + 1e-9:
                raise InputError(
                    f"{path}: {where}: draft acceptance rate {pct}% is not {acc:g}/{drafted:g}; the line is damaged"
                )
        by.setdefault(rank, []).append((where, acc, drafted, mean_len, rates))
    rows = [x for r in by.values() for x in r]
    if not any(d > 0 for _, _, d, _, _ in rows):
        raise InputError(f"{path}: no LMDeploy 'SpecDecoding metrics:' line with drafted tokens")
    conv = (
        "LMDeploy prints accepted and drafted tokens per logging interval and the mean acceptance length 1 + "
        "accepted/drafts (bonus token included); X = accepted draft tokens / drafts, intervals summed"
    )
    out = [spec_entry(path, "", rows, k, "lmdeploy-log", conv)]
    if len(by) > 1:
        out += [
            spec_entry(path, r or "no DP rank", lines, k, "lmdeploy-log", conv)
            for r, lines in by.items()
            if any(d > 0 for _, _, d, _, _ in lines)
        ]
    return out
