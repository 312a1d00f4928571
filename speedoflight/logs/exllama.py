"""ExLlamaV3 job results: accepted and rejected draft tokens per job, with its new tokens (a lower bound on X).

``exllamav3/generator/job.py`` (turboderp-org/exllamav3@4f8ad012, 2026-08) adds to a finished job's result
(``eos`` true) ``new_tokens`` and, with a draft model or n-gram drafting, ``accepted_draft_tokens`` and
``rejected_draft_tokens`` (``generator.py``: a draft token matching the target's sample is accepted; the positions
after the first mismatch are rejected). Saved as JSON (one result per line, tensors left out), they are read here.

No step count is recorded. Accepted and rejected alone cannot give X: how many verifications those tokens came in
is unknown (anything from one to the drafted tokens). With ``new_tokens`` they bound it: every forward pass of the
job emits its accepted draft tokens plus one sampled token, so forward passes = new_tokens - accepted; passes that
had no draft (an n-gram drafter finds no match) count among them, so X >= accepted / (new_tokens - accepted), a
lower bound, equal to X when every pass had a draft.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ._text import _integer
from .format import any_object
from .result import Measured
from .uncertainty import between_or_totals

__all__ = ["is_exllamav3", "read_exllamav3"]

_KEYS = ("accepted_draft_tokens", "rejected_draft_tokens")


def is_exllamav3(objs: list[Any]) -> bool:
    """Whether the objects are ExLlamaV3 job results with draft counts.

    Parameters
    ----------
    objs
        The file's JSON objects.

    Returns
    -------
    bool
        True when one of the first 50 holds ``accepted_draft_tokens`` and ``rejected_draft_tokens``.

    """
    return any_object(objs, lambda o: all(k in o for k in _KEYS))


def read_exllamav3(path: str, objs: list[Any]) -> list[Measured]:
    """Read ExLlamaV3 job results into one entry: the lower bound accepted / (new_tokens - accepted).

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    objs
        Job results, one per JSONL line (or a JSON list); those without draft counts are skipped.

    Returns
    -------
    list of Measured
        One entry labelled ``lower bound``, with the interval between jobs.

    """
    acc, passes, drafted = [], [], []
    for i, o in enumerate(objs, start=1):
        if not isinstance(o, dict) or not all(k in o for k in _KEYS):
            continue
        where = f"line {i}"
        a = _integer(path, where, "accepted_draft_tokens", o["accepted_draft_tokens"])
        r = _integer(path, where, "rejected_draft_tokens", o["rejected_draft_tokens"])
        if "new_tokens" not in o:
            raise InputError(
                f"{path}: {where}: accepted and rejected draft tokens without new_tokens cannot give X (they do not "
                "say how many verifications they came in); save the job's final result, which has new_tokens"
            )
        n = _integer(path, where, "new_tokens", o["new_tokens"])
        if n - a < 1:
            raise InputError(
                f"{path}: {where}: new_tokens = {n} with {a} accepted draft tokens; every forward pass emits one "
                "token of its own besides the accepted ones, so new_tokens must exceed accepted_draft_tokens"
            )
        acc.append(a)
        passes.append(n - a)
        drafted.append(a + r)
    if not acc:
        raise InputError(f"{path}: no ExLlamaV3 result with accepted_draft_tokens and rejected_draft_tokens")
    a_arr, n_arr = np.array(acc, float), np.array(passes, float)
    estimate = between_or_totals(a_arr, n_arr)
    return [
        Measured.build(
            path,
            "exllamav3",
            "lower bound",
            estimate,
            float(n_arr.sum()),
            "ExLlamaV3 counts accepted and rejected draft tokens per job, not its verifications; forward passes = "
            "new_tokens - accepted (each emits its accepted tokens plus one), passes without a draft included, so "
            "X >= accepted / (new_tokens - accepted), a LOWER BOUND",
            groups=len(acc),
            notes=(
                "a lower bound on X, not X: ExLlamaV3 does not count its verifications; passes without a draft count",
                f"acceptance per drafted token: {float(a_arr.sum()) / max(float(sum(drafted)), 1.0):.4f} (not X)",
            ),
        )
    ]
