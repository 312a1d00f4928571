"""One registry of the curves the package reports: key, labels, line style; and the style of a measured drafter.

compare, evidence, report, the CLI tables and the notebooks all name and draw
a curve from here, so a given bound looks the same everywhere, and a given
drafter gets the same marker and colour in every figure (its style is a
function of its name, not of its place in a list).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = ["CURVES", "Curve", "drafter_style", "drafter_styles", "label"]


@dataclass(frozen=True)
class Curve:
    """How one curve is named and drawn.

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
    color, linestyle : str
        matplotlib colour and line style.

    """

    key: str
    label: str
    short: str
    description: str
    color: str
    linestyle: str


def _c(key: str, label: str, short: str, description: str, color: str, linestyle: str) -> Curve:
    return Curve(key, label, short, description, color, linestyle)


#: Every curve, by key.
CURVES: dict[str, Curve] = {
    c.key: c
    for c in (
        _c(
            "published",
            "published form (no O(1))",
            "published",
            "published closed form (mu + mu2) log P / mu^2, its O(1) term left out (Pankratov & Alistarh)",
            "tab:brown",
            "-.",
        ),
        _c(
            "lorden",
            "Lorden bound (i.i.d.)",
            "lorden",
            "Lorden bound at t = log(mu P): log(mu P)/mu + mu2/mu^2 + 1/mu - 1 (i.i.d.)",
            "tab:red",
            "-",
        ),
        _c(
            "lorden_log_p",
            "Lorden bound at t = log P",
            "lorden@logP",
            "Lorden bound at t = log P: log(P)/mu + mu2/mu^2 (i.i.d.)",
            "lightcoral",
            "-",
        ),
        _c(
            "asymptotic",
            "renewal prediction",
            "renewal",
            "renewal prediction log(mu P)/mu + mu2/(2 mu^2) - 1 (i.i.d., not a bound)",
            "tab:purple",
            ":",
        ),
        _c("trivial", "trivial bound P", "trivial", "trivial bound P", "0.6", ":"),
        _c(
            "iid_exact",
            "exact i.i.d. curve",
            "iid exact",
            "exact i.i.d. threshold policy: gain at mean tree size P (a policy of random size, not a bound)",
            "tab:cyan",
            "--",
        ),
        _c(
            "iid_bound",
            "i.i.d. threshold bound",
            "iid bound",
            "i.i.d. threshold bound min_t G(t) + P e^{-t} with the pool's exact G",
            "teal",
            "-",
        ),
        _c(
            "trajectory",
            "trajectory bound (plug-in)",
            "trajectory",
            "trajectory bound inf_t G(t) + P e^{-t}, G from sampled continuations (plug-in; no i.i.d.)",
            "tab:olive",
            "-",
        ),
        _c(
            "trajectory_conservative",
            "trajectory bound (conservative)",
            "traj. cons.",
            "trajectory bound from a uniform upper confidence band of G",
            "tab:orange",
            "-",
        ),
        _c(
            "optimum",
            "simulated optimal tree, tails dropped (lower estimate)",
            "optimum",
            "the optimal draft tree simulated under the i.i.d. model, top-k tails dropped",
            "k",
            "-",
        ),
        _c(
            "optimum_upper",
            "simulated optimal tree, tails lumped (upper estimate)",
            "optimum up",
            "the optimal draft tree simulated under the i.i.d. model, top-k tails lumped into one token",
            "k",
            "--",
        ),
        _c(
            "oracle",
            "real optimum (oracle)",
            "oracle",
            "the exact optimal draft tree of the real model, searched with real forward passes",
            "k",
            "-",
        ),
        _c(
            "grafted",
            "grafted prediction (logged continuations)",
            "grafted",
            "the real optimum predicted from logged continuations: real rows along them, pool rows elsewhere",
            "tab:green",
            "-",
        ),
        _c(
            "iid_sim",
            "i.i.d. simulation (pool)",
            "iid sim",
            "the optimal tree simulated under the i.i.d. model from the model's own pool",
            "tab:blue",
            "-",
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


_MARKERS = {"ngram": "s", "early-exit": "^", "eagle": "D", "eagle2": "D", "medusa": "v", "lookahead": "<"}
_OTHER_MARKERS = "o>pP*hX"
#: Drafter colours: none of them is a curve's colour (see :data:`CURVES`), so a drafter never looks like a bound.
_PALETTE = (
    "darkblue",
    "goldenrod",
    "magenta",
    "maroon",
    "tab:pink",
    "tab:gray",
    "darkslategray",
    "yellowgreen",
)


def drafter_style(name: str) -> dict[str, str]:
    """Return the marker, colour and fill of a measured drafter's points, the same in every figure.

    Parameters
    ----------
    name
        The drafter's label, e.g. ``"early-exit:24 tree"`` or ``"vllm (Llama-3.1-8B)"``.

    Returns
    -------
    dict
        ``marker`` (by the drafter's family: prompt lookup squares, early exit
        triangles, EAGLE diamonds; others by a hash of the name), ``color``
        (by a hash of the whole name) and ``fillstyle`` (``"none"`` for trees,
        ``"full"`` for chains and the rest).

    """
    family = name.split()[0].split(":")[0].lower() if name.strip() else ""
    digest = zlib.crc32(name.encode("utf-8"))
    marker = _MARKERS.get(family, _OTHER_MARKERS[zlib.crc32(family.encode("utf-8")) % len(_OTHER_MARKERS)])
    return {
        "marker": marker,
        "color": _PALETTE[digest % len(_PALETTE)],
        "fillstyle": "none" if name.rstrip().endswith(" tree") else "full",
    }


def drafter_styles(names: list[str]) -> dict[str, dict[str, str]]:
    """Return the styles of the drafters drawn together, no two with the same colour and marker.

    Parameters
    ----------
    names
        The drafters of one figure.

    Returns
    -------
    dict
        ``{name: style}``: each :func:`drafter_style`, except that a drafter whose colour is taken (in sorted order of
        the names) gets the next free colour of the palette, so one set of drafters looks the same in every figure.

    """
    out: dict[str, dict[str, str]] = {}
    taken: set[str] = set()
    for name in sorted(set(names)):
        sty = dict(drafter_style(name))
        i = _PALETTE.index(sty["color"])
        for k in range(len(_PALETTE)):
            c = _PALETTE[(i + k) % len(_PALETTE)]
            if c not in taken or k == len(_PALETTE) - 1:
                sty["color"] = c
                break
        taken.add(sty["color"])
        out[name] = sty
    return out
