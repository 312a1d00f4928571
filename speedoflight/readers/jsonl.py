"""JSONL files of top-k log-probabilities from serving APIs: one response per line, each one sequence.

The layouts a line may have (OpenAI chat and completions, SGLang, vLLM; a record of ``speedoflight collect``)
are parsed by :mod:`speedoflight.readers.responses`. A header line
``{"format": "speedoflight-collect", "server": {...}, "sampling": {...}}`` records what the server said about
itself (model, vocabulary size) and what was sent (:func:`describe`).

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
from .responses import LAYOUTS, ParsedRow, is_header, parse_line, response_of

__all__ = ["STRING_CODES", "LogInfo", "check_listed", "describe", "jsonl_chunks", "prompt_key", "sniff"]

#: Token strings without an id are coded from here up, so they never collide with a real token id.
STRING_CODES = 1 << 40


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


def _listed(row: ParsedRow) -> bool:
    return any(math.isfinite(v) and v > MISSING_LOGPROB for v in row[0])


def check_listed(path: str, lineno: int, rows: list[ParsedRow]) -> None:
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
    buf: list[ParsedRow] = []
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
