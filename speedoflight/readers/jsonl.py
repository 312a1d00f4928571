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

import contextlib
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
from .responses import LAYOUTS, ParsedRow, is_header, read_line, response_of

__all__ = [
    "STRING_CODES",
    "LogInfo",
    "branch_prompt",
    "branches_in",
    "check_listed",
    "describe",
    "is_branch",
    "jsonl_chunks",
    "log_branches",
    "prompt_key",
    "sniff",
]

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


@contextlib.contextmanager
def _records(path: str) -> Iterator[Iterator[tuple[int, Any]]]:
    """Open a JSONL file; yield its lines parsed, with their numbers (blank lines skipped, bad JSON one line)."""

    def lines(fh: Any) -> Iterator[tuple[int, Any]]:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json_loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}: line {lineno} is not valid JSON ({exc.msg}); is the file truncated?"
                ) from None

    with open_input(path, "r", encoding="utf-8-sig", errors="replace") as fh:
        yield lines(fh)


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
    with _records(path) as records:
        for lineno, obj in records:
            if is_header(obj):
                header = header or obj
                continue
            got = read_line(obj, None)
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


def branches_in(header: Any) -> list[int]:
    """Return the branch points a collect header names (``sampling.branch_at``); empty for a log without branches.

    Parameters
    ----------
    header
        The log's header line (:attr:`LogInfo.header`).

    Returns
    -------
    list of int
        The positions; the readers take a log's branch records only where its header names them.

    """
    sampling = header.get("sampling") if isinstance(header, dict) else None
    at = sampling.get("branch_at") if isinstance(sampling, dict) else None
    return [int(t) for t in at if isinstance(t, int)] if isinstance(at, list) else []


def is_branch(obj: Any) -> bool:
    """Tell whether a line is a branch record of ``collect --branch-at`` (its ``branch`` field).

    Parameters
    ----------
    obj
        One JSONL line, parsed.

    Returns
    -------
    bool
        True for a branch: read by :func:`log_branches` only, never as the prompt's sampled text.

    """
    return isinstance(obj, dict) and isinstance(obj.get("branch"), dict)


def branch_prompt(record: dict[str, Any]) -> Any:
    """Return a branch record's logical prompt ``[text, *prefix]``: its marker's, else (older logs) the request's.

    ``collect`` sends a branch to llama.cpp as the mixed prompt ``[text, ids...]`` and to vLLM and SGLang as token
    ids only (the text tokenized by the server), so the marker ``"branch": {"at": T, "prompt": [text, ids...]}``
    names the prompt the parent is found by; llama.cpp logs written before it named the prompt hold it only as the
    request's.

    Parameters
    ----------
    record
        A branch record (:func:`is_branch`).

    Returns
    -------
    Any
        The prompt as recorded (the caller checks its shape).

    """
    branch = record.get("branch")
    if isinstance(branch, dict) and "prompt" in branch:
        return branch["prompt"]
    req = record.get("request")
    return req.get("prompt") if isinstance(req, dict) else None


def _group(obj: Any, groups: dict[str, int], line_prompt: int) -> tuple[int, int]:
    """Return a line's prompt number (lines of one prompt share it; one without a prompt is its own) and the count."""
    key = prompt_key(obj)
    if key is None:
        return len(groups) + line_prompt, line_prompt + 1
    return groups.setdefault(key, len(groups) + line_prompt), line_prompt


def log_branches(path: str, seq: np.ndarray, prompt: np.ndarray, next_token: np.ndarray) -> dict[str, np.ndarray]:
    """Read the branch records of a ``collect --branch-at`` log as ``branch_*`` arrays.

    A branch record continues the prompt text followed by token ids, the first ``branch.at`` tokens of one of the
    prompt's continuations (:func:`branch_prompt`: its marker's ``prompt``, else the request's); its parent is a
    continuation of that prompt that starts with them (any one: they share the context).

    Parameters
    ----------
    path
        The log.
    seq, prompt, next_token
        Its continuations' rows as :func:`jsonl_chunks` numbers them (``with_ids``).

    Returns
    -------
    dict
        ``branch_topk_logprobs``, ``branch_topk_ids``, ``branch_next_token``, ``branch_next_surprisal``,
        ``branch_seq`` (numbered after every continuation), ``branch_pos`` (from the branch point) and
        ``branch_parent``; empty arrays where the log holds no branches.

    Raises
    ------
    InputError
        For a branch whose prompt or prefix matches no continuation, or without token ids.

    """
    groups: dict[str, int] = {}
    line_prompt = 0
    found: list[tuple[int, list[int], list[list[ParsedRow]], int]] = []
    with _records(path) as records:
        for lineno, obj in records:
            if is_header(obj):
                continue
            if not is_branch(obj):
                _, line_prompt = _group(obj, groups, line_prompt)
                continue
            asked = branch_prompt(obj)
            if not (isinstance(asked, list) and asked and isinstance(asked[0], str)):
                raise InputError(f"{path}: line {lineno} is a branch without its prompt [text, ids...]; re-collect")
            prefix = [int(x) for x in asked[1:] if isinstance(x, int) and not isinstance(x, bool)]
            if len(prefix) != len(asked) - 1 or obj["branch"].get("at") != len(prefix):
                raise InputError(f"{path}: line {lineno}: the branch's prefix is damaged; re-collect")
            got = read_line(obj, None)
            if got is None:
                raise InputError(f"{path}: line {lineno}: the branch's answer has no log-probabilities")
            key = json.dumps(asked[0], sort_keys=True)
            if key not in groups:
                raise InputError(f"{path}: line {lineno} branches a prompt the log holds no continuation of")
            found.append((groups[key], prefix, got[1], lineno))
    names = ("topk_logprobs", "topk_ids", "next_token", "next_surprisal", "seq", "pos", "parent")
    if not found:
        return {}
    starts = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
    by_prefix: dict[tuple[int, tuple[int, ...]], int] = {}
    for at in sorted({len(f[1]) for f in found}):
        for a, b in zip(starts, [*starts[1:], len(seq)], strict=True):
            if b - a >= at:
                by_prefix.setdefault((int(prompt[a]), tuple(next_token[a : a + at].tolist())), int(seq[a]))
    rows: list[ParsedRow] = []
    meta: list[tuple[int, int, int]] = []  # (seq, pos, parent) per row
    next_seq = int(seq.max()) + 1 if len(seq) else 0
    for group, prefix, choices, lineno in found:
        parent = by_prefix.get((group, tuple(prefix)))
        if parent is None:
            raise InputError(f"{path}: line {lineno}: the branch's prefix starts none of its prompt's continuations")
        for choice in choices:
            for p, row in enumerate(choice):
                if not all(isinstance(k, int) for k in (*row[3], row[4])):
                    raise InputError(
                        f"{path}: line {lineno}: a branch needs token ids; re-collect from a server that lists them (llama.cpp, vLLM)"
                    )
                rows.append(row)
                meta.append((next_seq, len(prefix) + p, parent))
            next_seq += 1
    width = max(1, max(len(r[0]) for r in rows)) if rows else 1
    vals = np.full((len(rows), width), -np.inf)
    ids = np.full((len(rows), width), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        vals[i, : len(row[0])] = row[0]
        ids[i, : len(row[3])] = row[3]
    missing = vals <= MISSING_LOGPROB
    vals[missing], ids[missing] = -np.inf, -1
    m = np.array(meta, dtype=np.int64).reshape(-1, 3)
    out = {
        "topk_logprobs": vals,
        "topk_ids": ids,
        "next_token": np.array([r[4] for r in rows], dtype=np.int64),
        "next_surprisal": -np.array([r[2] for r in rows], dtype=np.float64),
        "seq": m[:, 0],
        "pos": m[:, 1],
        "parent": m[:, 2],
    }
    return {f"branch_{k}": out[k] for k in names}


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

    with _records(path) as records:
        for lineno, obj in records:
            if is_header(obj) or is_branch(obj):  # a branch's rows are not the sampled text (log_branches)
                continue
            got = read_line(obj, layout)
            if got is None:
                raise InputError(f"{path}: line {lineno} does not follow the {layout} layout of the first line")
            this_prompt, line_prompt = _group(obj, groups, line_prompt)
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
