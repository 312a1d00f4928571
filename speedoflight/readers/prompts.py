"""Prompt files: read them (text, or JSONL with kinds) and choose per kind; used by dump, oracle, measure and collect."""

from __future__ import annotations

import json
import os

from .._util.jsonsafe import loads as json_loads
from ..errors import InputError

__all__ = ["MAX_PROMPTS_BYTES", "choose_prompts", "read_prompts"]

#: The largest prompt file read (prompts are read whole).
MAX_PROMPTS_BYTES = 256 << 20


def read_prompts(path: str) -> list[tuple[str, str]]:
    """Prompts as (text, kind): a text file (one per line) or JSONL with ``prompt`` (and ``kind``).

    Parameters
    ----------
    path
        The prompt file; ``.jsonl`` or ``.ndjson`` is read as JSONL, anything else as plain text.

    Returns
    -------
    list of tuple of (str, str)
        One ``(text, kind)`` per non-blank line, in file order; kind is ``"text"`` when not given.

    """
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such prompt file")
    if os.path.getsize(path) > MAX_PROMPTS_BYTES:
        raise InputError(f"{path}: over {MAX_PROMPTS_BYTES >> 20} MiB of prompts; split the file")
    out: list[tuple[str, str]] = []
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text_all = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}: line {bad_line} is not valid UTF-8 (byte {exc.start}); save the file as UTF-8"
        ) from None
    lines = text_all.splitlines()
    jsonl = path.lower().endswith((".jsonl", ".ndjson"))
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if jsonl:
            try:
                obj = json_loads(line)
                text = obj["prompt"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise InputError(f"{path}: line {i} is not a JSON object with a 'prompt' field") from None
            if not isinstance(text, str) or not text:
                raise InputError(f"{path}: line {i}: 'prompt' must be a non-empty string")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate (\ud800) written in the JSON: no text has it
                raise InputError(
                    f"{path}: line {i}: 'prompt' holds a lone surrogate (an escape like \\ud800 without its pair); "
                    "fix the text"
                ) from None
            out.append((text, str(obj.get("kind", "text"))))
        else:
            out.append((line, "text"))
    if not out:
        raise InputError(f"{path}: no prompts in the file")
    return out


def choose_prompts(items: list[tuple[str, str]], per_kind: int | None) -> list[int]:
    """Prompt indices in file order; with ``per_kind``, only the first N of each kind.

    Parameters
    ----------
    items
        ``(text, kind)`` pairs, as from :func:`read_prompts`.
    per_kind
        Prompts kept per kind (None: all).

    Returns
    -------
    list of int
        Indices into ``items``, increasing.

    """
    if per_kind is None:
        return list(range(len(items)))
    seen: dict[str, int] = {}
    out = []
    for i, (_, kind) in enumerate(items):
        if seen.get(kind, 0) < per_kind:
            seen[kind] = seen.get(kind, 0) + 1
            out.append(i)
    return out
