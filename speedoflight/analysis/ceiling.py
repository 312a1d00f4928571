"""The ceiling that compare and report hold measured drafters against: the grafted prediction where it exists.

A dump with sampled continuations (token ids, sampled tokens) gives the real optimum predicted by the grafted
tree (:func:`speedoflight.simulation.grafted.optimum`), averaged over every position of the continuations
(``positions="all"``): the ceiling a serving stack's measured acceptance, itself an average over generated
positions, should be held against. The i.i.d. simulation stays beside it as the model-based value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..errors import InputError

__all__ = ["CEILING_PMAX", "CEILING_REPLICATES", "ceiling_at", "ceiling_dict", "grafted_ceiling"]

#: The largest P the ceiling is computed at (every generated position is a root: cost grows with P).
CEILING_PMAX = 512
#: Draws of the unknown rows per root (thousands of roots: few draws suffice for the mean).
CEILING_REPLICATES = 8


def grafted_ceiling(dumps: Sequence[str], pmax: int, seed: int = 0, parts: Any = None) -> Any:
    """Return the grafted ceiling of the dumps' verifier, or None where the dumps hold no continuations.

    Parameters
    ----------
    dumps
        The verifier's dumps.
    pmax
        Largest P wanted (capped at :data:`CEILING_PMAX`).
    seed
        Seed of the draws and the bootstrap.
    parts
        The dumps' arrays from the command's one pass (``ContinuationScan.parts()``), so nothing is read again.

    Returns
    -------
    OptimumResult or None
        Tails dropped (lower) and lumped (upper), every position a root; None for files that are not
        speedoflight dumps with token ids and sampled tokens.

    """
    from ..simulation.grafted import optimum

    if not all(str(d).lower().endswith(".npz") for d in dumps):
        return None
    try:
        return optimum(
            list(dumps),
            pmax=min(int(pmax), CEILING_PMAX),
            positions="all",
            replicates=CEILING_REPLICATES,
            seed=seed,
            tail="both",
            parts=parts,
        )
    except InputError:
        return None


def ceiling_at(res: Any, p: int) -> tuple[float, float, float, float] | None:
    """Return the ceiling at P: (lower mean, upper mean, lower CI low, upper CI high), or None past its range.

    Parameters
    ----------
    res
        A result of :func:`grafted_ceiling` (or None).
    p
        Tree size.

    Returns
    -------
    tuple of float or None
        The range and its interval; None without a ceiling or for P beyond it.

    """
    if res is None or not 1 <= p <= len(res.P):
        return None
    lo, hi = res.lower, res.upper
    i = p - 1
    return float(lo.mean[i]), float(hi.mean[i]), float(lo.ci_low[i]), float(hi.ci_high[i])


def ceiling_dict(res: Any) -> dict[str, Any] | None:
    """Return the ceiling for ``--json``: P, both estimates with their intervals, how it was made.

    Parameters
    ----------
    res
        A result of :func:`grafted_ceiling` (or None).

    Returns
    -------
    dict or None
        ``P``, ``lower`` and ``upper`` (each ``mean``, ``ci_low``, ``ci_high``), ``positions``, ``replicates``,
        ``continuations_per_prompt`` and ``note``; None without a ceiling.

    """
    if res is None:
        return None
    return {
        "P": res.P.tolist(),
        "lower": res.lower.to_dict(),
        "upper": res.upper.to_dict(),
        "positions": res.positions,
        "replicates": res.replicates,
        "continuations_per_prompt": res.continuations_per_prompt,
        "note": "the real optimum predicted from the dumps' own continuations (grafted tree), averaged over every "
        "generated position; lower = top-k tails dropped, upper = lumped",
    }


def fraction(x: float, value: float) -> float:
    """Return ``x / value`` (NaN for a zero value).

    Parameters
    ----------
    x
        Measured accepted tokens per call.
    value
        The ceiling.

    Returns
    -------
    float
        The fraction.

    """
    return x / value if value > 0 else math.nan
