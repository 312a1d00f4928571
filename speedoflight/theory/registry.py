"""One registry of the curves the package reports: key, label, short header and description.

compare, evidence, report, the CLI tables and the notebooks all name a curve
from here, so a given bound is called the same everywhere. How a curve is
drawn (colour, line style) and how a measured drafter is drawn (marker,
colour) live beside the figures, in :mod:`speedoflight.analysis.styles`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CURVES", "Curve", "label"]


@dataclass(frozen=True)
class Curve:
    """How one curve is named.

    Attributes
    ----------
    key : str
        Its column name in tables and JSON.
    label : str
        Short label for legends and table headers.
    short : str
        Column header of the CLI's fixed-width tables (at most 12 characters).
    description : str
        What it is, in one sentence (``BoundCurve.to_dict()["labels"]``, ``bound`` output).

    """

    key: str
    label: str
    short: str
    description: str


#: Every curve, by key.
CURVES: dict[str, Curve] = {
    c.key: c
    for c in (
        Curve(
            "published",
            "published form (no O(1))",
            "published",
            "published closed form (mu + mu2) log P / mu^2, its O(1) term left out (Pankratov & Alistarh)",
        ),
        Curve(
            "lorden",
            "Lorden bound (i.i.d.)",
            "lorden",
            "Lorden bound at t = log(mu P): log(mu P)/mu + mu2/mu^2 + 1/mu - 1 (i.i.d.)",
        ),
        Curve(
            "lorden_log_p",
            "Lorden bound at t = log P",
            "lorden@logP",
            "Lorden bound at t = log P: log(P)/mu + mu2/mu^2 (i.i.d.)",
        ),
        Curve(
            "asymptotic",
            "renewal prediction",
            "renewal",
            "renewal prediction log(mu P)/mu + mu2/(2 mu^2) - 1 (i.i.d., not a bound)",
        ),
        Curve(
            "trivial",
            "trivial bound P",
            "trivial",
            "trivial bound P",
        ),
        Curve(
            "iid_exact",
            "exact i.i.d. curve",
            "iid exact",
            "exact i.i.d. threshold policy: gain at mean tree size P (a policy of random size, not a bound)",
        ),
        Curve(
            "iid_bound",
            "i.i.d. threshold bound",
            "iid bound",
            "i.i.d. threshold bound min_t G(t) + P e^{-t} with the pool's exact G",
        ),
        Curve(
            "trajectory",
            "trajectory bound (plug-in)",
            "trajectory",
            "trajectory bound inf_t G(t) + P e^{-t}, G from sampled continuations (plug-in; no i.i.d.)",
        ),
        Curve(
            "trajectory_conservative",
            "trajectory bound (conservative)",
            "traj. cons.",
            "trajectory bound from a uniform upper confidence band of G",
        ),
        Curve(
            "optimum",
            "simulated optimal tree, tails dropped (lower estimate)",
            "optimum",
            "the optimal draft tree simulated under the i.i.d. model, top-k tails dropped",
        ),
        Curve(
            "optimum_upper",
            "simulated optimal tree, tails lumped (upper estimate)",
            "optimum up",
            "the optimal draft tree simulated under the i.i.d. model, top-k tails lumped into one token",
        ),
        Curve(
            "oracle",
            "real optimum (oracle)",
            "oracle",
            "the exact optimal draft tree of the real model, searched with real forward passes",
        ),
        Curve(
            "grafted",
            "grafted prediction (logged continuations)",
            "grafted",
            "the real optimum predicted from logged continuations: real rows along them, pool rows elsewhere",
        ),
        Curve(
            "iid_sim",
            "i.i.d. simulation (pool)",
            "iid sim",
            "the optimal tree simulated under the i.i.d. model from the model's own pool",
        ),
    )
}


def label(key: str) -> str:
    """Return the short label of a curve (the key itself for one not in the registry).

    Parameters
    ----------
    key
        A key of :data:`CURVES`.

    Returns
    -------
    str
        Its label.

    """
    c = CURVES.get(key)
    return c.label if c else key
