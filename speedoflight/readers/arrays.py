"""Dense arrays ``[rows, vocab]``: ``.npy`` and ``.npz`` (``.safetensors`` and ``.pt``: :mod:`.tensorfiles`).

Files are read in chunks of rows. ``.npy``, uncompressed ``.npz`` members and
``.safetensors`` are memory-mapped, and the pages of each chunk are dropped
from this process once the chunk is done, so resident memory is bounded by
the chunk, not the file. Compressed ``.npz`` members are decompressed as a
stream into one chunk-sized buffer. Nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any, Literal

import numpy as np

from .._util.remote import is_url, url_size
from ..errors import InputError
from ._base import RowChunk, Rows

__all__ = [
    "FLOAT_DTYPE_NAMES",
    "FORTRAN_LIMIT",
    "MappedRows",
    "StreamedRows",
    "check_dtype",
    "check_shape",
    "float_dtype",
    "npz_member_rows",
    "npz_members",
    "open_npy",
    "pick_member",
]

#: names of the dtypes a row array may have
FLOAT_DTYPE_NAMES = ("float16", "bfloat16", "float32", "float64")


def float_dtype(name: str) -> np.dtype:
    """Return the numpy dtype of one of :data:`FLOAT_DTYPE_NAMES`.

    ml_dtypes (which gives numpy its bfloat16) is imported only when a
    bfloat16 file is read: importing it costs about half a second.

    Parameters
    ----------
    name
        ``"float16"``, ``"bfloat16"``, ``"float32"`` or ``"float64"``.

    Returns
    -------
    numpy.dtype
        The dtype.

    """
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


_PAGE = mmap.ALLOCATIONGRANULARITY
#: Compression methods numpy's np.load reads through zipfile: stored, deflate, bzip2, lzma.
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
#: A member of rows (logits, probabilities, top-k log-probabilities) that inflates more than this many times its
#: compressed size (plus 1 MiB) is refused; index arrays (seq, pos) compress far more and are not checked.
_BOMB_RATIO = 200
#: Fortran-order arrays larger than this are refused (their row chunks cannot be read in bounded memory).
FORTRAN_LIMIT = 256 * 2**20


def check_dtype(dtype: np.dtype, path: str, what: str = "array") -> np.dtype:
    """Accept float16/bfloat16/float32/float64; explain anything else.

    A 2-byte void dtype is read as bfloat16: that is how ``np.save`` stores
    ``ml_dtypes.bfloat16`` arrays, which numpy cannot name itself.

    Parameters
    ----------
    dtype
        The stored dtype.
    path, what
        The file and what in it holds the values, for the error.

    Returns
    -------
    numpy.dtype
        The dtype to read the values as.

    """
    if dtype.hasobject:
        raise InputError(
            f"{path}: the {what} holds Python objects (a pickle), which speedoflight never loads; "
            "save a numeric array instead (np.save(path, np.asarray(x, dtype=np.float32)))"
        )
    if dtype.kind == "V" and dtype.itemsize == 2 and dtype.names is None:
        # np.save writes ml_dtypes.bfloat16 arrays (and JAX's) as 2-byte void
        return float_dtype("bfloat16")
    if dtype.name not in FLOAT_DTYPE_NAMES:
        raise InputError(
            f"{path}: the {what} has dtype {dtype}, expected float16, bfloat16, float32 or float64; "
            "convert it with .astype(np.float32)"
        )
    if dtype.name == "bfloat16":
        return float_dtype(dtype.name)
    return float_dtype(dtype.name).newbyteorder(dtype.byteorder)  # a big-endian file stays big-endian


def _native(values: np.ndarray) -> np.ndarray:
    """Return the values in the machine's byte order (a copy only where the file's order differs)."""
    return values if values.dtype.isnative else values.astype(values.dtype.newbyteorder("="))


def check_shape(shape: tuple[int, ...], path: str) -> tuple[int, int]:
    """Check that rows are a 2-D array with at least one row and column.

    Parameters
    ----------
    shape
        The stored shape.
    path
        The file, for the error.

    Returns
    -------
    tuple of int
        ``(rows, width)``.

    """
    if len(shape) != 2:
        raise InputError(
            f"{path}: expected a 2-D array [rows, vocab], got {len(shape)} dimension(s) {tuple(shape)}; "
            "reshape it to (-1, vocab)"
        )
    if shape[0] == 0 or shape[1] == 0:
        raise InputError(f"{path}: the array {tuple(shape)} has no rows")
    return int(shape[0]), int(shape[1])


class MappedRows(Rows):
    """Row chunks of a 2-D array stored at ``offset`` in a file, memory-mapped.

    With ``fh`` (the file already open, e.g. by :func:`speedoflight.readers.open_source`) the mapping is
    made from that handle, so reading the rows opens nothing more.
    """

    def __init__(
        self,
        path: str,
        offset: int,
        dtype: np.dtype,
        shape: tuple[int, int],
        fortran: bool = False,
        fh: IO[bytes] | None = None,
    ):
        self.path, self.offset, self.dtype, self.shape, self.fortran = path, offset, dtype, shape, fortran
        self.fh = fh
        data = shape[0] * shape[1] * dtype.itemsize
        if fortran and data > FORTRAN_LIMIT:
            raise InputError(
                f"{path}: the array ({data / 2**20:.0f} MiB) is stored in Fortran (column) order, so every row "
                "chunk touches the whole file and memory would grow with it; re-save it row by row with "
                "np.save(path, np.ascontiguousarray(x))"
            )
        need = offset + data
        self.remote = is_url(path)  # no descriptor to map: rows are read chunk by chunk through ``fh``
        if self.remote and fh is None:
            raise InputError(f"{path}: a URL is read through an open file; open it with open_source")
        size = url_size(path) if self.remote else os.path.getsize(path)
        if size < need:
            raise InputError(
                f"{path}: file is truncated ({size} bytes, the header promises {need}); re-copy or re-write the file"
            )

    def _chunks(self, n: int, w: int, step: int) -> Iterator[RowChunk]:
        """Yield the rows, ``step`` at a time, each chunk's pages released after use."""
        if self.remote:
            yield from self._read_chunks(step)
            return
        if self.fh is not None:
            mm = mmap.mmap(self.fh.fileno(), 0, access=mmap.ACCESS_READ)
        else:
            with open(self.path, "rb") as fh:
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        # The mapping is never closed here: chunks handed out are views into it,
        # and it closes itself when the last view is gone. Dropping the pages of
        # a finished chunk (MADV_DONTNEED) is safe for a read-only file mapping:
        # a later access reads them again from the file.
        order: Literal["C", "F"] = "F" if self.fortran else "C"
        full = np.ndarray(self.shape, dtype=self.dtype, buffer=mm, offset=self.offset, order=order)
        row_bytes = w * self.dtype.itemsize
        for start in range(0, n, step):
            stop = min(n, start + step)
            yield RowChunk(values=_native(np.ascontiguousarray(full[start:stop])), start=start)
            if not self.fortran and hasattr(mmap, "MADV_DONTNEED"):
                lo = self.offset + start * row_bytes
                hi = self.offset + stop * row_bytes
                lo -= lo % _PAGE
                mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)

    def _read_chunks(self, step: int) -> Iterator[RowChunk]:
        """Yield row chunks read through the open file (a URL's), ``step`` rows at a time."""
        assert self.fh is not None
        n, w = self.shape
        row_bytes = w * self.dtype.itemsize
        if self.fortran:  # small (FORTRAN_LIMIT): read whole, then cut into rows
            self.fh.seek(self.offset)
            whole = np.frombuffer(_read_exact(self.fh, n * row_bytes, self.path), dtype=self.dtype)
            full = whole.reshape(self.shape, order="F")
            for start in range(0, n, step):
                yield RowChunk(values=_native(np.ascontiguousarray(full[start : start + step])), start=start)
            return
        for start in range(0, n, step):
            stop = min(n, start + step)
            self.fh.seek(self.offset + start * row_bytes)
            raw = _read_exact(self.fh, (stop - start) * row_bytes, self.path)
            rows = np.frombuffer(raw, dtype=self.dtype).reshape(stop - start, w)
            yield RowChunk(values=_native(rows.copy()), start=start)


def _read_exact(fh: IO[bytes], size: int, path: str) -> bytes:
    """Read ``size`` bytes, or say the file is shorter than its header promised."""
    raw = fh.read(size)
    if len(raw) != size:
        raise InputError(f"{path}: the file ended early ({len(raw)} of {size} bytes); re-copy or re-write the file")
    return raw


def _read_npy_header(fh: IO[bytes], path: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    except Exception as exc:  # untrusted bytes: any parser failure means a damaged file
        raise InputError(
            f"{path}: not a readable .npy array ({type(exc).__name__}: {exc}); re-save it with np.save"
        ) from None
    return shape, fortran, dtype


def open_npy(path: str, fh: IO[bytes] | None = None) -> tuple[MappedRows, dict[str, Any]]:
    """Open a ``.npy`` file as memory-mapped rows.

    Parameters
    ----------
    path
        The file.
    fh
        The file, when it is already open (read through it); None: opened here.

    Returns
    -------
    tuple
        ``(rows, metadata)``: the :class:`MappedRows` and an empty dict (a ``.npy`` has none).

    """
    if fh is None:
        with open(path, "rb") as own:
            shape, fortran, dtype = _read_npy_header(own, path)
            offset = own.tell()
    else:
        fh.seek(0)
        shape, fortran, dtype = _read_npy_header(fh, path)
        offset = fh.tell()
    dtype = check_dtype(dtype, path)
    rows = MappedRows(path, offset, dtype, check_shape(shape, path), fortran, fh)
    return rows, {}


class StreamedRows(Rows):
    """Row chunks of a compressed ``.npz`` member, decompressed as a stream."""

    def __init__(
        self,
        path: str,
        member: str,
        dtype: np.dtype,
        shape: tuple[int, int],
        fortran: bool,
        fh: IO[bytes] | None = None,
    ):
        if fortran:
            raise InputError(
                f"{path}: member {member!r} is stored in Fortran order inside a compressed .npz, "
                "which cannot be read row by row; save it with np.save or np.savez (uncompressed)"
            )
        self.path, self.member, self.dtype, self.shape = path, member, dtype, shape
        self.fh = fh

    def _chunks(self, n: int, w: int, step: int) -> Iterator[RowChunk]:
        """Yield the rows, ``step`` at a time, decompressed as a stream."""
        with zipfile.ZipFile(self.fh if self.fh is not None else self.path) as zf, zf.open(self.member) as fh:
            _read_npy_header(fh, self.path)
            for start in range(0, n, step):
                stop = min(n, start + step)
                want = (stop - start) * w * self.dtype.itemsize
                try:
                    buf = fh.read(want)
                except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                    raise InputError(f"{self.path}: member {self.member!r} is corrupt ({exc})") from None
                if len(buf) != want:
                    raise InputError(f"{self.path}: member {self.member!r} is truncated at row {start}")
                values = _native(np.frombuffer(buf, dtype=self.dtype).reshape(stop - start, w))
                yield RowChunk(values=values, start=start)


def npz_members(path: str, fh: IO[bytes] | None = None) -> dict[str, zipfile.ZipInfo]:
    """Return the members of an ``.npz`` file, by array name, refusing encrypted or unknown compression.

    Parameters
    ----------
    path
        The file.
    fh
        The file, when it is already open (read through it); None: opened here.

    Returns
    -------
    dict
        ``{array name: zipfile.ZipInfo}``.

    """
    try:
        zf = zipfile.ZipFile(fh if fh is not None else path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: not a readable .npz archive ({exc}); re-save it with np.savez") from None
    with zf:
        infos = zf.infolist()
    for info in infos:
        if info.flag_bits & 0x1:
            raise InputError(f"{path}: member {info.filename!r} is encrypted; re-save the arrays with np.savez")
        if info.compress_type not in _ZIP_METHODS:
            raise InputError(
                f"{path}: member {info.filename!r} uses compression method {info.compress_type}, which numpy "
                "cannot read; re-save the arrays with np.savez or np.savez_compressed"
            )
    return {info.filename.removesuffix(".npy"): info for info in infos}


def npz_member_rows(path: str, info: zipfile.ZipInfo, fh: IO[bytes] | None = None) -> MappedRows | StreamedRows:
    """Open one ``.npz`` member as rows: mapped when stored, streamed when compressed.

    Parameters
    ----------
    path
        The file.
    info
        The member (from :func:`npz_members`).
    fh
        The file, when it is already open (read through it); None: opened here.

    Returns
    -------
    MappedRows or StreamedRows
        The rows.

    """
    if info.file_size > _BOMB_RATIO * info.compress_size + 2**20:
        # rows of numbers compress a few times at most; hundreds of times means zeros or a crafted header
        raise InputError(
            f"{path}: member {info.filename!r} declares {info.file_size / 2**20:.0f} MiB from "
            f"{info.compress_size / 2**10:.0f} KiB compressed (a compression bomb or a damaged file); re-save it"
        )
    name = info.filename.removesuffix(".npy")
    try:
        with zipfile.ZipFile(fh if fh is not None else path) as zf, zf.open(info) as member:
            shape, fortran, dtype = _read_npy_header(member, f"{path}[{name}]")
    except (zipfile.BadZipFile, OSError, zlib.error) as exc:
        raise InputError(f"{path}: member {name!r} is damaged ({exc}); re-save the file") from None
    dtype = check_dtype(dtype, path, f"member {name!r}")
    shape2 = check_shape(shape, f"{path}[{name}]")
    if info.compress_type == zipfile.ZIP_STORED:
        with contextlib.nullcontext(fh) if fh is not None else open(path, "rb") as raw:
            raw.seek(info.header_offset)
            local = raw.read(30)
            if len(local) != 30 or local[:4] != b"PK\x03\x04":
                raise InputError(f"{path}: corrupt zip header for member {name!r}")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            data_start = info.header_offset + 30 + name_len + extra_len
            raw.seek(data_start)
            _read_npy_header(raw, path)
            offset = raw.tell()
        return MappedRows(path, offset, dtype, shape2, fortran, fh)
    return StreamedRows(path, info.filename, dtype, shape2, fortran, fh)


def pick_member(names: list[str], tensor: str | None, path: str) -> str:
    """Choose the array to read from a multi-array file: ``tensor``, the only one, or a conventional name.

    Parameters
    ----------
    names
        The arrays the file holds.
    tensor
        The name given with ``--tensor``, or None.
    path
        The file, for the error.

    Returns
    -------
    str
        The array's name.

    """
    if tensor is not None:
        if tensor not in names:
            raise InputError(
                f"{path}: no array named {tensor!r}; it has {', '.join(sorted(names))} ({{tensor}} NAME)",
                param="tensor",
            )
        return tensor
    if len(names) == 1:
        return names[0]
    for preferred in ("logits", "logprobs", "log_probs", "probs", "probabilities"):
        if preferred in names:
            return preferred
    raise InputError(
        f"{path}: holds several arrays ({', '.join(sorted(names))}); choose one with {{tensor}} NAME", param="tensor"
    )
