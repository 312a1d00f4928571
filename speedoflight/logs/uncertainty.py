"""How each source's uncertainty is obtained: between groups, from the distribution of X, or from totals only."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = [
    "Z95",
    "between_groups",
    "between_or_totals",
    "distribution_from_cumulative",
    "from_distribution",
    "totals_only",
]


# --- uncertainty ---------------------------------------------------------------------------------------------

Z95 = NormalDist().inv_cdf(0.975)  # stdlib: reading a log must not wait for scipy.stats


def between_groups(
    totals: np.ndarray, counts: np.ndarray
) -> tuple[float, float | None, tuple[float, float] | None, str]:
    """Return the ratio estimator sum(totals)/sum(counts) with the between-group (cluster) standard error.

    Parameters
    ----------
    totals
        ``[g]`` per-group sums (accepted draft tokens of each request or sequence).
    counts
        ``[g]`` per-group counts (verifier calls).

    Returns
    -------
    tuple
        ``(mean, se, ci, how)``: the ratio, its standard error and 95% t-interval on g - 1 degrees of freedom
        (both None for one group), and how they were obtained.

    """
    totals = np.asarray(totals, dtype=float)
    counts = np.asarray(counts, dtype=float)
    n = counts.sum()
    mean = float(totals.sum() / n)
    g = len(counts)
    if g < 2:
        return mean, None, None, "one group only: no interval"
    resid = totals - mean * counts
    se = float(math.sqrt(g / (g - 1) * np.sum(resid**2)) / n)
    from scipy import special

    t = float(special.stdtrit(g - 1, 0.975))  # the Student-t quantile, as stats.t.ppf
    return mean, se, (mean - t * se, mean + t * se), f"between {g} groups (requests/sequences), t-interval"


def from_distribution(
    counts: np.ndarray, what: str, mean: float | None = None
) -> tuple[float, float | None, tuple[float, float] | None, str]:
    """Return the mean and standard error of X from counts of X = 0, 1, ..., treating iterations as independent.

    ``mean`` replaces the counts' own mean where exact totals are known and the counts come from rounded rates.

    Parameters
    ----------
    counts
        Iterations with X = 0, 1, ... (may be fractional; negatives are clipped to 0).
    what
        Where the counts come from, quoted in ``how``.
    mean
        The exact mean X; by default the counts' own mean.

    Returns
    -------
    tuple
        ``(mean, se, ci, how)``: the mean X, its standard error and normal 95% interval (both None for fewer
        than 2 iterations), and how they were obtained.

    """
    counts = np.clip(np.asarray(counts, dtype=float), 0, None)
    n = counts.sum()
    x = np.arange(len(counts))
    if mean is None:
        mean = float((counts * x).sum() / n)
    if n < 2:
        return mean, None, None, "a single iteration: no interval"
    var = float((counts * (x - mean) ** 2).sum() / (n - 1))
    se = math.sqrt(var / n)
    return (
        mean,
        se,
        (mean - Z95 * se, mean + Z95 * se),
        f"from the distribution of X ({what}), iterations treated as independent: iterations of one request are "
        "correlated, so the true error is larger",
    )


def totals_only(accepted: float, iterations: float, k: int | None) -> tuple[float, float | None, Any, str]:
    """Return the mean from totals only, and at most the Bhatia-Davis bound sqrt(m (K - m) / n) when X <= K is known.

    Parameters
    ----------
    accepted
        Accepted draft tokens in all.
    iterations
        Verifier calls (drafts) in all.
    k
        The largest X possible (K), or None where unknown.

    Returns
    -------
    tuple
        ``(mean, se, ci, how)``: accepted / iterations; with ``k`` and at least 2 iterations the Bhatia-Davis
        bound as se and its normal 95% interval, else None for both; and how they were obtained.

    """
    mean = accepted / iterations
    if k is None or iterations < 2:
        return mean, None, None, "totals only: no standard error can be given"
    se = math.sqrt(max(mean * (k - mean), 0.0) / iterations)
    return (
        mean,
        se,
        (mean - Z95 * se, mean + Z95 * se),
        f"totals only: se is the largest any distribution on 0..{k} with this mean allows (Bhatia-Davis), "
        "iterations treated as independent",
    )


def between_or_totals(
    totals: Sequence[float] | np.ndarray,
    counts: Sequence[float] | np.ndarray,
    *,
    minimum: int = 2,
    how: str | None = None,
    k: int | None = None,
) -> tuple[float, float | None, tuple[float, float] | None, str]:
    """Return :func:`between_groups` where there are ``minimum`` groups or more, else :func:`totals_only`.

    Parameters
    ----------
    totals, counts
        ``[g]`` per-group accepted draft tokens and verifier calls (requests, iterations, logging intervals).
    minimum
        The fewest groups the between-group interval is given for.
    how
        What to say of the between-group interval instead of its own words (``batch means over ...``).
    k
        The largest X possible (K) for the totals-only bound, or None where unknown.

    Returns
    -------
    tuple
        ``(mean, se, ci, how)``, as the function used returns it.

    """
    totals = np.asarray(totals, dtype=float)
    counts = np.asarray(counts, dtype=float)
    if len(totals) >= minimum:
        mean, se, ci, own = between_groups(totals, counts)
        return mean, se, ci, own if how is None else how
    return totals_only(float(totals.sum()), float(counts.sum()), k)


def distribution_from_cumulative(drafts: float, per_pos: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return counts of X = 0..K from the drafts and the counts of drafts with position i accepted (P(X > i)).

    Parameters
    ----------
    drafts
        Drafts (iterations) in all.
    per_pos
        ``[K]`` drafts whose position i = 0, ..., K - 1 was accepted.

    Returns
    -------
    numpy.ndarray
        ``[K + 1]`` drafts with X = 0, ..., K: differences of consecutive cumulative counts (not clipped).

    """
    c = np.concatenate([[drafts], np.asarray(per_pos, dtype=float), [0.0]])
    return c[:-1] - c[1:]
