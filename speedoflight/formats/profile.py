"""Writing NVIDIA specdec_bench's ``speculation_profile.json`` (schema 1.0): acceptance per draft position.

The schema is that of ``examples/specdec_bench/specdec_bench/speculation_profile.py`` (NVIDIA/Model-Optimizer
@095124e9 and @edf879d3, 2026), whose reader is :mod:`speedoflight.logs.specdec`. A profile of K draft positions
holds

* ``marginal_accept_rates``: entry i = P(the first i + 1 drafts all accepted) = P(X >= i + 1), non-increasing;
* ``conditional_accept_rates``: entry i = P(draft i + 1 accepted | the first i accepted) = m[i] / m[i - 1]
  (m[-1] = 1; 0 where the previous marginal is 0, as specdec_bench's ``build_profile`` and vLLM's
  ``unconditional_to_conditional_rates`` write it);
* ``mean_accept_length`` (AL): tokens per verifier call, the bonus token included, = 1 + sum of the marginals
  (exact for longest-prefix verification: the mean of X is the sum of its survival function);
* ``validation``: ``mean_consistency`` (1 + sum of the marginals within 0.02 of AL) and ``marginal_monotonicity``.

Rates are rounded to 6 decimals, as specdec_bench rounds them; rounding keeps them non-increasing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = [
    "SCHEMA_VERSION",
    "TOLERANCE",
    "acceptance_length",
    "build_profile",
    "conditional_from_marginal",
    "marginal_from_conditional",
    "marginal_from_distribution",
]

#: A vector of rates or probabilities: a list or a numpy array.
Rates = Sequence[float] | np.ndarray

SCHEMA_VERSION = "1.0"
#: specdec_bench's ``_consistency_check`` tolerance on 1 + sum(marginals) against the mean accept length.
TOLERANCE = 0.02
_DIGITS = 6


def _check_marginal(marginal: Rates) -> np.ndarray:
    m = np.asarray(marginal, dtype=np.float64)
    if m.ndim != 1 or m.size == 0:
        raise InputError("a speculation profile needs at least one draft position")
    if not np.all(np.isfinite(m)) or np.any(m < 0) or np.any(m > 1):
        raise InputError(f"acceptance rates must be finite and within [0, 1], got {m.tolist()}")
    if np.any(np.diff(m) > 1e-12):
        raise InputError(f"marginal acceptance rates P(X >= i) cannot rise with the position, got {m.tolist()}")
    return m


def conditional_from_marginal(marginal: Rates) -> list[float]:
    """Return P(draft i accepted | drafts 1..i-1 accepted) from the marginals P(X >= i).

    Parameters
    ----------
    marginal
        P(X >= 1), ..., P(X >= K): non-increasing, within [0, 1].

    Returns
    -------
    list of float
        ``m[i] / m[i - 1]`` with ``m[-1] = 1``; 0 where the previous marginal is 0.

    """
    m = _check_marginal(marginal)
    prev = np.concatenate([[1.0], m[:-1]])
    return [float(a / b) if b > 0 else 0.0 for a, b in zip(m, prev, strict=True)]


def marginal_from_conditional(conditional: Rates) -> list[float]:
    """Return the marginals P(X >= i) from the conditional rates (their running product).

    Parameters
    ----------
    conditional
        P(draft i accepted | drafts 1..i-1 accepted), each within [0, 1].

    Returns
    -------
    list of float
        The running product.

    """
    c = np.asarray(conditional, dtype=np.float64)
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)) or np.any(c < 0) or np.any(c > 1):
        raise InputError(f"conditional acceptance rates must be finite and within [0, 1], got {list(conditional)}")
    return [float(x) for x in np.cumprod(c)]


def marginal_from_distribution(distribution: Rates, k: int) -> list[float]:
    """Return P(X >= i), i = 1..k, from P(X = j), j = 0, 1, ... (entries past the distribution are 0).

    Parameters
    ----------
    distribution
        P(X = 0), P(X = 1), ...: non-negative, summing to 1.
    k
        Draft positions wanted.

    Returns
    -------
    list of float
        The survival function at 1..k.

    """
    p = np.asarray(distribution, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or not np.all(np.isfinite(p)) or np.any(p < -1e-12):
        raise InputError("the distribution of X must be a list of non-negative probabilities")
    total = float(p.sum())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise InputError(f"the distribution of X sums to {total:.6g}, not 1")
    surv = 1.0 - np.cumsum(np.clip(p, 0.0, None) / total)  # surv[j] = P(X > j) = P(X >= j + 1)
    out = np.zeros(k)
    n = min(k, len(surv))
    out[:n] = np.clip(surv[:n], 0.0, 1.0)
    return [float(x) for x in np.minimum.accumulate(out)]  # float noise never makes it rise


def acceptance_length(marginal: Rates) -> float:
    """Return the mean acceptance length AL = 1 + sum of P(X >= i) (tokens per verifier call, bonus included).

    Parameters
    ----------
    marginal
        P(X >= 1), ..., P(X >= K).

    Returns
    -------
    float
        AL; X = AL - 1 accepted draft tokens per call.

    """
    return 1.0 + float(_check_marginal(marginal).sum())


def _validation(mean_length: float, marginal: list[float]) -> dict[str, Any]:
    implied = 1.0 + sum(marginal)
    delta = abs(implied - mean_length)
    violations = [
        {"position": i, "value": marginal[i], "previous": marginal[i - 1]}
        for i in range(1, len(marginal))
        if marginal[i] > marginal[i - 1] + 1e-9
    ]
    return {
        "mean_consistency": {
            "implied_mean_accept_length": round(implied, _DIGITS),
            "reported_mean_accept_length": round(mean_length, _DIGITS),
            "abs_delta": round(delta, _DIGITS),
            "tolerance": TOLERANCE,
            "passed": delta <= TOLERANCE,
        },
        "marginal_monotonicity": {"passed": not violations, "violations": violations},
    }


def _rates(marginal: np.ndarray) -> tuple[list[float], list[float]]:
    m = [round(float(x), _DIGITS) for x in marginal]
    return m, [round(c, _DIGITS) for c in conditional_from_marginal(m)]


def build_profile(
    marginal: Rates,
    *,
    method: str | None = None,
    target_model: str | None = None,
    mean_per_request: float | None = None,
    per_category: dict[str, dict[str, Any]] | None = None,
    accept_length_model: str = "measured_per_k",
    conditions: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a ``speculation_profile.json`` payload (schema 1.0) for the marginals P(X >= i), i = 1..K.

    Parameters
    ----------
    marginal
        P(X >= 1), ..., P(X >= K): non-increasing, within [0, 1]; K = ``num_speculative_tokens``.
    method
        What the profile describes (specdec_bench's speculation method; a label here).
    target_model
        The verifier's name.
    mean_per_request
        ``mean_accept_length_per_request``: AL averaged over requests (prompts), where known; None otherwise.
    per_category
        ``{kind: {"marginal_accept_rates": [...], ...}}``: each category's own marginals (and any other fields to
        keep, such as its number of prompts); its AL and conditional rates are added.
    accept_length_model
        ``"chain_analytic"`` where the K-draft chain is a prefix of the (K + 1)-draft one, so the profile holds at
        every K' <= K; else ``"measured_per_k"``.
    conditions
        ``measurement_conditions``: what the numbers were computed from.
    extra
        Further top-level keys (this project's own block, ``speedoflight``); readers of the schema ignore them.

    Returns
    -------
    dict
        The profile, JSON-ready: ``schema_version``, ``measured`` (true: a complete profile, not specdec_bench's
        placeholder), ``num_speculative_tokens``, both rate vectors, ``mean_accept_length``, ``validation``, ...

    """
    m_raw = _check_marginal(marginal)
    k = int(m_raw.size)
    m, c = _rates(m_raw)
    length = round(1.0 + float(m_raw.sum()), _DIGITS)
    cats = None
    if per_category:
        cats = {}
        for name, entry in per_category.items():
            cm_raw = _check_marginal(entry["marginal_accept_rates"])
            if cm_raw.size != k:
                raise InputError(f"category {name!r} has {cm_raw.size} rates for K = {k}")
            cm, cc = _rates(cm_raw)
            cats[str(name)] = {
                **{key: v for key, v in entry.items() if key != "marginal_accept_rates"},
                "mean_accept_length": round(1.0 + float(cm_raw.sum()), _DIGITS),
                "marginal_accept_rates": cm,
                "conditional_accept_rates": cc,
            }
    profile: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "measured": True,
        "method": method,
        "draft_checkpoint": None,
        "target_model": target_model,
        "num_speculative_tokens": k,
        "block_size": None,
        "max_supported_k": k,
        "verification_method": "longest_prefix",
        "conditional_accept_rates": c,
        "marginal_accept_rates": m,
        "mean_accept_length": length,
        "mean_accept_length_per_request": None if mean_per_request is None else round(mean_per_request, _DIGITS),
        "accept_length_model": accept_length_model,
        "accept_length_by_k": {str(k): length},
        "acceptance_length_histogram": None,
        "per_category": cats,
        "measurement_conditions": conditions,
        "validation": _validation(length, m),
    }
    if extra:
        profile.update(extra)
    return profile
