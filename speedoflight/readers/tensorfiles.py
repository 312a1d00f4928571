"""Tensor files ``[rows, vocab]``: ``.safetensors`` (memory-mapped, no library needed) and ``.pt`` (torch).

``.safetensors`` is read as :class:`~speedoflight.readers.arrays.MappedRows`, so its pages are dropped chunk by
chunk like a ``.npy``'s; a ``.pt`` file needs torch, imported only for it and loaded with ``weights_only=True``.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterator
from typing import Any

from .._util.jsonsafe import loads as json_loads
from ..errors import InputError
from ._base import RowChunk, Rows
from .arrays import MappedRows, check_shape, float_dtype, pick_member

__all__ = ["TorchRows", "open_safetensors"]

_SAFETENSORS_DTYPES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64"}


def open_safetensors(path: str, tensor: str | None) -> tuple[MappedRows, dict[str, Any]]:
    """Open one tensor of a ``.safetensors`` file as memory-mapped rows.

    The format is an 8-byte little-endian header length, a JSON header giving
    each tensor's dtype, shape and byte range, then the raw data.

    Parameters
    ----------
    path
        The file.
    tensor
        The tensor's name (``--tensor``), or None for the only or a conventional one.

    Returns
    -------
    tuple
        ``(rows, metadata)``: the :class:`MappedRows` and the header's ``__metadata__``.

    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            raise InputError(f"{path}: too short to be a .safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100 * 2**20:
            raise InputError(f"{path}: not a .safetensors file (bad header length); check the file")
        try:
            header = json_loads(fh.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(f"{path}: the .safetensors header is not valid JSON; the file is damaged") from None
    if not isinstance(header, dict):
        raise InputError(f"{path}: the .safetensors header is not a JSON object; the file is damaged")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict):
        meta = {}
    if not header:
        raise InputError(f"{path}: the .safetensors file holds no tensors")
    name = pick_member(list(header), tensor, path)
    entry = header[name]
    if not isinstance(entry, dict):
        raise InputError(f"{path}: tensor {name!r} is described by {type(entry).__name__}, not an object; damaged")
    dt = _SAFETENSORS_DTYPES.get(entry.get("dtype"))  # type: ignore[arg-type]
    if dt is None:
        raise InputError(
            f"{path}: tensor {name!r} has dtype {entry.get('dtype')}, expected F16, BF16, F32 or F64; convert it"
        )
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise InputError(f"{path}: tensor {name!r} has shape {shape!r}, not a list of sizes >= 0; damaged")
    if (
        not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int and o >= 0 for o in offsets))
        or offsets[0] > offsets[1]
    ):
        raise InputError(f"{path}: tensor {name!r} has data_offsets {offsets!r}, not [begin, end] >= 0; damaged")
    dtype = float_dtype(dt) if dt == "bfloat16" else float_dtype(dt).newbyteorder("<")  # safetensors: little-endian
    begin, end = offsets
    if end - begin != math.prod(shape) * dtype.itemsize or 8 + n + end > size:
        raise InputError(
            f"{path}: tensor {name!r}: its byte range {offsets} does not hold shape {shape} of {dt} within the "
            f"file's {size} bytes; the file is damaged"
        )
    rows = MappedRows(path, 8 + n + int(begin), dtype, check_shape(tuple(shape), path))
    return rows, dict(meta)


class TorchRows(Rows):
    """Row chunks of a tensor loaded by ``torch.load(weights_only=True)``."""

    def __init__(self, path: str, tensor: str | None):
        try:
            import torch
        except ImportError:
            raise InputError(
                f"{path}: reading .pt files needs torch; install it (pip install 'speedoflight[model]') "
                "or save the array with numpy or safetensors"
            ) from None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:  # torch raises many types for bad files
            raise InputError(
                f"{path}: torch.load(weights_only=True) refused the file ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); save plain tensors with torch.save"
            ) from None
        if isinstance(obj, dict):
            tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
            if not tensors:
                raise InputError(f"{path}: the file holds no tensors")
            obj = tensors[pick_member(list(tensors), tensor, path)]
        if not isinstance(obj, torch.Tensor):
            raise InputError(f"{path}: expected a tensor or a dict of tensors, found {type(obj).__name__}")
        names = {
            torch.float16: "float16",
            torch.bfloat16: "bfloat16",
            torch.float32: "float32",
            torch.float64: "float64",
        }
        if obj.dtype not in names:
            raise InputError(f"{path}: tensor dtype {obj.dtype} is not a float type; convert it with .float()")
        self.tensor = obj
        self.dtype = float_dtype(names[obj.dtype])
        self.shape = check_shape(tuple(obj.shape), path)
        self._torch = torch

    def _chunks(self, n: int, w: int, step: int) -> Iterator[RowChunk]:
        """Yield the rows, ``step`` at a time."""
        for start in range(0, n, step):
            part = self.tensor[start : start + step].contiguous()
            if part.dtype == self._torch.bfloat16:
                values = part.view(self._torch.int16).numpy().view(float_dtype("bfloat16"))
            else:
                values = part.numpy()
            yield RowChunk(values=values, start=start)
