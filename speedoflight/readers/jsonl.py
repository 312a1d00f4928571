"""JSONL files of top-k log-probabilities from serving APIs.

One JSON object (or a list of them) per line; each response is one sequence.
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

A line may also be a record written by ``speedoflight collect``: ``{"request": {...}, "response": {...}}``,
the response in one of the layouts above, the request grouping continuations of one prompt; and a header line
``{"format": "speedoflight-collect", "server": {...}, "sampling": {...}}`` records what the server said about
itself (model, vocabulary size) and what was sent (:func:`describe`).

Tokens are identified by their ids wherever a layout gives them (vLLM, SGLang, and llama.cpp's ``id`` beside
OpenAI's fields), else by their bytes, else by their strings.

Log-probabilities of -9999 or less mean "not in the top k" (OpenAI's marker)
and are dropped. A sampled token listed beside the top k (vLLM adds it, with
a rank above k) counts as known mass, but the cap on unlisted tokens is then
the smallest probability among the entries with rank <= k.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._config import MISSING_LOGPROB
from .._util.jsonsafe import loads as json_loads
from .._util.remote import open_input
from ..errors import InputError
from ._base import RowChunk

__all__ = [
    "HEADER_FORMAT",
    "LAYOUTS",
    "STRING_CODES",
    "LogInfo",
    "check_listed",
    "describe",
    "is_header",
    "jsonl_chunks",
    "parse_line",
    "prompt_key",
    "response_of",
    "sniff",
    "token_id",
]

LAYOUTS = ("openai-chat", "openai-completions", "sglang", "vllm")
#: The ``format`` of the header line ``speedoflight collect`` writes.
HEADER_FORMAT = "speedoflight-collect"
#: Token strings without an id are coded from here up, so they never collide with a real token id.
STRING_CODES = 1 << 40

# One parsed position: (listed log-probabilities, cap logprob or nan, sampled-token logprob or nan,
# the listed tokens' identities, the sampled token's identity or None). A token's identity is its id where the
# layout gives one (vLLM, SGLang), else its bytes (OpenAI chat, where given), else its string.
_Row = tuple[list[float], float, float, list[Any], Any]


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


def _openai_chat(obj: dict) -> list[list[_Row]] | None:
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices:
        return None
    first = choices[0].get("logprobs") if isinstance(choices[0], dict) else None
    if not isinstance(first, dict) or not isinstance(first.get("content"), list):
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


def _openai_completions(obj: dict) -> list[list[_Row]] | None:
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices:
        return None
    first = choices[0].get("logprobs") if isinstance(choices[0], dict) else None
    if not isinstance(first, dict) or not isinstance(first.get("top_logprobs"), list):
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


def _sglang(obj: dict) -> list[list[_Row]] | None:
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


def _vllm_positions(positions: list, token_ids: list | None) -> list[_Row]:
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


def _vllm(obj: dict) -> list[list[_Row]] | None:
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


def parse_line(obj: Any, layout: str | None) -> tuple[str, list[list[_Row]]] | None:
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
    seqs: list[list[_Row]] = []
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


@dataclass(frozen=True)
class LogInfo:
    """What an API log says about itself, from its header line (if any) and its first record.

    Attributes
    ----------
    layout : str
        One of :data:`LAYOUTS`.
    model : str
        The model the header or the first response names ('' if none).
    vocab_size : int or None
        The vocabulary size the header records (``speedoflight collect`` asks the server).
    temperature : float or None
        The sampling temperature the header or the first request records.
    header : dict
        The header line (empty without one).

    """

    layout: str
    model: str = ""
    vocab_size: int | None = None
    temperature: float | None = None
    header: dict[str, Any] = field(default_factory=dict)


def _temperature(obj: Any) -> float | None:
    req = obj.get("request") if isinstance(obj, dict) else None
    t = req.get("temperature") if isinstance(req, dict) else None
    return float(t) if isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) else None


def _model(obj: Any) -> str:
    resp = response_of(obj)
    first = resp[0] if isinstance(resp, list) and resp else resp
    m = first.get("model") if isinstance(first, dict) else None
    return m if isinstance(m, str) else ""


def describe(path: str) -> LogInfo:
    """Return the layout of an API log and what it records about the server, or raise InputError.

    Parameters
    ----------
    path
        The log.

    Returns
    -------
    LogInfo
        The layout of the first record; the model, vocabulary size and temperature from the header line
        (``speedoflight collect``) or, where there is none, from the first record (its response's ``model``, its
        request's ``temperature``).

    """
    header: dict[str, Any] = {}
    with open_input(path, "r", encoding="utf-8-sig", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json_loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line {lineno} is not valid JSON ({exc.msg})") from None
            if is_header(obj):
                header = header or obj
                continue
            try:
                got = parse_line(obj, None)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError):
                got = None
            if got is None:
                raise InputError(
                    f"{path}: line {lineno} has no known log-probability layout; expected one of "
                    f"{', '.join(LAYOUTS)} (see `speedoflight estimate --help`)"
                )
            server: dict[str, Any] = header["server"] if isinstance(header.get("server"), dict) else {}
            sampling: dict[str, Any] = header["sampling"] if isinstance(header.get("sampling"), dict) else {}
            vocab = server.get("vocab_size")
            temp = sampling.get("temperature")
            return LogInfo(
                layout=got[0],
                model=str(server.get("model") or "") or _model(obj),
                vocab_size=int(vocab) if isinstance(vocab, int) and not isinstance(vocab, bool) and vocab > 0 else None,
                temperature=float(temp)
                if isinstance(temp, int | float) and not isinstance(temp, bool)
                else _temperature(obj),
                header=header,
            )
    raise InputError(f"{path}: the file is empty" if not header else f"{path}: the log holds no responses yet")


def sniff(path: str) -> str:
    """Return the layout of the first record, or raise InputError.

    Parameters
    ----------
    path
        The log.

    Returns
    -------
    str
        One of :data:`LAYOUTS`.

    """
    return describe(path).layout


def prompt_key(obj: Any) -> str | None:
    """Return what groups a line with others as continuations of one prompt, or None (the line stands alone).

    Parameters
    ----------
    obj
        One JSONL line, parsed.

    Returns
    -------
    str or None
        The line's ``prompt`` (or ``request.prompt`` / ``request.messages``), serialised; lines with the same
        one are continuations of one prompt. A response's ``n`` choices always are.

    """
    if not isinstance(obj, dict):
        return None
    req = obj["request"] if isinstance(obj.get("request"), dict) else {}
    for v in (obj.get("prompt"), obj.get("messages"), req.get("prompt"), req.get("messages")):
        if v is not None:
            return json.dumps(v, sort_keys=True)
    return None


def _listed(row: _Row) -> bool:
    return any(math.isfinite(v) and v > MISSING_LOGPROB for v in row[0])


def check_listed(path: str, lineno: int, rows: list[_Row]) -> None:
    """Refuse a sequence with a position that lists no top log-probabilities, naming the usual cause.

    Parameters
    ----------
    path, lineno
        Where the sequence is, for the message.
    rows
        The sequence's positions.

    Raises
    ------
    InputError
        For the first empty position. Where a position after the first lists none, the message says the server
        ran speculative decoding: llama.cpp returns ``top_logprobs: []`` (and ``logprob`` 0) for every token a
        verify step emits, keeping them only for tokens decoded without a draft.

    """
    empty = [p for p, row in enumerate(rows) if not _listed(row)]
    if not empty:
        return
    if empty[0] > 0:
        raise InputError(
            f"{path}: line {lineno}: {len(empty)} of {len(rows)} positions list no top log-probabilities, the first "
            f"at position {empty[0]}: the server ran speculative decoding (llama.cpp returns none for the tokens its "
            "verify steps emit, and cannot switch it off per request); collect from an instance of the same model "
            "without speculation"
        )
    raise InputError(f"{path}: line {lineno}, position {empty[0]} lists no top log-probabilities")


def jsonl_chunks(path: str, layout: str, rows_per: int = 4096, with_ids: bool = False) -> Iterator[RowChunk]:
    """Stream a JSONL file into chunks of top-k log-probability rows.

    Parameters
    ----------
    path
        The file.
    layout
        Its layout (:func:`sniff`).
    rows_per
        Rows per chunk.
    with_ids
        Also give each row's token ids and the sampled token (``RowChunk.ids``, ``next_token``): ids where the
        layout records them, else small integers standing for the token strings (bytes where given), the same
        for the same token throughout the file; -1 where unknown.

    Yields
    ------
    RowChunk
        Rows with ``seq`` (one per choice), ``pos``, ``surprisal`` (the sampled token's) and ``prompt`` (a
        response's choices, and lines of one prompt, share one; see :func:`prompt_key`).

    """
    buf: list[_Row] = []
    seqs: list[int] = []
    poss: list[int] = []
    prompts: list[int] = []
    vocab: dict[Any, int] = {}
    groups: dict[str, int] = {}
    seq_id = 0
    line_prompt = 0
    start = 0

    def code(key: Any) -> int:
        if key is None:
            return -1
        if isinstance(key, int):
            return key
        return vocab.setdefault(key, STRING_CODES + len(vocab))

    def flush() -> RowChunk:
        width = max(1, max(len(r[0]) for r in buf))
        vals = np.full((len(buf), width), -np.inf)
        ids = np.full((len(buf), width), -1, dtype=np.int64) if with_ids else None
        for i, (tops, _, _, keys, _) in enumerate(buf):
            vals[i, : len(tops)] = tops
            if ids is not None:
                ids[i, : len(keys)] = [code(k) for k in keys]
        missing = vals <= MISSING_LOGPROB
        vals[missing] = -np.inf
        if ids is not None:
            ids[missing] = -1
        caps = np.exp(np.array([r[1] for r in buf]))
        sampled = np.array([r[2] for r in buf])
        return RowChunk(
            values=vals,
            start=start,
            caps=caps,
            seq=np.array(seqs, dtype=np.int64),
            pos=np.array(poss, dtype=np.int64),
            surprisal=-sampled,
            prompt=np.array(prompts, dtype=np.int64),
            ids=ids,
            next_token=np.array([code(r[4]) for r in buf], dtype=np.int64) if with_ids else None,
        )

    with open_input(path, "r", encoding="utf-8-sig", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json_loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}: line {lineno} is not valid JSON ({exc.msg}); is the file truncated?"
                ) from None
            if is_header(obj):
                continue
            try:
                got = parse_line(obj, layout)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError):
                got = None
            if got is None:
                raise InputError(f"{path}: line {lineno} does not follow the {layout} layout of the first line")
            key = prompt_key(obj)
            if key is None:
                this_prompt = len(groups) + line_prompt
                line_prompt += 1
            else:
                this_prompt = groups.setdefault(key, len(groups) + line_prompt)
            for rows in got[1]:
                check_listed(path, lineno, rows)
                for p, row in enumerate(rows):
                    buf.append(row)
                    seqs.append(seq_id)
                    poss.append(p)
                    prompts.append(this_prompt)
                seq_id += 1
            if len(buf) >= rows_per:
                yield flush()
                start += len(buf)
                buf, seqs, poss, prompts = [], [], [], []
    if buf:
        yield flush()
