"""Readers: one entry point, :func:`open_source`, for every dump format.

``open_source(path)`` returns a :class:`Source` whose ``chunks()`` yield
:class:`RowChunk` blocks of rows of distributions, whatever the file:

* ``.npy`` / ``.npz`` / ``.safetensors`` / ``.pt`` arrays ``[rows, vocab]``
  (or ``[rows, k]`` top-k rows when narrower than ``vocab_size``);
* JSONL of top-k log-probabilities from OpenAI-style, SGLang and vLLM APIs;
* the project's own dump format (:mod:`speedoflight.readers.dumpfile`).

Paired dumps of a verifier and a drafter (:func:`read_pair`, for the theories
of :mod:`speedoflight.beyond`) are loaded on first use.
"""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Any

from .._util.lazy import lazy_exports
from .._util.remote import is_url, open_input, url_size
from ..errors import InputError
from . import arrays, dumpfile, jsonl, tensorfiles
from ._base import KINDS, RowChunk, Source, check_kind, detect_kind

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .pairs import Pair as Pair
    from .pairs import dump_rows as dump_rows
    from .pairs import read_pair as read_pair

__all__ = [
    "KINDS",
    "Pair",
    "RowChunk",
    "Source",
    "check_one_vocabulary",
    "dump_rows",
    "input_model",
    "open_source",
    "read_pair",
]

#: The public names of the modules not loaded with this package, each imported on first use.
_LAZY = {".pairs": ["read_pair", "dump_rows", "Pair"]}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

_ARRAY_SUFFIXES = (".npy", ".npz", ".safetensors", ".pt", ".pth", ".bin")
_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


def _check_file(path: str) -> None:
    if is_url(path):
        if url_size(path) == 0:
            raise InputError(f"{path}: the file is empty")
        return
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file; check the path")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, expected a file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable (permission denied); fix its permissions")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: the file is empty")


def _dense_source(path, fmt, rows, meta, kind, vocab_size) -> Source:
    n, width = rows.shape
    file_vocab = meta.get("vocab_size")
    if vocab_size is None and file_vocab is not None:
        vocab_size = int(file_vocab)
    if vocab_size is None:
        vocab_size = width
    if width > vocab_size:
        raise InputError(
            f"{path}: rows have {width} values but {{vocab_size}} is {vocab_size}; fix {{vocab_size}}",
            param="vocab_size",
        )
    how = "given"
    if kind is None:
        kind = meta.get("kind")
        how = "file"
    if kind is None:
        first = next(iter(rows.chunks(min(8, n) * width * rows.dtype.itemsize)))
        kind = detect_kind(first.values, path, vocab_size)
        how = "detected"
    if kind == "logits" and width < vocab_size:
        raise InputError(
            f"{path}: rows have {width} < {{vocab_size}} {vocab_size} values, so they are top-k rows; "
            "top-k rows must be log-probabilities or probabilities ({kind} logprobs or probs), not logits",
            param=("vocab_size", "kind"),
        )
    return Source(
        path=path,
        format=fmt,
        kind=kind,
        kind_how=how,
        vocab_size=vocab_size,
        width=width,
        n_rows=n,
        dtype=rows.dtype.name,
        metadata=meta,
        _chunks=rows.chunks,
    )


def open_source(
    path: str | os.PathLike[str],
    *,
    kind: str | None = None,
    vocab_size: int | None = None,
    tensor: str | None = None,
) -> Source:
    """Open a file of logged distributions.

    Parameters
    ----------
    path
        The file; its suffix picks the reader (``.jsonl`` for API logs).
    kind
        ``"logits"``, ``"logprobs"`` or ``"probs"``; ``None`` lets the format
        decide or detects it where unambiguous (``Source.kind_how`` says which).
    vocab_size
        Vocabulary size; needed for top-k rows when the file does not say.
    tensor
        Array name inside ``.npz`` / ``.safetensors`` / ``.pt`` files.

    Returns
    -------
    Source
        Its ``chunks(bytes)`` method yields :class:`RowChunk` blocks.

    """
    path = os.fspath(path)
    _check_file(path)
    kind = check_kind(kind)
    if vocab_size is not None and vocab_size < 1:
        raise InputError(f"{{vocab_size}} must be a positive integer, got {vocab_size}", param="vocab_size")
    low = path.lower()
    if low.endswith(_JSONL_SUFFIXES):
        if kind not in (None, "logprobs"):
            raise InputError(
                f"{path}: API logs hold log-probabilities; drop {{kind}} {kind} or use {{kind}} logprobs", param="kind"
            )
        info = jsonl.describe(path)
        layout = info.layout
        if vocab_size is None:
            vocab_size = info.vocab_size
        elif info.vocab_size is not None and vocab_size != info.vocab_size:
            raise InputError(
                f"{path}: the log records a vocabulary of {info.vocab_size} tokens (from its server), not "
                f"{{vocab_size}} {vocab_size}; drop {{vocab_size}}",
                param="vocab_size",
            )
        if vocab_size is None:
            raise InputError(
                f"{path}: {layout} logs do not record the vocabulary size; pass {{vocab_size}} V (logs written by "
                "`speedoflight collect` record it)",
                param="vocab_size",
            )
        meta: dict[str, Any] = {"layout": layout}
        if info.model:
            meta["model"] = info.model
        if info.temperature is not None:
            meta["temperature"] = info.temperature
        if jsonl.branches_in(info.header):
            meta["branch_at"] = jsonl.branches_in(info.header)  # `collect --branch-at`: branch records, read apart
        return Source(
            path=path,
            format=f"{layout}-jsonl",
            kind="logprobs",
            kind_how="format",
            vocab_size=vocab_size,
            width=None,
            n_rows=None,
            dtype="float64",
            metadata=meta,
            _chunks=_jsonl_chunker(path, layout),
        )
    if low.endswith((".npy", ".npz")):
        fh = open_input(path, "rb")  # one handle for the header, members and rows; Source.close() ends it
        try:
            src = _open_numpy(path, low, fh, kind, vocab_size, tensor)
        except BaseException:
            fh.close()
            raise
        src._file = fh
        return src
    if is_url(path) and low.endswith(_ARRAY_SUFFIXES):
        raise InputError(
            f"{path}: .safetensors and .pt files are read from local disk only; copy the file here (URLs are read "
            "for .npz, .npy and .jsonl)"
        )
    if low.endswith(".safetensors"):
        rows, meta = tensorfiles.open_safetensors(path, tensor)
        return _dense_source(path, "safetensors", rows, meta, kind, vocab_size)
    if low.endswith((".pt", ".pth", ".bin")):
        trows = tensorfiles.TorchRows(path, tensor)
        return _dense_source(path, "torch", trows, {}, kind, vocab_size)
    raise InputError(f"{path}: unknown file type; expected one of {', '.join(_ARRAY_SUFFIXES + _JSONL_SUFFIXES)}")


def _open_numpy(
    path: str, low: str, fh: IO[bytes], kind: str | None, vocab_size: int | None, tensor: str | None
) -> Source:
    """Open a ``.npy`` or ``.npz`` source, every read through the open handle ``fh``."""
    if low.endswith(".npy"):
        rows, meta = arrays.open_npy(path, fh)
        return _dense_source(path, "npy", rows, meta, kind, vocab_size)
    members = arrays.npz_members(path, fh)
    if dumpfile.is_dump(members):
        meta = dumpfile.read_metadata(path, fh)
        if kind not in (None, "logprobs"):
            raise InputError(f"{path}: a speedoflight dump holds log-probabilities; drop {{kind}} {kind}", param="kind")
        if tensor is not None:
            raise InputError(
                f"{path}: a speedoflight dump has one set of rows; drop {{tensor}} {tensor}", param="tensor"
            )
        file_vocab = int(meta["vocab_size"])
        if vocab_size is not None and vocab_size != file_vocab:
            raise InputError(
                f"{path}: the dump records vocab_size {file_vocab}, not {{vocab_size}} {vocab_size}", param="vocab_size"
            )
        top = arrays.npz_member_rows(path, members["topk_logprobs"], fh)
        return Source(
            path=path,
            format=f"{dumpfile.FORMAT}-v{dumpfile.VERSION}",
            kind="logprobs",
            kind_how="format",
            vocab_size=file_vocab,
            width=top.shape[1],
            n_rows=top.shape[0],
            dtype="float32",
            metadata=meta,
            _chunks=_dump_chunker(path, members, fh, file_vocab),
        )
    if not members:
        raise InputError(f"{path}: the .npz archive holds no arrays")
    name = arrays.pick_member(list(members), tensor, path)
    member = arrays.npz_member_rows(path, members[name], fh)
    return _dense_source(path, "npz", member, {}, kind, vocab_size)


def _dump_chunker(path: str, members: dict[str, Any], fh: IO[bytes], vocab_size: int | None = None) -> Any:
    """Return the chunk iterator of a dump, ``chunks(bytes, with_ids=False)``, reading through the open handle."""

    def chunks(chunk_bytes: int, with_ids: bool = False) -> Any:
        return dumpfile.dump_chunks(path, members, chunk_bytes, fh, with_ids, vocab_size)

    return chunks


def _jsonl_chunker(path: str, layout: str) -> Any:
    """Return the chunk iterator of an API log, ``chunks(bytes, with_ids=False)`` (rows per chunk are fixed)."""

    def chunks(_chunk_bytes: int, with_ids: bool = False) -> Any:
        return jsonl.jsonl_chunks(path, layout, with_ids=with_ids)

    return chunks


def check_one_vocabulary(sources: list[Source]) -> None:
    """Refuse sources of different vocabulary sizes: rows of different models cannot be pooled.

    Parameters
    ----------
    sources
        Opened sources; those whose vocabulary is unknown (``vocab_size`` None) are not compared.

    """
    known = [(s.path, s.vocab_size) for s in sources if s.vocab_size is not None]
    for path, v in known[1:]:
        if v != known[0][1]:
            raise InputError(
                f"{path}: vocabulary of {v} tokens, but {known[0][0]} has {known[0][1]}: rows of different models "
                "cannot be pooled; give one model's files at a time"
            )


def input_model(path: str | os.PathLike[str]) -> str:
    """Return the model an input names: a dump's metadata, an API log's header or first response; else ``""``.

    Parameters
    ----------
    path
        A dump, an array file or an API log.

    Returns
    -------
    str
        The model's name or id as the file records it, ``""`` where it records none.

    Raises
    ------
    InputError
        For a file that is missing or cannot be read (as the command reading it would).

    """
    from .._util.provenance import model_name

    path = os.fspath(path)
    if path.lower().endswith(_JSONL_SUFFIXES):
        _check_file(path)
        return jsonl.describe(path).model
    with open_source(path) as src:
        return model_name(src.metadata or {})
