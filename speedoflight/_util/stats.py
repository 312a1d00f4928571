"""Intervals shared by every layer: the Student-t interval over replicates, and ratio estimators over clusters.

Every quantile is ``scipy.special.stdtrit`` (the same numbers as
``scipy.stats.t.ppf``, without importing scipy.stats, which costs half a
second at start-up).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = ["interval_of_mean", "ratio_stats", "t_interval"]


def t_interval(values: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard error and Student-t interval over replicates (axis 0).

    Parameters
    ----------
    values
        ``[n, ...]`` replicate values (n >= 2 for a finite interval).
    confidence
        Two-sided coverage, e.g. 0.95.

    Returns
    -------
    tuple of ndarray
        ``(mean, se, low, high)``, each of the shape of ``values[0]``.

    """
    n = values.shape[0]
    mean = values.mean(axis=0)
    se = values.std(axis=0, ddof=1) / math.sqrt(n)
    q = special.stdtrit(n - 1, 0.5 + confidence / 2)
    return mean, se, mean - q * se, mean + q * se


def ratio_stats(
    counts: np.ndarray, totals: np.ndarray, bootstrap: bool, confidence: float, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard error and interval of ``sum(totals) / sum(counts)`` for each column, over clusters.

    Parameters
    ----------
    counts
        ``[g]`` rows per cluster.
    totals
        ``[g, k]`` per-cluster sums of k quantities.
    bootstrap
        Resample clusters (``n_boot`` times, from ``seed``) for a percentile
        interval; else the linearised ratio-estimator standard error with a
        t quantile on g - 1 degrees of freedom.
    confidence
        Two-sided coverage.
    n_boot, seed
        Bootstrap replicates and seed (unused without ``bootstrap``).

    Returns
    -------
    tuple of ndarray
        ``(mean [k], se [k], ci [k, 2])``; NaN se and ci for one cluster.

    """
    g = len(counts)
    n = counts.sum()
    mean = totals.sum(axis=0) / n
    k = totals.shape[1]
    if g < 2:
        nan = np.full(k, np.nan)
        return mean, nan, np.stack([nan, nan], axis=1)
    alpha = 1.0 - confidence
    if bootstrap:
        rng = np.random.default_rng(seed)
        reps = np.empty((n_boot, k))
        block = max(1, min(n_boot, 10_000_000 // g))
        for b0 in range(0, n_boot, block):
            nb = min(block, n_boot - b0)
            w = rng.multinomial(g, np.full(g, 1.0 / g), size=nb).astype(np.float64)
            reps[b0 : b0 + nb] = (w @ totals) / (w @ counts)[:, None]
        se = reps.std(axis=0, ddof=1)
        ci = np.quantile(reps, [alpha / 2, 1 - alpha / 2], axis=0).T
    else:
        resid = totals - counts[:, None] * mean
        se = np.sqrt(g / (g - 1) * (resid**2).sum(axis=0)) / n
        q = special.stdtrit(g - 1, 1 - alpha / 2)
        ci = np.stack([mean - q * se, mean + q * se], axis=1)
    return mean, se, ci


def interval_of_mean(values: np.ndarray, clusters: np.ndarray, confidence: float) -> tuple[float, float, float, float]:
    """Mean of per-row ``values`` with its standard error and t-interval over clusters (ratio estimator).

    Parameters
    ----------
    values
        ``[n]`` per-row values.
    clusters
        ``[n]`` cluster label per row (prompts, sequences).
    confidence
        Two-sided coverage.

    Returns
    -------
    tuple of float
        ``(mean, se, low, high)``; NaN se and interval for one cluster.

    """
    _, inv = np.unique(clusters, return_inverse=True)
    counts = np.bincount(inv).astype(np.float64)
    totals = np.bincount(inv, weights=values)[:, None]
    mean, se, ci = ratio_stats(counts, totals, False, confidence, 0, 0)
    return float(mean[0]), float(se[0]), float(ci[0, 0]), float(ci[0, 1])
