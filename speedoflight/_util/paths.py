"""Input paths: globs and folders of shards expanded, local or at fsspec URLs; a pattern matching nothing said."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable

from ..errors import InputError
from .remote import expand_url, is_url

__all__ = ["SHARD_SUFFIXES", "expand_paths"]

#: Files a folder of shards contributes (its other files are left out).
SHARD_SUFFIXES = (".npz", ".npy", ".safetensors", ".pt", ".pth", ".jsonl", ".json", ".ndjson")


def expand_paths(paths: Iterable[str | os.PathLike[str]], *, once: bool = True) -> list[str]:
    """Expand globs and folders; a pattern matching nothing, or a folder with no shard, is an error.

    Parameters
    ----------
    paths
        File names, glob patterns and folders of shards, in order.
    once
        Read a file given twice once (with a note on stderr); False keeps every name.

    Returns
    -------
    list of str
        The files, each pattern's matches and each folder's shards (files ending in :data:`SHARD_SUFFIXES`, not
        recursing) sorted, in the order given.

    Raises
    ------
    InputError
        A pattern matches no file, a folder holds no shard, or nothing was given.

    """
    out: list[str] = []
    for p in paths:
        p = os.fspath(p)
        if is_url(p):  # fsspec: s3://, gcs://, file://, memory://, ...
            out.extend(expand_url(p, SHARD_SUFFIXES))
        elif os.path.isdir(p):
            hits = sorted(
                os.path.join(p, f)
                for f in os.listdir(p)
                if f.lower().endswith(SHARD_SUFFIXES) and os.path.isfile(os.path.join(p, f))
            )
            if not hits:
                raise InputError(f"{p}: the folder holds no shard ({', '.join(SHARD_SUFFIXES)} files)")
            out.extend(hits)
        elif glob.has_magic(p) and not os.path.exists(p):  # an existing file named run[t=1].npz is that file
            hits = sorted(glob.glob(p))
            if not hits:
                raise InputError(f"{p}: the pattern matches no file")
            out.extend(hits)
        else:
            _check_special(p)
            out.append(p)
    if not out:
        raise InputError("no input files given")
    return _once(out) if once else out


def _check_special(path: str) -> None:
    """Refuse FIFOs, sockets and devices as inputs before they are opened (a read would block or never end)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # a missing file: the reader says so in its own words
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        raise InputError(
            f"{path}: a FIFO, socket or device, not a file; save the data to a file first (a pipe can be read "
            "only once)"
        )


_NOTED: set[tuple[str, str]] = set()


def _once(files: list[str]) -> list[str]:
    """Drop a file given twice (by two names, a link, or a pattern and a name), saying so once on stderr."""
    import sys

    seen: dict[tuple[int, int], str] = {}
    out = []
    for f in files:
        try:
            st = os.stat(f)
            key = (st.st_dev, st.st_ino)
        except OSError:
            out.append(f)
            continue
        if key in seen:
            if (f, seen[key]) not in _NOTED:  # once per process, however many readers expand the same list
                _NOTED.add((f, seen[key]))
                print(f"speedoflight: note: {f} is {seen[key]} again; it is read once", file=sys.stderr)
            continue
        seen[key] = f
        out.append(f)
    return out
