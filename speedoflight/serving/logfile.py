"""The collect log on disk: opened for appending under a lock, read back to resume, written one whole line at a time.

A second writer is refused, an incomplete last line (a write cut short) is dropped before resuming, and a file
that is not a collect log, or that was collected with other settings or another model, is refused and never
touched. A file created by a run that collected nothing is removed again.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from .._util.jsonsafe import loads as json_loads
from ..errors import InputError
from ..readers import responses
from ..readers.jsonl import branch_prompt
from .probe import ServerInfo

__all__ = [
    "BRANCH_SETTINGS",
    "SETTINGS",
    "Existing",
    "append_line",
    "check_resume",
    "locked_append",
    "read_existing",
]


def _mapping(value: Any) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


#: The fields compared when a rerun resumes a file: another value would mix two collections.
SETTINGS = ("temperature", "max_tokens", "top_logprobs", "chat", "seed", "branch_at", "branches")
#: Settings of ``--branch-at``: a file's branches are read where its header names them, so they must match.
BRANCH_SETTINGS = ("branch_at", "branches")


@dataclass
class Existing:
    """What an existing output file holds: its header and the continuations per prompt text."""

    header: dict[str, Any] | None = None
    done: dict[str, int] = field(default_factory=dict)
    dropped_partial: bool = False
    #: Continuations already asked for per branch: (prompt text, prefix of token ids) -> count.
    branched: dict[tuple[str, tuple[int, ...]], int] = field(default_factory=dict)
    #: Per prompt text, its continuations' sampled token ids (where the server gave ids), in file order.
    sampled: dict[str, list[list[int]]] = field(default_factory=dict)


def _prompt_of(record: dict[str, Any]) -> str | None:
    req = record.get("request")
    if not isinstance(req, dict):
        return None
    if isinstance(req.get("prompt"), str):
        return str(req["prompt"])
    msgs = req.get("messages")
    if isinstance(msgs, list) and msgs and isinstance(msgs[-1], dict) and isinstance(msgs[-1].get("content"), str):
        return str(msgs[-1]["content"])
    return None


def read_existing(fh: IO[bytes], path: str) -> Existing:
    """Read the file being resumed; drop an incomplete last line (an interrupted write), refuse anything else.

    Parameters
    ----------
    fh
        The file, open for reading and appending (:func:`locked_append`).
    path
        Its name, for messages.

    Returns
    -------
    Existing
        Its header (None for an empty file) and the continuations already collected per prompt.

    Raises
    ------
    InputError
        For a file that is not a collect log, or a damaged line other than the last.

    """
    fh.seek(0)
    data = fh.read()
    out = Existing()
    if not data:
        return out
    if not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        fh.truncate(cut)
        data = data[:cut]
        out.dropped_partial = True
    for lineno, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json_loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise InputError(
                f"{path}: line {lineno} is damaged; give another {{out}} (the file is kept as it is)", param="out"
            ) from None
        if responses.is_header(obj):
            if out.header is None:
                out.header = obj
            continue
        if out.header is None:
            raise InputError(f"{path}: exists and is not a speedoflight collect log; give another {{out}}", param="out")
        resp = responses.response_of(obj)
        choices = resp.get("choices") if isinstance(resp, dict) else None
        branch = obj.get("branch") if isinstance(obj, dict) else None
        if isinstance(branch, dict):  # a branch record: counted per branch point, never as the prompt's
            prompt_list = branch_prompt(obj)
            if isinstance(prompt_list, list) and prompt_list and isinstance(prompt_list[0], str):
                key = (prompt_list[0], tuple(int(x) for x in prompt_list[1:] if isinstance(x, int)))
                out.branched[key] = out.branched.get(key, 0) + (len(choices) if isinstance(choices, list) else 0)
            continue
        prompt = _prompt_of(obj) if isinstance(obj, dict) else None
        if prompt is not None and isinstance(choices, list):
            out.done[prompt] = out.done.get(prompt, 0) + len(choices)
            out.sampled.setdefault(prompt, []).extend(_sampled_ids(obj))
    if out.header is None:
        raise InputError(f"{path}: exists and is not a speedoflight collect log; give another {{out}}", param="out")
    return out


def _sampled_ids(record: dict[str, Any]) -> list[list[int]]:
    """Each choice's sampled token ids (a choice without ids gives an empty list)."""
    got = responses.read_line(record, None)
    if got is None:
        return []
    out = []
    for rows in got[1]:
        ids = [row[4] for row in rows]
        out.append([int(i) for i in ids] if all(isinstance(i, int) and not isinstance(i, bool) for i in ids) else [])
    return out


@contextmanager
def locked_append(path: str) -> Iterator[IO[bytes]]:
    """Open ``path`` for appending (created if missing) under an exclusive lock, or refuse a second writer.

    Parameters
    ----------
    path
        The ``.jsonl`` log.

    Yields
    ------
    IO[bytes]
        The file, open for reading and appending; a file this call created is removed if it is still empty.

    """
    if os.path.isdir(path):
        raise InputError(f"{{out}} {path} is a folder; give a .jsonl file", param="out")
    if not path.lower().endswith(".jsonl"):
        raise InputError(f"{{out}} {path}: the collected log is JSONL; give a file ending in .jsonl", param="out")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"{{out}} {path}: the folder {folder} does not exist; create it first", param="out")
    created = not os.path.exists(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as exc:
        raise InputError(f"{{out}} {path}: cannot write it ({exc.strerror})", param="out") from None
    fh = os.fdopen(fd, "r+b")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            created = False  # another run's file: never removed here
            raise InputError(
                f"{{out}} {path}: another speedoflight collect is writing it; wait for it to end", param="out"
            ) from None
        yield fh
    finally:
        if created and os.fstat(fd).st_size == 0:
            os.unlink(path)  # nothing was collected: leave no empty file behind
        fh.close()


def append_line(fh: IO[bytes], obj: dict[str, Any]) -> None:
    """Append one record as one whole line (one write of the line and its newline).

    Parameters
    ----------
    fh
        The log (:func:`locked_append`).
    obj
        The record.

    """
    fh.write((json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))
    fh.flush()


def check_resume(header: dict[str, Any], info: ServerInfo, settings: dict[str, Any], out: str) -> None:
    """Refuse to resume a file collected from another model or with other settings.

    Parameters
    ----------
    header
        The file's header line.
    info
        The server being asked now.
    settings
        This run's settings (:data:`SETTINGS` among them).
    out
        The file, for the message.

    Raises
    ------
    InputError
        Naming the first difference and the flag that would resume the file.

    """
    server = _mapping(header.get("server"))
    if server.get("model") not in (None, info.model):
        raise InputError(
            f"{out} was collected from model {server.get('model')!r}, not {info.model!r}; give another {{out}}",
            param="out",
        )
    before = _mapping(header.get("sampling"))
    for key in SETTINGS:
        if key in BRANCH_SETTINGS:  # absent: a file without branches (the readers take branches a header names)
            was = before.get(key, [] if key == "branch_at" else 0)
            if was != settings[key]:
                shown = ",".join(map(str, was)) if key == "branch_at" else was
                raise InputError(
                    f"{out} was collected with {key} {was!r}, not {settings[key]!r}; give "
                    f"{{{key}}} {shown} to resume it (nothing for none), or another {{out}}",
                    param=("out", key),
                )
            continue
        if key in before and before[key] != settings[key]:
            raise InputError(
                f"{out} was collected with {key} {before[key]!r}, not {settings[key]!r}; give {{{key}}} "
                f"{before[key]!r} to resume it, or another {{out}}",
                param=("out", key),
            )
