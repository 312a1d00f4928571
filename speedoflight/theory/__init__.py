"""The theory: the estimator of mu and mu2, and the bounds on E[X*(P)] built from them.

:mod:`.estimator` (mu, mu2 and their intervals), :mod:`.bounds` (the closed
forms: published, Lorden, renewal, trivial), :mod:`.iid` (the exact i.i.d.
threshold curve and bound), :mod:`.trajectory` (the trajectory bound),
:mod:`.curve` (all of them on a grid of P, with the speedup ceiling),
:mod:`.symbolic` (the closed forms in sympy) and :mod:`.registry` (each
curve's name). The timing model they use is :mod:`speedoflight.timing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._util.lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .bounds import asymptotic as asymptotic
    from .bounds import lorden as lorden
    from .bounds import lorden_log_p as lorden_log_p
    from .bounds import published as published
    from .bounds import trivial as trivial
    from .curve import BoundCurve as BoundCurve
    from .curve import bound_curve as bound_curve
    from .estimator import Moments as Moments
    from .estimator import PerRow as PerRow
    from .estimator import estimate as estimate
    from .iid import AtomPool as AtomPool
    from .iid import IIDCurve as IIDCurve
    from .iid import atom_pool as atom_pool
    from .iid import iid_curve as iid_curve
    from .registry import CURVES as CURVES
    from .registry import Curve as Curve
    from .registry import label as label
    from .trajectory import TrajectoryBound as TrajectoryBound
    from .trajectory import trajectory_bound as trajectory_bound

#: The public names by the module that defines them, each imported on first use.
_LAZY = {
    ".estimator": ["estimate", "Moments", "PerRow"],
    ".curve": ["bound_curve", "BoundCurve"],
    ".bounds": ["published", "lorden", "lorden_log_p", "asymptotic", "trivial"],
    ".iid": ["iid_curve", "IIDCurve", "atom_pool", "AtomPool"],
    ".trajectory": ["trajectory_bound", "TrajectoryBound"],
    ".registry": ["CURVES", "Curve", "label"],
}

__all__ = [
    "CURVES",
    "AtomPool",
    "BoundCurve",
    "Curve",
    "IIDCurve",
    "Moments",
    "PerRow",
    "TrajectoryBound",
    "asymptotic",
    "atom_pool",
    "bound_curve",
    "estimate",
    "iid_curve",
    "label",
    "lorden",
    "lorden_log_p",
    "published",
    "trajectory_bound",
    "trivial",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
