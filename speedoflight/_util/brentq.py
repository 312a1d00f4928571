"""Brent's root finder, ported from scipy: the same root to the last bit, without importing ``scipy.optimize``."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["brentq"]


def brentq(
    f: Any, xa: float, xb: float, xtol: float, rtol: float = 4 * 2.220446049250313e-16, iters: int = 100
) -> float:
    """Return a root of ``f`` in ``[xa, xb]`` by Brent's method: ``scipy.optimize.brentq``, step for step.

    The same arithmetic as scipy's ``Zeros/brentq.c`` (its defaults ``rtol = 4 eps``, 100 iterations), so the
    same root to the last bit (``tests/test_simulate.py`` checks it against scipy), without importing
    ``scipy.optimize``, which costs a third of a second at start-up.

    Parameters
    ----------
    f
        A function of one float with opposite signs at ``xa`` and ``xb``.
    xa, xb
        The bracket.
    xtol, rtol, iters
        Tolerances and the most iterations.

    Returns
    -------
    float
        The root.

    """
    xpre, xcur = float(xa), float(xb)
    xblk = fblk = spre = scur = 0.0
    fpre, fcur = float(f(xpre)), float(f(xcur))
    if fpre == 0:
        return xpre
    if fcur == 0:
        return xcur
    if math.copysign(1.0, fpre) == math.copysign(1.0, fcur):
        raise ValueError("f(a) and f(b) must have different signs")
    for _ in range(iters):
        if fpre != 0 and fcur != 0 and math.copysign(1.0, fpre) != math.copysign(1.0, fcur):
            xblk, fblk = xpre, fpre
            spre = scur = xcur - xpre
        if abs(fblk) < abs(fcur):
            xpre, xcur, xblk = xcur, xblk, xcur
            fpre, fcur, fblk = fcur, fblk, fcur
        delta = (xtol + rtol * abs(xcur)) / 2
        sbis = (xblk - xcur) / 2
        if fcur == 0 or abs(sbis) < delta:
            return xcur
        if abs(spre) > delta and abs(fcur) < abs(fpre):
            if xpre == xblk:  # interpolate
                stry = -fcur * (xcur - xpre) / (fcur - fpre)
            else:  # extrapolate
                dpre = (fpre - fcur) / (xpre - xcur)
                dblk = (fblk - fcur) / (xblk - xcur)
                stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            if 2 * abs(stry) < min(abs(spre), 3 * abs(sbis) - delta):  # a good short step
                spre, scur = scur, stry
            else:
                spre = scur = sbis
        else:
            spre = scur = sbis
        xpre, fpre = xcur, fcur
        xcur += scur if abs(scur) > delta else (delta if sbis > 0 else -delta)
        fcur = float(f(xcur))
    raise ValueError(f"no root within {iters} iterations")
