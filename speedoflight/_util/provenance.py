"""What a file records about how it was made: content hashes, package versions, the model's name."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
from typing import Any

__all__ = ["model_name", "sha256_file", "versions"]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of a file's bytes, read in 1 MiB blocks.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        64 hex digits.

    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def versions(*packages: str) -> dict[str, str]:
    """Return the versions of speedoflight, Python and the named packages, from their metadata (nothing imported).

    Parameters
    ----------
    *packages
        Distribution names, e.g. ``"numpy", "torch", "transformers"``.

    Returns
    -------
    dict
        ``{"speedoflight": ..., "python": ..., name: version or "not installed"}``.

    """
    from .._version import __version__

    out = {"speedoflight": __version__, "python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def model_name(meta: dict[str, Any]) -> str:
    """Return the model name a file's metadata records (``model.name`` or ``model``), else ``""``.

    Parameters
    ----------
    meta
        A speedoflight file's metadata.

    Returns
    -------
    str
        The name, or the empty string.

    """
    model = meta.get("model", "")
    return str(model.get("name", "")) if isinstance(model, dict) else str(model)
