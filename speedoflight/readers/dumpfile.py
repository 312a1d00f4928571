"""The project's own dump format (``speedoflight-dump``, version 1).

A compressed ``.npz`` (no pickles) with one row per generated position:

============== ======== ========= ==============================================
array          dtype    shape     meaning
============== ======== ========= ==============================================
metadata       str      ()        JSON object, see below
topk_ids       int32    [n, k]    token ids of the row's top k, by decreasing p
topk_logprobs  float32  [n, k]    their log-probabilities (-inf pads short rows)
entropy        float64  [n]       full-vocabulary H in nats (NaN if unknown)
m2             float64  [n]       full-vocabulary sum p (log p)^2 (NaN if unknown)
seq            int64    [n]       sequence (prompt/continuation) id
pos            int32    [n]       position of the row within its sequence
next_token     int32    [n]       the token actually sampled at this position
next_surprisal float64  [n]       its surprisal -log p, nats
prompt         int64    [n]       optional: index of the prompt the sequence
                                  continues (several sequences per prompt);
                                  absent means one sequence per prompt
overlap        float64  [n, m]    optional: exact full-vocabulary
                                  sum_i min(p_i, q_i) against each of the m
                                  distributions named in metadata
                                  ``pair.views`` at the same positions (dumps
                                  written with ``dump --early-exit``)
============== ======== ========= ==============================================

Every distribution is the one sampled from, i.e. after the temperature.
The metadata holds at least ``format`` (``"speedoflight-dump"``),
``version`` (1), ``model``, ``vocab_size``, ``temperature``, ``seed``,
``top_k``, ``prompt_source`` and ``versions`` (package versions); the
``dump`` command adds the command line, the prompt kinds and the time.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from .._util.atomic import atomic_path
from .._util.jsonsafe import loads as json_loads
from .._util.remote import is_url, open_input
from ..errors import InputError
from ._base import RowChunk, rows_per_chunk
from .arrays import _read_npy_header, npz_member_rows

__all__ = [
    "FORMAT",
    "REQUIRED_METADATA",
    "ROW_ARRAYS",
    "VERSION",
    "dump_chunks",
    "is_dump",
    "read_dump_arrays",
    "read_metadata",
    "write_dump",
]

FORMAT = "speedoflight-dump"
VERSION = 1
ROW_ARRAYS = ("entropy", "m2", "seq", "pos", "next_token", "next_surprisal")
_DTYPES = {
    "topk_ids": np.int32,
    "topk_logprobs": np.float32,
    "entropy": np.float64,
    "m2": np.float64,
    "seq": np.int64,
    "pos": np.int32,
    "next_token": np.int32,
    "next_surprisal": np.float64,
}
REQUIRED_METADATA = ("model", "vocab_size", "temperature", "seed", "top_k", "prompt_source", "versions")


def write_dump(path: str, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> None:
    """Write a dump atomically (temporary file, then rename).

    Parameters
    ----------
    path
        Destination ``.npz`` file.
    arrays
        All arrays of the table in the module docstring.
    metadata
        At least the keys in ``REQUIRED_METADATA``.

    """
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        raise ValueError(f"dump metadata lacks {missing}")
    n = len(arrays["seq"])
    clean = {}
    for name, dtype in _DTYPES.items():
        a = np.asarray(arrays[name], dtype=dtype)
        if a.shape[0] != n:
            raise ValueError(f"array {name} has {a.shape[0]} rows, expected {n}")
        clean[name] = a
    if "prompt" in arrays:
        a = np.asarray(arrays["prompt"], dtype=np.int64)
        if a.shape != (n,):
            raise ValueError(f"array prompt has shape {a.shape}, expected ({n},)")
        clean["prompt"] = a
    if "overlap" in arrays:
        a = np.asarray(arrays["overlap"], dtype=np.float64)
        if a.ndim != 2 or a.shape[0] != n:
            raise ValueError(f"array overlap has shape {a.shape}, expected ({n}, m)")
        clean["overlap"] = a
    meta = {"format": FORMAT, "version": VERSION, **metadata}
    clean["metadata"] = np.array(json.dumps(meta, sort_keys=True))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **clean)  # type: ignore[arg-type]


def is_dump(members: dict[str, zipfile.ZipInfo]) -> bool:
    """Tell whether an ``.npz`` has the members of a speedoflight dump.

    Parameters
    ----------
    members
        The archive's members (:func:`speedoflight.readers.arrays.npz_members`).

    Returns
    -------
    bool
        True for a dump.

    """
    return "metadata" in members and "topk_logprobs" in members


def _load(path: str, fh: IO[bytes] | None) -> Any:
    """``np.load`` of the archive, through ``fh`` (rewound) when the file is already open."""
    if fh is None:
        return np.load(path, allow_pickle=False)
    fh.seek(0)
    return np.load(fh, allow_pickle=False)


def read_metadata(path: str, fh: IO[bytes] | None = None) -> dict[str, Any]:
    """Parse and check a dump's metadata.

    Parameters
    ----------
    path
        The dump (a local path or a URL).
    fh
        The file, when it is already open (read through it); None: opened here.

    Returns
    -------
    dict
        The metadata, with every key of :data:`REQUIRED_METADATA`.

    """
    if fh is None and is_url(path):
        with open_input(path, "rb") as own:
            return read_metadata(path, own)
    if fh is None and not os.path.isfile(path):
        what = "is a folder" if os.path.isdir(path) else "no such file"
        raise InputError(f"{path}: {what}; give a speedoflight dump (.npz) made by `speedoflight dump`")
    if not zipfile.is_zipfile(fh if fh is not None else path):
        raise InputError(f"{path}: not a speedoflight dump (an .npz archive); make one with `speedoflight dump`")
    try:
        with _load(path, fh) as z:
            raw = z["metadata"]
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: cannot read the dump's metadata ({exc})") from None
    try:
        meta = json_loads(str(raw))
    except json.JSONDecodeError:
        raise InputError(f"{path}: the dump's metadata is not valid JSON; re-create the dump") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{path}: metadata does not name the {FORMAT} format")
    if meta.get("version") != VERSION:
        raise InputError(
            f"{path}: dump format version {meta.get('version')} is not supported (this speedoflight reads "
            f"version {VERSION}); re-create it with this version's `speedoflight dump`"
        )
    v = meta.get("vocab_size")
    if type(v) is not int or v < 2:
        raise InputError(
            f"{path}: the dump's metadata gives vocab_size {v!r}, not a whole number >= 2; the file is damaged, "
            "re-create it with `speedoflight dump`"
        )
    return meta


def _missing(path: str, exc: KeyError) -> InputError:
    """Return the one-line error for an array a dump lacks (np.load says "NAME is not a file in the archive")."""
    name = str(exc.args[0]).removesuffix(" is not a file in the archive") if exc.args else "?"
    return InputError(f"{path}: the dump lacks the array {name!r}; re-create it with `speedoflight dump`")


def read_dump_arrays(path: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read whole per-row arrays of a dump (checks the metadata first).

    Parameters
    ----------
    path
        The dump.
    names
        The arrays, e.g. ``("entropy", "m2")``.

    Returns
    -------
    dict
        ``{name: array}``, all of one length.

    """
    read_metadata(path)  # a missing file, a folder or another archive: one line
    with open_input(path, "rb") as fh:
        try:
            with _load(path, fh) as z:
                out = {name: np.asarray(z[name]) for name in names}
        except KeyError as exc:
            raise _missing(path, exc) from None
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise InputError(f"{path}: the dump is damaged ({exc})") from None
    n = {a.shape[0] for a in out.values()}
    if len(n) > 1:
        raise InputError(f"{path}: arrays {names} differ in length; re-create the dump")
    return out


def dump_chunks(
    path: str,
    members: dict[str, zipfile.ZipInfo],
    chunk_bytes: int,
    fh: IO[bytes] | None = None,
    with_ids: bool = False,
) -> Iterator[RowChunk]:
    """Iterate over a dump's rows: top-k log-probabilities plus exact moments (through ``fh`` when open).

    Every per-row array is streamed beside the rows, chunk by chunk, so memory is bounded by the chunk, not by
    the dump's length.

    Parameters
    ----------
    path
        The dump.
    members
        Its members (:func:`speedoflight.readers.arrays.npz_members`).
    chunk_bytes
        The bytes a chunk of rows may hold.
    fh
        The file, when it is already open (read through it); None: opened here.
    with_ids
        Also give each row's sequence and position ids.

    Yields
    ------
    RowChunk
        The next rows, with their exact moments.

    """
    names = [*ROW_ARRAYS, *(["prompt"] if "prompt" in members else [])]
    if with_ids and "topk_ids" in members:
        names.append("topk_ids")
    missing = [n for n in names if n not in members]
    if missing:
        raise InputError(f"{path}: the dump lacks the array {missing[0]!r}; re-create it with `speedoflight dump`")
    top = npz_member_rows(path, members["topk_logprobs"], fh)
    n = top.shape[0]
    step = rows_per_chunk(chunk_bytes, top.shape[1], 4)
    try:
        with zipfile.ZipFile(fh if fh is not None else path) as zf:
            streams = {name: _Stream(zf, members[name], path, name) for name in names}
            for name, st in streams.items():
                if st.shape[0] != n or (name != "topk_ids" and len(st.shape) != 1):
                    raise InputError(f"{path}: array {name} has shape {st.shape}, expected ({n},); re-create the dump")
            for chunk in top.chunks(step * top.shape[1] * 4):
                per_row = {name: st.read(chunk.n) for name, st in streams.items()}
                yield _row_chunk(chunk, per_row)
    except (OSError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: the dump is damaged ({exc})") from None


class _Stream:
    """One array member of a dump, read from its start a number of rows at a time."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, name: str) -> None:
        self.path, self.name = path, name
        self.fh = zf.open(info)
        shape, fortran, dtype = _read_npy_header(self.fh, f"{path}[{name}]")
        if dtype.hasobject or dtype.kind not in "biuf":
            raise InputError(f"{path}: array {name} has dtype {dtype}, not numbers; re-create the dump")
        if fortran and len(shape) > 1:
            raise InputError(f"{path}: array {name} is stored in Fortran order; re-create the dump")
        self.shape, self.dtype = tuple(int(d) for d in shape), dtype
        self.width = int(np.prod(self.shape[1:])) if len(self.shape) > 1 else 1

    def read(self, k: int) -> np.ndarray:
        want = k * self.width * self.dtype.itemsize
        buf = self.fh.read(want)
        if len(buf) != want:
            raise InputError(f"{self.path}: array {self.name} is truncated; re-create the dump")
        a = np.frombuffer(buf, dtype=self.dtype)
        if not self.dtype.isnative:
            a = a.astype(self.dtype.newbyteorder("="))
        return a.reshape((k, *self.shape[1:]))


def _row_chunk(chunk: RowChunk, per_row: dict[str, np.ndarray]) -> RowChunk:
    return RowChunk(
        values=chunk.values,
        start=chunk.start,
        entropy=per_row["entropy"],
        m2=per_row["m2"],
        seq=per_row["seq"],
        pos=per_row["pos"].astype(np.int64),
        surprisal=per_row["next_surprisal"],
        prompt=per_row.get("prompt"),
        ids=per_row.get("topk_ids"),
        next_token=per_row.get("next_token"),
    )
