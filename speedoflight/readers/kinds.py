"""Logged continuations read once, with the kind of text of each prompt (``prose``, ``code``, ...).

Dumps made with ``dump --per-kind`` record the kind of every line of their prompt file (metadata
``prompt_kinds``), and ``speedoflight collect`` records a ``kind`` per request line. The prompts are numbered as
:func:`speedoflight.readers.continuations.grafted_input` numbers them (each file's own prompt index, offset past
the earlier files'), so a root's ``root_prompt`` finds its kind here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._util.paths import expand_paths
from .._util.remote import open_input
from ..errors import InputError
from .continuations import _LOG_SUFFIXES, _read, api_log_parts

__all__ = ["log_prompt_kinds", "prompt_kinds", "read_continuations"]


def read_continuations(paths: str | Sequence[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Read the arrays the grafted tree needs from dumps and API logs, once.

    Parameters
    ----------
    paths
        Dumps, API logs, globs or folders.

    Returns
    -------
    tuple
        The files (expanded, in order) and their arrays (``topk_logprobs``, ``topk_ids``, ``next_token``,
        ``next_surprisal``, ``seq``, ``pos`` and ``prompt`` where recorded), ready for
        :func:`~speedoflight.simulation.grafted.optimum` ``(files, parts=...)``.

    """
    files = expand_paths([paths] if isinstance(paths, str | os.PathLike) else paths)
    return files, [api_log_parts(f) if f.lower().endswith(_LOG_SUFFIXES) else _read(f) for f in files]


def log_prompt_kinds(path: str) -> dict[int, str]:
    """Return the kind of each prompt of an API log, numbered as its rows are (``jsonl_chunks``).

    Parameters
    ----------
    path
        An API log (JSONL); ``speedoflight collect`` writes a ``kind`` on every request line.

    Returns
    -------
    dict
        Prompt number -> kind, for the prompts whose lines name one (the first line's kind wins).

    """
    from .jsonl import prompt_key
    from .responses import is_header

    kinds: dict[int, str] = {}
    groups: dict[str, int] = {}
    alone = 0
    with open_input(path, "r", encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(f"{path}: a line is not valid JSON; is the file truncated?") from None
            if is_header(obj):
                continue
            key = prompt_key(obj)  # the same numbering as jsonl_chunks: grouped lines share one, others get their own
            if key is None:
                number = len(groups) + alone
                alone += 1
            else:
                number = groups.setdefault(key, len(groups) + alone)
            kind = obj.get("kind") if isinstance(obj, dict) else None
            if isinstance(kind, str) and kind:
                kinds.setdefault(number, kind)
    return kinds


def _dump_kinds(path: str, part: dict[str, Any] | None = None) -> dict[int, str]:
    """Return a dump's kinds of text by prompt: from its metadata as the scan kept it (``part``), else read."""
    from .dumpfile import read_metadata

    kept = part is not None and "_prompt_kinds" in part
    listed = part["_prompt_kinds"] if part is not None and kept else read_metadata(path).get("prompt_kinds")
    if not isinstance(listed, list):
        return {}
    return {i: k for i, k in enumerate(listed) if isinstance(k, str) and k}


def prompt_kinds(files: Sequence[str], parts: Sequence[dict[str, Any]]) -> dict[int, str]:
    """Return the kind of text of each prompt, by its number in the grafted input.

    Parameters
    ----------
    files, parts
        As :func:`read_continuations` returns them.

    Returns
    -------
    dict
        Prompt number (``OptimumResult.root_prompt``) -> kind; empty where no input records kinds.

    """
    out: dict[int, str] = {}
    base = 0
    for f, a in zip(files, parts, strict=True):
        prompt = np.asarray(a["prompt"] if "prompt" in a else a["seq"], dtype=np.int64)
        own = log_prompt_kinds(f) if f.lower().endswith(_LOG_SUFFIXES) else _dump_kinds(f, a)
        for p in np.unique(prompt).tolist():
            if p in own:
                out[p + base] = own[p]
        base += int(prompt.max()) + 1 if prompt.size else 0
    return out
