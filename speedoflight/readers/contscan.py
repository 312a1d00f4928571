"""Collect the arrays of the grafted tree during a command's one pass over its inputs, or read them from an API log.

:class:`ContinuationScan` keeps a dump's top-k rows with their token ids, sampled tokens and sequence structure as a
consumer of :func:`speedoflight.readers.scan.scan`; :func:`api_log_parts` reads the same arrays from a JSONL log of
API responses. Both feed :func:`speedoflight.readers.continuations.grafted_inputs`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["BRANCH_ARRAYS", "ContinuationScan", "api_log_parts"]

#: A dump's branched continuations (``dump --branch-at``): arrays of their rows, each stored as ``branch_<name>``;
#: ``parent`` is the ``seq`` of the continuation a branch leaves, and a branch's ``pos`` starts where it leaves it.
BRANCH_ARRAYS = ("topk_ids", "topk_logprobs", "next_token", "next_surprisal", "seq", "pos", "parent")


class ContinuationScan:
    """Collect what the grafted tree needs from dumps during a command's one pass over them (``scan``).

    Sources that are not dumps with token ids and sampled tokens make it unusable (``parts()`` returns None);
    nothing is refused, since the pass serves other consumers too.
    """

    wants_logprobs = False
    wants_ids = True

    def __init__(self) -> None:
        self._parts: list[dict[str, Any]] = []
        self._chunks: list[list[Any]] = []
        self.usable = True
        #: Why the scan is unusable ('' while it is usable), for the command's warning.
        self.reason = ""

    def _unusable(self, reason: str) -> None:
        if self.usable:
            self.usable, self.reason = False, reason

    def begin(self, index: int, source: Any) -> None:
        """Start collecting source ``index`` (a speedoflight dump, or the scan is unusable).

        Parameters
        ----------
        index
            The source's place in the pass.
        source
            The opened source.

        """
        if not (source.format.startswith("speedoflight-dump") or source.format.endswith("-jsonl")):
            self._unusable(
                f"{source.path} is a {source.format} file of rows, which holds no sampled continuations; the "
                "grafted ceiling needs a speedoflight dump (`speedoflight dump --samples-per-prompt N`) or an API "
                "log of continuations (`speedoflight collect`)"
            )
        temp = (source.metadata or {}).get("temperature", math.nan)  # API logs: the temperature their requests sent
        part: dict[str, Any] = {"_temperature": np.array(float(temp))}
        if source.format.startswith("speedoflight-dump"):  # the kinds of text, so nothing opens the dump again
            part["_prompt_kinds"] = (source.metadata or {}).get("prompt_kinds")
            if (source.metadata or {}).get("branch_at"):
                part["_branches_in"] = source.path  # `dump --branch-at`: its branch_* members, read with the parts
        if source.format.endswith("-jsonl"):
            part["_path"] = source.path  # checked for sampled tokens once read
            if (source.metadata or {}).get("branch_at"):
                part["_log_branches"] = source.path  # `collect --branch-at`: its branch records, read with the parts
        self._parts.append(part)
        self._chunks.append([])

    def add(self, index: int, source: Any, chunk: Any, logprobs: Any, full: bool) -> None:
        """Keep a chunk's top-k rows, ids, sampled tokens and sequence structure.

        Parameters
        ----------
        index, source, chunk
            Where the chunk comes from, and the chunk (with ``ids`` and ``next_token``).
        logprobs, full
            Unused (the rows are taken as stored).

        """
        if chunk.ids is None or chunk.next_token is None or chunk.seq is None or chunk.pos is None:
            self._unusable(
                f"{source.path} records no token ids or sampled tokens, which the grafted ceiling needs; re-dump "
                "with this version's `speedoflight dump --samples-per-prompt N`"
            )
            return
        self._chunks[index].append(chunk)

    def parts(self) -> list[dict[str, Any]] | None:
        """Return the per-dump arrays for :func:`grafted_input`, or None where a source could not give them.

        Returns
        -------
        list of dict or None
            One dict of arrays per dump.

        """
        if not self.usable or not self._parts:
            self._unusable("no input was read")
            return None
        out = []
        for meta, chunks in zip(self._parts, self._chunks, strict=True):
            if not chunks:
                self._unusable("an input holds no rows")
                return None
            d = dict(meta)
            d.update(_joined(chunks))
            if "_path" in d and (np.any(d["next_token"] < 0) or not np.all(np.isfinite(d["next_surprisal"]))):
                self._unusable(_no_sampled(str(d["_path"])))
                return None
            d.pop("_path", None)
            log = d.pop("_log_branches", None)
            if log is not None:
                from .jsonl import log_branches

                d.update(log_branches(str(log), d["seq"], d["prompt"], d["next_token"]))
            branches_in = d.pop("_branches_in", None)
            if branches_in is not None:
                from .dumpfile import read_dump_arrays

                d.update(read_dump_arrays(str(branches_in), tuple(f"branch_{k}" for k in BRANCH_ARRAYS)))
            out.append(d)
        return out


def _joined(chunks: Sequence[Any]) -> dict[str, np.ndarray]:
    """One source's chunks as arrays; top-k rows padded to the widest (API logs' chunks differ in width)."""
    width = max(c.values.shape[1] for c in chunks)

    def pad(a: np.ndarray, fill: float) -> np.ndarray:
        return np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)

    d = {
        "topk_logprobs": np.concatenate([pad(c.values, -np.inf) for c in chunks]),
        "topk_ids": np.concatenate([pad(np.asarray(c.ids), -1) for c in chunks]),
        "next_token": np.concatenate([c.next_token for c in chunks]),
        "next_surprisal": np.concatenate([c.surprisal for c in chunks]),
        "seq": np.concatenate([c.seq for c in chunks]),
        "pos": np.concatenate([c.pos for c in chunks]),
    }
    if all(c.prompt is not None for c in chunks):
        d["prompt"] = np.concatenate([c.prompt for c in chunks])
    return d


def _no_sampled(path: str) -> str:
    return (
        f"{path}: the log does not record every sampled token and its log-probability, which the grafted tree "
        "needs; log with logprobs on (OpenAI: logprobs=true, top_logprobs=20; vLLM: logprobs=20), or use "
        "`speedoflight collect`"
    )


def api_log_parts(path: str) -> dict[str, Any]:
    """Read an API log (JSONL with top-k log-probabilities) with token identities, as the grafted tree needs it.

    A response's ``n`` choices are one prompt's continuations, and lines with the same ``prompt`` (or
    ``request.prompt`` / ``request.messages``) are grouped into one prompt too
    (:func:`speedoflight.readers.jsonl.prompt_key`); any other line is a prompt of its own. Token ids come from
    vLLM and SGLang; OpenAI's token strings (their bytes where given) stand for ids.

    Parameters
    ----------
    path
        The log.

    Returns
    -------
    dict
        ``topk_logprobs``, ``topk_ids``, ``next_token``, ``next_surprisal``, ``seq``, ``pos``, ``prompt``.

    Raises
    ------
    InputError
        When the log does not record the sampled tokens.

    """
    from . import _check_file, jsonl
    from .continuations import check_topk

    _check_file(path)
    info = jsonl.describe(path)
    chunks = list(jsonl.jsonl_chunks(path, info.layout, with_ids=True))
    out: dict[str, Any] = {"_temperature": np.array(math.nan if info.temperature is None else info.temperature)}
    out.update(_joined(chunks))
    check_topk(out["topk_logprobs"], info.vocab_size, path)
    if np.any(out["next_token"] < 0) or not np.all(np.isfinite(out["next_surprisal"])):
        raise InputError(_no_sampled(path))
    if jsonl.branches_in(info.header):
        out.update(jsonl.log_branches(path, out["seq"], out["prompt"], out["next_token"]))
    return out
