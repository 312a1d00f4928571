"""Ollama's MLX runner: the per-request ``speculative decode stats`` log line (a lower bound on X).

``x/mlxrunner/speculate_stats.go`` (ollama/ollama@fb307609, 2026-08; at info level since 3ff2dcb6, 2026-07-29, at
debug level before) logs, when a request ends, through Go's slog text handler::

    time=2026-08-21T10:00:00.000-07:00 level=INFO source=speculate_stats.go:62 msg="speculative decode stats"
    iterations=120 drafted=300 accepted=210 acceptance=0.70 avg_draft=2.50 max_draft=4 avg_accepted=1.75
    depth_over_time="1.0/2 2.5/4"

``iterations`` counts every decode round of the request, including the rounds the depth controller ran without
a draft (parked at depth 0, ``speculate.go``); ``drafted`` and ``accepted`` are summed over rounds;
``acceptance`` = accepted / drafted and ``avg_accepted`` = accepted / iterations, both to 2 decimals. A round that
drafted nothing is not a verification of a draft, so accepted / iterations is a lower bound on X, the accepted
draft tokens per verification; it equals X when every round drafted.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import InputError
from ._text import _count
from .result import Measured
from .uncertainty import between_or_totals

__all__ = ["is_ollama_log", "read_ollama_log"]

_MARK = 'msg="speculative decode stats"'
_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def is_ollama_log(text: str) -> bool:
    """Whether ``text`` holds Ollama's ``speculative decode stats`` lines.

    Parameters
    ----------
    text
        The file's content.

    Returns
    -------
    bool
        True when a line carries ``msg="speculative decode stats"``.

    """
    return _MARK in text


def _field(path: str, where: str, pairs: dict[str, str], name: str) -> float:
    if name not in pairs:
        raise InputError(f"{path}: {where}: a speculative decode stats line without {name}=")
    try:
        v = float(pairs[name].strip('"'))
    except ValueError:
        raise InputError(f"{path}: {where}: {name}={pairs[name]} is not a number") from None
    return _count(path, where, name, v)


def read_ollama_log(path: str, text: str) -> list[Measured]:
    """Read the ``speculative decode stats`` lines of an Ollama server log: one per request.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        The server log; other lines are ignored.

    Returns
    -------
    list of Measured
        One entry labelled ``lower bound``: sum accepted / sum iterations, with the interval between requests.

    """
    acc, rounds, drafted, top = [], [], [], 0.0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if _MARK not in line:
            continue
        where = f"line {lineno}"
        pairs = dict(_PAIR.findall(line[line.index(_MARK) + len(_MARK) :]))
        n = _field(path, where, pairs, "iterations")
        d = _field(path, where, pairs, "drafted")
        a = _field(path, where, pairs, "accepted")
        if a > d:
            raise InputError(f"{path}: {where}: accepted={a:g} exceeds drafted={d:g}")
        for name, value in (("acceptance", a / d if d else 0.0), ("avg_accepted", a / n if n else 0.0)):
            if name in pairs and abs(_field(path, where, pairs, name) - value) > 0.005 + 1e-9:
                raise InputError(f"{path}: {where}: {name}={pairs[name]} is not {value:.4f}; the line is damaged")
        if "max_draft" in pairs:
            top = max(top, _field(path, where, pairs, "max_draft"))
            if n and d > top * n:
                raise InputError(f"{path}: {where}: drafted={d:g} exceeds max_draft x iterations")
        if n == 0 or d == 0:
            continue  # a request that never drafted says nothing about acceptance
        acc.append(a)
        rounds.append(n)
        drafted.append(d)
    if not acc:
        raise InputError(f"{path}: no 'speculative decode stats' line with drafted tokens")
    n_arr = np.array(rounds)
    estimate = between_or_totals(acc, rounds)
    return [
        Measured.build(
            path,
            "ollama-log",
            "lower bound",
            estimate,
            float(n_arr.sum()),
            "Ollama's MLX runner counts decode rounds (iterations), drafted and accepted tokens per request; its "
            "rounds include those without a draft, so X >= accepted / iterations, a LOWER BOUND",
            P=int(top) if top else None,
            mean_draft_size=float(sum(drafted)) / float(n_arr.sum()),
            groups=len(acc),
            notes=("a lower bound on X, not X: rounds without a draft count as iterations",),
        )
    ]
