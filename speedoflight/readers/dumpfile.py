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
branch_*       as above [b, ...]  optional (``dump --branch-at``): rows of
                                  continuations that leave a sampled one:
                                  ``branch_`` topk_ids, topk_logprobs,
                                  next_token, next_surprisal, seq (numbered
                                  after every sequence's), pos (from the
                                  branch point on) and parent (the ``seq`` it
                                  leaves); read only by the grafted tree
============== ======== ========= ==============================================

Every distribution is the one sampled from, i.e. after the temperature.
The metadata holds at least ``format`` (``"speedoflight-dump"``),
``version`` (1), ``model``, ``vocab_size``, ``temperature``, ``seed``,
``top_k``, ``prompt_source`` and ``versions`` (package versions); the
``dump`` command adds the command line, the prompt kinds and the time.
"""

from __future__ import annotations

import json
import math
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
    "dump_view",
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
    if "branch_seq" in arrays:  # `dump --branch-at`: the branches' rows, of their own length
        nb = len(arrays["branch_seq"])
        for name in ("topk_ids", "topk_logprobs", "next_token", "next_surprisal", "seq", "pos", "parent"):
            a = np.asarray(arrays[f"branch_{name}"], dtype=_DTYPES.get(name, np.int64))
            if a.shape[0] != nb:
                raise ValueError(f"array branch_{name} has {a.shape[0]} rows, expected {nb}")
            clean[f"branch_{name}"] = a
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


#: The largest vocabulary a dump may declare (the largest models' are about 256k tokens).
MAX_VOCAB = 1 << 24
#: The most bytes a dump's metadata member may declare: a JSON document of that size is damage, not metadata.
METADATA_LIMIT = 64 * 2**20
#: Bytes a member may declare beyond its rows (the npy header and its padding).
_HEADER_SLACK = 1 << 16


def check_members(path: str, fh: IO[bytes] | None = None) -> None:
    """Check every member's declared size against what it can hold, before anything is inflated.

    A member's npy header (read from its first compressed block) gives its shape and dtype, hence its true size;
    the zip directory's declared size must match it, each per-row array must have one entry per row of
    ``topk_logprobs``, the rows themselves must not inflate more than the package's compression-bomb ratio, and the
    metadata must stay under :data:`METADATA_LIMIT`. bzip2 members are refused (dumps are written with deflate).

    Parameters
    ----------
    path
        The dump.
    fh
        The open file, when there is one.

    Raises
    ------
    InputError
        Naming the member and its declared size.

    """
    from .arrays import _BOMB_RATIO, _read_npy_header

    try:
        zf = zipfile.ZipFile(fh if fh is not None else path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: not a readable .npz archive ({exc}); re-create the dump") from None
    with zf:
        sizes: dict[str, tuple[int, tuple[int, ...], zipfile.ZipInfo]] = {}
        for info in zf.infolist():
            name = info.filename.removesuffix(".npy")
            if info.compress_type == zipfile.ZIP_BZIP2:
                raise InputError(f"{path}: member {name!r} is bzip2-compressed; dumps use deflate, re-create the dump")
            try:
                with zf.open(info) as member:
                    shape, _fortran, dtype = _read_npy_header(member, f"{path}[{name}]")
                    header = member.tell()
            except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as exc:
                raise InputError(f"{path}: member {name!r} is damaged ({exc}); re-create the dump") from None
            count = int(np.prod(shape, dtype=np.float64)) if shape else 1
            true = header + count * dtype.itemsize
            if info.file_size > true + _HEADER_SLACK or info.file_size < true:
                raise InputError(
                    f"{path}: member {name!r} declares {info.file_size / 2**20:.1f} MiB but its header says "
                    f"{true / 2**20:.1f} MiB; the dump is damaged or crafted, re-create it"
                )
            sizes[name] = (info.file_size, tuple(int(d) for d in shape), info)
    if "metadata" in sizes and sizes["metadata"][0] > METADATA_LIMIT:
        raise InputError(
            f"{path}: member 'metadata' declares {sizes['metadata'][0] / 2**20:.0f} MiB; metadata is a few kB of "
            "JSON, so the dump is damaged or crafted; re-create it"
        )
    if "topk_logprobs" not in sizes:
        return
    top_size, top_shape, top_info = sizes["topk_logprobs"]
    if top_size > _BOMB_RATIO * top_info.compress_size + 2**20:
        raise InputError(
            f"{path}: member 'topk_logprobs' declares {top_size / 2**20:.0f} MiB from "
            f"{top_info.compress_size / 2**10:.0f} KiB compressed (a compression bomb or a damaged file); re-create it"
        )
    n_rows = top_shape[0] if top_shape else 0
    for name in (*ROW_ARRAYS, "prompt", "topk_ids"):
        if name in sizes and (not sizes[name][1] or sizes[name][1][0] != n_rows):
            raise InputError(
                f"{path}: member {name!r} has shape {sizes[name][1]}, not one entry per row ({n_rows} rows); "
                "the dump is damaged, re-create it"
            )
    branch = [n for n in sizes if n.startswith("branch_")]  # `dump --branch-at`: rows of their own, checked alike
    if branch:
        for name in ("branch_topk_logprobs", "branch_topk_ids"):
            if name in sizes and sizes[name][0] > _BOMB_RATIO * sizes[name][2].compress_size + 2**20:
                raise InputError(
                    f"{path}: member {name!r} declares {sizes[name][0] / 2**20:.0f} MiB from "
                    f"{sizes[name][2].compress_size / 2**10:.0f} KiB compressed (a compression bomb or a damaged "
                    "file); re-create it"
                )
        n_branch = {sizes[n][1][0] if sizes[n][1] else -1 for n in branch}
        if len(n_branch) > 1:
            raise InputError(
                f"{path}: the branch_* members differ in length ({sorted(n_branch)}); the dump is damaged, re-create it"
            )


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
    check_members(path, fh)
    try:
        with _load(path, fh) as z:
            raw = z["metadata"]
    except KeyError:
        raise InputError(
            f"{path}: an .npz without the metadata of a speedoflight dump; give a dump made by `speedoflight dump`"
        ) from None
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
    if type(v) is not int or not 2 <= v <= MAX_VOCAB:
        shown = f"{v!r}" if len(repr(v)) < 40 else f"{repr(v)[:20]}... ({len(repr(v))} characters)"
        raise InputError(
            f"{path}: the dump's metadata gives vocab_size {shown}, not a whole number from 2 to {MAX_VOCAB:,}; the "
            "file is damaged, re-create it with `speedoflight dump`"
        )
    t = meta.get("temperature")
    if not isinstance(t, int | float) or isinstance(t, bool) or not (math.isfinite(t) and t > 0):
        raise InputError(
            f"{path}: the dump's metadata gives temperature {t!r}, not a number > 0; the file is damaged, re-create "
            "it with `speedoflight dump`"
        )
    pair = meta.get("pair")
    if pair is not None and not (
        isinstance(pair, dict)
        and isinstance(pair.get("view", ""), str)
        and isinstance(pair.get("views", []), list)
        and all(isinstance(v, str) for v in pair.get("views", []))
        and isinstance(pair.get("files", []), list)
        and all(isinstance(f, str) for f in pair.get("files", []))
    ):
        raise InputError(
            f"{path}: the dump's metadata gives a 'pair' that is not a record of early-exit views (a view name, "
            "lists of names and files); the file is damaged, re-create it with `speedoflight dump`"
        )
    return meta


def dump_view(meta: dict[str, Any]) -> str:
    """Return which view of its model a dump holds: ``"full"``, or ``"early-exit:L"`` for ``dump --early-exit``.

    Parameters
    ----------
    meta
        The dump's metadata (checked by the reader).

    Returns
    -------
    str
        The view's name; a dump written without early-exit views holds the full model.

    """
    pair = meta.get("pair")
    view = pair.get("view") if isinstance(pair, dict) else None
    return view if isinstance(view, str) and view else "full"


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
    vocab_size: int | None = None,
) -> Iterator[RowChunk]:
    """Iterate over a dump's rows: top-k log-probabilities plus exact moments (through ``fh`` when open).

    Every per-row array is streamed beside the rows, chunk by chunk, so memory is bounded by the chunk, not by
    the dump's length. The exact moments are checked as they stream (:func:`check_moments`).

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
    vocab_size
        V, for the check that no row's entropy exceeds log V (None: not checked).

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
                check_moments(path, chunk.start, per_row["entropy"], per_row["m2"], vocab_size)
                yield _row_chunk(chunk, per_row)
    except (OSError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: the dump is damaged ({exc})") from None


#: Rounding allowed when checking stored moments (they are float64 sums of float32-rounded rows).
_MOMENT_TOL = 1e-6


def check_moments(path: str, start: int, h: np.ndarray, m2: np.ndarray, vocab_size: int | None) -> None:
    """Refuse exact moments no distribution has: H < 0, H > log V, M2 < H^2 (Jensen), or infinite values.

    Parameters
    ----------
    path, start
        The dump and the index of the chunk's first row, for the message.
    h, m2
        The chunk's stored H and M2 (NaN: unknown, allowed).
    vocab_size
        V, for the bound log V (None: not checked).

    Raises
    ------
    InputError
        Naming the first bad row and what is wrong with it.

    """
    h = np.asarray(h, dtype=np.float64)
    m2 = np.asarray(m2, dtype=np.float64)
    tol = _MOMENT_TOL * (1.0 + np.abs(h))
    bad_h = np.isinf(h) | (h < -tol)
    if vocab_size is not None and vocab_size > 0:
        bad_h |= h > np.log(vocab_size) + tol
    bad_m2 = (
        np.isinf(m2) | (m2 < -tol) | (np.isfinite(h) & np.isfinite(m2) & (m2 < h * h - _MOMENT_TOL * (1.0 + h * h)))
    )
    bad = np.flatnonzero(bad_h | bad_m2)
    if bad.size:
        i = int(bad[0])
        what = (
            f"entropy {h[i]:g} is outside [0, log V]" + (f" = [0, {np.log(vocab_size):.4g}]" if vocab_size else "")
            if bad_h[i]
            else f"m2 {m2[i]:g} is below entropy^2 = {h[i] * h[i]:g} (no distribution has that)"
        )
        raise InputError(f"{path}: row {start + i}: the dump's {what}; the dump is damaged, re-create it")


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
