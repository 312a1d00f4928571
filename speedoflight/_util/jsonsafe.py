"""Strict JSON output: NaN and infinities become null."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["finite_or_none", "loads"]


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


def loads(text: str | bytes) -> Any:
    """Parse JSON from a user's file; hostile input raises :class:`json.JSONDecodeError` only.

    Besides malformed text, that covers nesting deep enough to exhaust Python's recursion limit and integer
    literals longer than Python converts (4,300 digits), which ``json.loads`` raises as other errors.

    Parameters
    ----------
    text
        The JSON text.

    Returns
    -------
    Any
        The parsed value.

    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None
    except ValueError as exc:  # e.g. an integer literal of more digits than Python converts
        raise json.JSONDecodeError(str(exc).split(";")[0], "", 0) from None
