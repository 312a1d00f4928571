"""Reading log text: files, JSON objects, counts that must be numbers, and printed key = value fields."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from .._util.jsonsafe import loads as json_loads
from ..errors import InputError

__all__ = ["check_histogram", "histogram"]

# --- shared helpers ------------------------------------------------------------------------------------------


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder; give the log file itself") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror})") from None
    if raw[:2] == b"PK" or raw[:1] == b"\x80" or b"\x00" in raw[:4096]:
        raise InputError(
            f"{path}: is a binary file (an archive or a pickle?), not an acceptance log; give a CSV, JSONL, "
            "Prometheus text or server log"
        )
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark is not text
    except UnicodeDecodeError:
        raise InputError(f"{path}: is not UTF-8 text; give a CSV, JSONL, Prometheus text or server log") from None


def _json_objects(path: str, text: str) -> list[Any]:
    """JSONL lines, or one JSON document (an object or a list of objects)."""
    stripped = text.strip()
    if not stripped:
        raise InputError(f"{path}: is empty")
    if stripped[0] == "[":
        try:
            doc = json_loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: is not valid JSON ({exc.msg} at line {exc.lineno}); truncated?") from None
        return list(doc)
    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json_loads(line))
        except json.JSONDecodeError:
            if len(out) == 0 and stripped[0] == "{":
                try:
                    return [json_loads(stripped)]
                except json.JSONDecodeError:
                    pass
            raise InputError(f"{path}: line {i} is not JSON; the file may be truncated") from None
    return out


def _count(path: str, where: str, name: str, value: Any, *, minimum: float = 0) -> float:
    """Check a finite, non-negative (or >= minimum) number; raise one clear error otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{path}: {where}: {name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InputError(f"{path}: {where}: {name} is {value}; it must be finite")
    if v < minimum:
        raise InputError(f"{path}: {where}: {name} = {value:g} is below {minimum:g}; counts cannot be negative")
    return v


def _nonnegative(path: str, where: str, name: str, v: Any) -> float:
    """Check a finite number >= 0 (a count of tokens or steps from a JSON record)."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
        raise InputError(f"{path}: {where}: {name} = {v!r} is not a count >= 0")
    return float(v)


def _integer(path: str, where: str, name: str, value: Any, *, minimum: int = 0) -> int:
    v = _count(path, where, name, value, minimum=minimum)
    if v != int(v):
        raise InputError(f"{path}: {where}: {name} = {value} is not a whole number")
    return int(v)


def _p_from_sizes(sizes: np.ndarray) -> tuple[int | None, float | None]:
    """P (the largest draft) and the mean draft size."""
    if len(sizes) == 0:
        return None, None
    return int(np.max(sizes)), float(np.mean(sizes))


_KEY = re.compile(r"(?:^|,\s*)([A-Za-z#][A-Za-z0-9 #/()\-]*?)\s*[:=]\s*")


def _fields(text: str) -> dict[str, str]:
    """``Key: value, Key: value, ...`` (or ``key = value``) to a dict; lists like ``0.8, 0.5`` stay whole."""
    out: dict[str, str] = {}
    text = text.strip()
    spans = [(m.start(), m.end(), m.group(1).strip().lower()) for m in _KEY.finditer(text)]
    for i, (_, end, key) in enumerate(spans):
        stop = spans[i + 1][0] if i + 1 < len(spans) else len(text)
        out[key] = text[end:stop].strip().rstrip(",").strip()
    return out


def _number(s: str) -> float:
    m = re.match(r"\s*\(?\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|nan|inf)(?![\d.])", s)  # not 1.2.3
    if not m:
        raise ValueError(s)
    return float(m.group(1))


def _numbers(s: str) -> list[float]:
    return [float(v) for v in re.findall(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", s)]


def histogram(path: str, where: str, h: Any) -> np.ndarray | None:
    """Parse a histogram of accepted draft tokens per step: a dense list, or a sparse ``{"j": count}`` object.

    Parameters
    ----------
    path, where
        For messages: the file and the record.
    h
        The histogram as read from JSON, or None.

    Returns
    -------
    ndarray or None
        Counts of steps that accepted j = 0, 1, ... draft tokens.

    """
    if h is None:
        return None
    if isinstance(h, dict):  # the sparse form of development builds: {"0": 39, "3": 3}
        try:
            pairs = {int(k): float(v) for k, v in h.items()}
        except (TypeError, ValueError):
            raise InputError(f"{path}: {where}: acceptance_histogram is not counts by number accepted") from None
        out = np.zeros(max(pairs, default=-1) + 1)
        for k, v in pairs.items():
            if k < 0:
                raise InputError(f"{path}: {where}: acceptance_histogram has a negative key")
            out[k] = v
    elif isinstance(h, list):
        try:
            out = np.array([float(v) for v in h])
        except (TypeError, ValueError):
            raise InputError(f"{path}: {where}: acceptance_histogram is not a list of counts") from None
    else:
        raise InputError(f"{path}: {where}: acceptance_histogram is neither a list nor an object")
    if not np.all(np.isfinite(out)) or np.any(out < 0):
        raise InputError(f"{path}: {where}: acceptance_histogram holds a count that is negative or not finite")
    return out


def check_histogram(path: str, where: str, h: np.ndarray | None, steps: float, accepted: float) -> None:
    """Refuse a histogram whose steps or accepted tokens differ from the record's counts.

    Parameters
    ----------
    path, where
        For messages: the file and the record.
    h
        Counts of steps by accepted draft tokens (:func:`histogram`), or None (nothing to check).
    steps, accepted
        The record's verify steps and accepted draft tokens.

    """
    if h is None:
        return
    got_steps, got_acc = float(h.sum()), float((np.arange(len(h)) * h).sum())
    if got_steps != steps or got_acc != accepted:
        raise InputError(
            f"{path}: {where}: the acceptance histogram holds {got_steps:g} steps and {got_acc:g} accepted tokens, "
            f"not {steps:g} and {accepted:g}; the record is inconsistent"
        )
