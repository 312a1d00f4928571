"""Strict JSON output: NaN and infinities become null."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["finite_or_none"]


def finite_or_none(obj: Any) -> Any:
    """Replace NaN and infinities by None (recursively; numpy scalars and arrays become Python values).

    Parameters
    ----------
    obj
        A value to write as JSON: a float, numpy scalar or array, or a dict, list or tuple of them
        (anything else is passed through unchanged).

    Returns
    -------
    Any
        ``obj`` with every non-finite float replaced by None, arrays and tuples as lists, numpy scalars
        as Python numbers; dicts keep their keys.

    """
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_or_none(v) for v in obj]
    return obj
