"""The responses of serving APIs with top-k log-probabilities: one JSON value to rows of one sequence each.

Recognised layouts, tried in this order:

``openai-chat``
    ``choices[].logprobs.content[]`` with ``top_logprobs: [{token, logprob}]``
    and the sampled token's ``logprob``.
``openai-completions``
    ``choices[].logprobs.top_logprobs: [{token: logprob}]`` with
    ``token_logprobs`` for the sampled tokens.
``sglang``
    ``meta_info.output_top_logprobs: [[[logprob, token_id, text], ...], ...]``
    with ``meta_info.output_token_logprobs`` for the sampled tokens.
``vllm``
    ``logprobs: [{token_id: logprob}]`` at the top level or in
    ``outputs[]`` (vLLM's ``RequestOutput``), values either numbers or
    ``{"logprob": ..., "rank": ...}``; ``token_ids`` gives the sampled tokens.

A value may also be a record written by ``speedoflight collect``: ``{"request": {...}, "response": {...}}``
(:func:`response_of`), or its header line (:func:`is_header`). Tokens are identified by their ids wherever a
layout gives them (vLLM, SGLang, and llama.cpp's ``id`` beside OpenAI's fields), else by their bytes, else by
their strings. Reading whole files is :mod:`speedoflight.readers.jsonl`.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["HEADER_FORMAT", "LAYOUTS", "ParsedRow", "is_header", "parse_line", "read_line", "response_of", "token_id"]

LAYOUTS = ("openai-chat", "openai-completions", "sglang", "vllm")
#: The ``format`` of the header line ``speedoflight collect`` writes.
HEADER_FORMAT = "speedoflight-collect"

# One parsed position: (listed log-probabilities, cap logprob or nan, sampled-token logprob or nan,
# the listed tokens' identities, the sampled token's identity or None). A token's identity is its id where the
# layout gives one (vLLM, SGLang), else its bytes (OpenAI chat, where given), else its string.
ParsedRow = tuple[list[float], float, float, list[Any], Any]


def _identity(item: dict) -> Any:
    """Return a token's identity in an OpenAI chat entry: its id where given (llama.cpp), else bytes, else string.

    llama.cpp returns special tokens with empty strings and bytes but distinct ids, so the id must win.
    """
    tid = item.get("id")
    if isinstance(tid, int) and not isinstance(tid, bool):
        return tid
    tok = item.get("token")
    as_id = token_id(tok)
    if as_id is not None:
        return as_id
    b = item.get("bytes")
    return tuple(b) if isinstance(b, list) and b else tok


def token_id(token: Any) -> int | None:
    """Return the id a token string spells as vLLM's ``return_tokens_as_token_ids`` writes it (``token_id:42``).

    Parameters
    ----------
    token
        A token as a log lists it.

    Returns
    -------
    int or None
        The id, or None for any other token.

    """
    if isinstance(token, str) and token.startswith("token_id:") and token[9:].isdigit():
        return int(token[9:])
    return None


def is_header(obj: Any) -> bool:
    """Return whether a parsed line is the header ``speedoflight collect`` writes.

    Parameters
    ----------
    obj
        One JSONL line, parsed.

    Returns
    -------
    bool
        True for ``{"format": "speedoflight-collect", ...}``.

    """
    return isinstance(obj, dict) and obj.get("format") == HEADER_FORMAT


def response_of(obj: Any) -> Any:
    """Return the response a line holds: a collect record's ``response``, else the line itself.

    Parameters
    ----------
    obj
        One JSONL line, parsed.

    Returns
    -------
    Any
        The response object.

    """
    if isinstance(obj, dict) and isinstance(obj.get("response"), dict | list):
        return obj["response"]
    return obj


def _num(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError("not a number")
    return float(x)


def _openai_choices(obj: dict, key: str) -> list | None:
    """Return an OpenAI reply's choices where the first one's ``logprobs`` holds a list under ``key``, else None."""
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices:
        return None
    first = choices[0].get("logprobs") if isinstance(choices[0], dict) else None
    if not isinstance(first, dict) or not isinstance(first.get(key), list):
        return None
    return choices


def _openai_chat(obj: dict) -> list[list[ParsedRow]] | None:
    choices = _openai_choices(obj, "content")
    if choices is None:
        return None
    out, entries = [], []
    for ch in choices:
        rows = []
        items = ch["logprobs"]["content"]
        for item in items:
            listed = item.get("top_logprobs") or []
            tops = [_num(t["logprob"]) for t in listed]
            keys = [_identity(t) for t in listed]
            rows.append(
                (tops, math.nan, _num(item["logprob"]) if "logprob" in item else math.nan, keys, _identity(item))
            )
        out.append(rows)
        entries.append(items)
    usage = obj.get("usage")
    generated = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if isinstance(generated, int) and sum(len(r) for r in out) < generated:
        out = [rows[: _aligned(items)] for rows, items in zip(out, entries, strict=True)]
    return out


def _aligned(items: list[Any]) -> int:
    """Return how many leading entries surely stand for one generated token each.

    llama.cpp gives no entry for a token that leaves the text in the middle of a UTF-8 character: the next entry
    then spells the whole character (its id the completing token's) and the partial token's row is lost, so the
    continuation's positions shift. Such merged entries hold non-ASCII bytes, so every entry before the first
    non-ASCII one is one token; the sequence is cut there (only where the response generated more tokens than it
    lists entries).
    """
    for i, item in enumerate(items):
        b = item.get("bytes") if isinstance(item, dict) else None
        if isinstance(b, list):
            if any(not isinstance(x, int) or x >= 128 for x in b):
                return i
        elif not str(item.get("token", "") if isinstance(item, dict) else "").isascii():
            return i
    return len(items)


def _openai_completions(obj: dict) -> list[list[ParsedRow]] | None:
    choices = _openai_choices(obj, "top_logprobs")
    if choices is None:
        return None
    out = []
    for ch in choices:
        lp = ch["logprobs"]
        sampled = lp.get("token_logprobs") or []
        tokens = lp.get("tokens") or []
        rows = []
        for i, tops in enumerate(lp["top_logprobs"]):
            if tops is None:  # the first prompt token has none
                continue
            s = sampled[i] if i < len(sampled) and sampled[i] is not None else math.nan
            tok = tokens[i] if i < len(tokens) else None
            keys = [k if token_id(k) is None else token_id(k) for k in tops]
            tok = tok if token_id(tok) is None else token_id(tok)
            rows.append(([_num(v) for v in tops.values()], math.nan, _num(s) if s == s else s, keys, tok))
        out.append(rows)
    return out


def _sglang(obj: dict) -> list[list[ParsedRow]] | None:
    meta = obj.get("meta_info")
    if not isinstance(meta, dict) or not isinstance(meta.get("output_top_logprobs"), list):
        return None
    sampled = meta.get("output_token_logprobs") or []
    rows = []
    for i, tops in enumerate(meta["output_top_logprobs"]):
        if tops is None:
            continue
        s = sampled[i][0] if i < len(sampled) and sampled[i] and sampled[i][0] is not None else math.nan
        tok = int(sampled[i][1]) if i < len(sampled) and sampled[i] and len(sampled[i]) > 1 else None
        rows.append(([_num(t[0]) for t in tops], math.nan, _num(s) if s == s else s, [int(t[1]) for t in tops], tok))
    return [rows]


def _vllm_positions(positions: list, token_ids: list | None) -> list[ParsedRow]:
    rows = []
    for i, pos in enumerate(positions):
        if pos is None:
            continue
        if not isinstance(pos, dict):
            raise TypeError("position is not a dict")
        listed, ranked, keys = [], [], []
        sampled = math.nan
        tid = token_ids[i] if token_ids is not None and i < len(token_ids) else None
        for key, val in pos.items():
            if isinstance(val, dict):
                lp = _num(val["logprob"])
                rank = val.get("rank")
            else:
                lp, rank = _num(val), None
            keys.append(int(key))  # keys are token ids
            listed.append(lp)
            if rank is not None:
                ranked.append((int(rank), lp))
            if tid is not None and int(key) == int(tid):
                sampled = lp
        # L entries form a top set iff all their ranks are <= L (ranks are 1-based);
        # an entry ranked beyond that (the sampled token) must not set the cap.
        cap = math.nan
        if ranked and len(ranked) == len(listed):
            in_top = [lp for r, lp in ranked if r <= len(listed)]
            if in_top and len(in_top) < len(listed):
                cap = min(in_top)
        rows.append((listed, cap, sampled, keys, int(tid) if tid is not None else None))
    return rows


def _vllm(obj: dict) -> list[list[ParsedRow]] | None:
    if isinstance(obj.get("logprobs"), list) and (not obj["logprobs"] or isinstance(obj["logprobs"][0], dict | None)):
        return [_vllm_positions(obj["logprobs"], obj.get("token_ids"))]
    outs = obj.get("outputs")
    if isinstance(outs, list) and outs and isinstance(outs[0], dict) and isinstance(outs[0].get("logprobs"), list):
        return [_vllm_positions(o["logprobs"], o.get("token_ids")) for o in outs]
    return None


_PARSERS = {
    "openai-chat": _openai_chat,
    "openai-completions": _openai_completions,
    "sglang": _sglang,
    "vllm": _vllm,
}


def parse_line(obj: Any, layout: str | None) -> tuple[str, list[list[ParsedRow]]] | None:
    """Parse one JSON value: a response, or a collect record holding one.

    Parameters
    ----------
    obj
        The value of one line.
    layout
        The layout the log is known to have, or None to try each of :data:`LAYOUTS`.

    Returns
    -------
    tuple or None
        ``(layout, rows)``, rows per sequence; None when the value is no response of a known layout.

    """
    obj = response_of(obj)
    items = obj if isinstance(obj, list) else [obj]
    found: str | None = layout
    seqs: list[list[ParsedRow]] = []
    for item in items:
        if not isinstance(item, dict):
            return None
        names = [layout] if layout else list(_PARSERS)
        for name in names:
            assert name is not None
            got = _PARSERS[name](item)
            if got is not None:
                found = name
                seqs.extend(got)
                break
        else:
            return None
    return (found or "openai-chat"), seqs


def read_line(obj: Any, layout: str | None) -> tuple[str, list[list[ParsedRow]]] | None:
    """Parse one JSON value as :func:`parse_line` does, with None where a field is missing or of the wrong type.

    Parameters
    ----------
    obj, layout
        As for :func:`parse_line`.

    Returns
    -------
    tuple or None
        What :func:`parse_line` returns; None too for a value whose fields are damaged.

    """
    try:
        return parse_line(obj, layout)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None
