"""NVIDIA specdec_bench's ``speculation_profile.json`` (schema 1.0): acceptance per draft position, measured.

Written by ``examples/specdec_bench/specdec_bench/speculation_profile.py`` (NVIDIA/Model-Optimizer@095124e9,
2026) from its ``AcceptanceRate`` metric, which records tokens emitted per decode step (the acceptance length,
bonus token included: length 1 = no draft token accepted). The profile holds ``num_speculative_tokens`` (K),
``marginal_accept_rates`` (entry i = P(first i + 1 drafts all accepted) = P(X >= i + 1)),
``conditional_accept_rates``, ``mean_accept_length`` (per decode step; ``mean_accept_length_per_request`` averages
requests and is not used), the ``acceptance_length_histogram`` (steps by length) and its own ``validation``:
``1 + sum(marginals)`` within 0.02 of the mean, and marginals that never increase. X = mean_accept_length - 1.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from ..errors import InputError
from ._text import _count, _integer
from .format import any_object
from .result import Measured
from .uncertainty import from_distribution

__all__ = ["is_speculation_profile", "read_speculation_profile"]

_TOLERANCE = 0.02  # speculation_profile._consistency_check's


def is_speculation_profile(objs: list[Any]) -> bool:
    """Whether the objects are specdec_bench speculation profiles.

    Parameters
    ----------
    objs
        The file's JSON objects.

    Returns
    -------
    bool
        True when one holds ``schema_version`` and ``marginal_accept_rates``.

    """
    return any_object(objs, lambda o: "schema_version" in o and "marginal_accept_rates" in o)


def _rates(path: str, where: str, name: str, value: Any) -> list[float]:
    if not isinstance(value, list):
        raise InputError(f"{path}: {where}: {name} must be a list of rates")
    out = [_count(path, where, name, v) for v in value]
    if any(v > 1 + 1e-9 for v in out):
        raise InputError(f"{path}: {where}: {name} holds a rate above 1")
    return out


def _histogram(path: str, where: str, h: Any) -> np.ndarray | None:
    """Return steps by accepted draft tokens (length - 1) from the profile's steps-by-length map."""
    if h is None:
        return None
    if not isinstance(h, dict) or not h:
        raise InputError(f"{path}: {where}: acceptance_length_histogram must map lengths to step counts")
    try:
        pairs = {int(k): v for k, v in h.items()}
    except ValueError:
        raise InputError(f"{path}: {where}: acceptance_length_histogram has a key that is not a length") from None
    if min(pairs) < 1:
        raise InputError(f"{path}: {where}: acceptance_length_histogram has a length below 1 (it counts the bonus)")
    out = np.zeros(max(pairs))
    for length, v in pairs.items():
        out[length - 1] = _integer(path, where, f"acceptance_length_histogram[{length}]", v)
    return out


def read_speculation_profile(path: str, objs: list[Any]) -> list[Measured]:
    """Read specdec_bench speculation profiles: one entry per profile, refused where its own checks fail.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    objs
        Profiles (one JSON document, a list, or JSONL).

    Returns
    -------
    list of Measured
        One entry per measured profile: X = mean_accept_length - 1, P = K, the distribution from the marginals
        (P(X = i) = m[i-1] - m[i]); the interval from the histogram of steps where the profile has one.

    """
    profiles = [o for o in objs if isinstance(o, dict) and "marginal_accept_rates" in o]
    out = []
    for i, o in enumerate(profiles, start=1):
        where = f"profile {i}" if len(profiles) > 1 else "the profile"
        if str(o.get("schema_version")) != "1.0":
            raise InputError(f"{path}: {where}: schema_version {o.get('schema_version')!r} is not 1.0, the one read")
        if o.get("measured") is False:
            raise InputError(f"{path}: {where}: a placeholder (measured: false), not a measurement")
        k = _integer(path, where, "num_speculative_tokens", o.get("num_speculative_tokens"), minimum=1)
        marg = _rates(path, where, "marginal_accept_rates", o.get("marginal_accept_rates"))
        if len(marg) != k:
            raise InputError(f"{path}: {where}: {len(marg)} marginal rates for num_speculative_tokens = {k}")
        length = _count(path, where, "mean_accept_length", o.get("mean_accept_length"), minimum=1)
        implied = 1 + sum(marg)
        if abs(implied - length) > _TOLERANCE + 1e-9:
            raise InputError(
                f"{path}: {where}: fails its own validation: 1 + sum(marginal_accept_rates) = {implied:.4f} is not "
                f"mean_accept_length = {length:g} within {_TOLERANCE} (a vector cut short of the K measured?)"
            )
        if any(b > a + 1e-9 for a, b in itertools.pairwise(marg)):
            raise InputError(
                f"{path}: {where}: fails its own validation: marginal_accept_rates rise with the position ({marg}); "
                "P(X >= i) cannot"
            )
        checks = o.get("validation") or {}
        if not isinstance(checks, dict):
            raise InputError(f"{path}: {where}: validation must be an object of checks")
        failed = [name for name, c in checks.items() if isinstance(c, dict) and c.get("passed") is False]
        if failed:
            raise InputError(f"{path}: {where}: its own validation failed ({', '.join(failed)}); it is not read")
        verification = o.get("verification_method", "longest_prefix")
        survival = np.array([1.0, *marg, 0.0])
        dist = survival[:-1] - survival[1:]  # P(X = 0..K)
        notes = []
        hist = _histogram(path, where, o.get("acceptance_length_histogram"))
        x = length - 1
        if hist is not None:
            steps = float(hist.sum())
            if steps == 0 or abs((np.arange(len(hist)) * hist).sum() / steps - x) > 1e-6 * max(1.0, length) + 5e-7:
                raise InputError(f"{path}: {where}: acceptance_length_histogram does not give mean_accept_length")
            if len(hist) > k + 1:
                raise InputError(
                    f"{path}: {where}: acceptance_length_histogram has steps that accepted more than K = {k}"
                )
            estimate = from_distribution(hist, "the profile's histogram of steps", x)
            dist = np.pad(hist, (0, k + 1 - len(hist))) / steps  # exact, where the marginals are rounded
        else:
            steps = math.nan
            estimate = (x, None, None, "a mean without its number of steps: no interval")
            notes.append("the profile has no histogram of steps: their number is unknown")
        if verification != "longest_prefix":
            dist = None
            notes.append(f"verification_method {verification!r}: the per-position rates do not give the distribution")
        if o.get("per_category"):
            notes.append("per_category means are not read: the profile does not say how they average")
        target = o.get("target_model")
        out.append(
            Measured.build(
                path,
                "specdec-bench-profile",
                str(o.get("method") or ""),
                estimate,
                steps,
                "specdec_bench's mean_accept_length is tokens per decode step, bonus token included: X = "
                "mean_accept_length - 1; marginal_accept_rates[i] = P(X >= i + 1) give the distribution",
                P=k,
                distribution=dist,
                notes=tuple(notes),
                model=target if isinstance(target, str) else None,
            )
        )
    if not out:
        raise InputError(f"{path}: no speculation profile with marginal_accept_rates")
    return out
