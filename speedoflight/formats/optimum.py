"""The ``speedoflight-optimum`` file: per-root curves of the grafted prediction (``speedoflight optimum --out``).

An ``.npz`` without pickles: ``P``, ``mean``, ``ci_low``, ``ci_high`` (the headline tail), ``curves`` [roots, P]
(per root, the mean over replicates), ``root_prompt``, ``root_seq``, ``root_pos``, ``root_continuations``,
``root_known_rows``, ``lower_*`` / ``upper_*`` where computed, and ``metadata`` (JSON).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .._util.atomic import atomic_path
from ..errors import InputError

__all__ = ["FORMAT", "VERSION", "write_optimum"]

FORMAT = "speedoflight-optimum"
VERSION = 1


def write_optimum(path: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write the grafted prediction's arrays and metadata as ``.npz``, atomically.

    Parameters
    ----------
    path
        Destination; must end with ``.npz``.
    arrays
        Numeric arrays by name (see the module docstring).
    meta
        JSON-serialisable metadata (the command, the dumps, the settings).

    """
    if not path.lower().endswith(".npz"):
        raise InputError(
            f"{{out}} {path}: the per-root curves are written as .npz; end the name with .npz", param="out"
        )
    full = {"format": FORMAT, "version": VERSION, **meta}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays, metadata=np.array(json.dumps(full, sort_keys=True)))  # type: ignore[arg-type]
