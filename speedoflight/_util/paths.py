"""Input paths: globs expanded, a pattern that matches nothing said plainly."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable

from ..errors import InputError

__all__ = ["expand_paths"]


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Expand globs; a pattern matching nothing is an error.

    Parameters
    ----------
    paths
        File names and glob patterns, in order.

    Returns
    -------
    list of str
        The files, each pattern's matches sorted, in the order given.

    Raises
    ------
    InputError
        A pattern matches no file, or nothing was given.

    """
    out: list[str] = []
    for p in paths:
        p = os.fspath(p)
        if glob.has_magic(p):
            hits = sorted(glob.glob(p))
            if not hits:
                raise InputError(f"{p}: the pattern matches no file")
            out.extend(hits)
        else:
            out.append(p)
    if not out:
        raise InputError("no input files given")
    return out
