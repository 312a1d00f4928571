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


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Expand globs and folders; a pattern matching nothing, or a folder with no shard, is an error.

    Parameters
    ----------
    paths
        File names, glob patterns and folders of shards, in order.

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
        elif glob.has_magic(p):
            hits = sorted(glob.glob(p))
            if not hits:
                raise InputError(f"{p}: the pattern matches no file")
            out.extend(hits)
        else:
            out.append(p)
    if not out:
        raise InputError("no input files given")
    return out
