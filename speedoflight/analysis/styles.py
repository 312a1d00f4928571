"""How the figures draw things: a colour and line style per curve, a marker and colour per measured drafter.

The curves' names (key, label, description) are the theory's and live in
:mod:`speedoflight.theory.registry`; here is only how each is drawn, by the
same key, so a given bound looks the same in every figure (compare, evidence,
the report's, the notebooks'). A drafter's style is a function of its name,
not of its place in a list, so it gets the same marker and colour everywhere.
Plain data: no matplotlib is imported here.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = [
    "CURVE_STYLES",
    "POLICY_STYLES",
    "CurveStyle",
    "curve_style",
    "drafter_style",
    "drafter_styles",
    "policy_style",
]


@dataclass(frozen=True)
class CurveStyle:
    """How one curve is drawn.

    Attributes
    ----------
    color : str
        matplotlib colour.
    linestyle : str
        matplotlib line style (``"-"``, ``"--"``, ``":"``, ``"-."``).

    """

    color: str
    linestyle: str


#: Every curve of :data:`speedoflight.theory.registry.CURVES`, by the same key.
CURVE_STYLES: dict[str, CurveStyle] = {
    "published": CurveStyle("tab:brown", "-."),
    "lorden": CurveStyle("tab:red", "-"),
    "lorden_log_p": CurveStyle("lightcoral", "-"),
    "asymptotic": CurveStyle("tab:purple", ":"),
    "trivial": CurveStyle("0.6", ":"),
    "iid_exact": CurveStyle("tab:cyan", "--"),
    "iid_bound": CurveStyle("teal", "-"),
    "trajectory": CurveStyle("tab:olive", "-"),
    "trajectory_conservative": CurveStyle("tab:orange", "-"),
    "optimum": CurveStyle("k", "-"),
    "optimum_upper": CurveStyle("k", "--"),
    "oracle": CurveStyle("k", "-"),
    "grafted": CurveStyle("tab:green", "-"),
    "iid_sim": CurveStyle("tab:blue", "-"),
}


def curve_style(key: str) -> CurveStyle:
    """Return how the curve ``key`` is drawn.

    Parameters
    ----------
    key
        A key of :data:`speedoflight.theory.registry.CURVES`.

    Returns
    -------
    CurveStyle
        Its colour and line style.

    Raises
    ------
    KeyError
        For a key with no style (every curve of the registry has one; ``tests/test_registry.py`` checks).

    """
    return CURVE_STYLES[key]


#: The practical draft trees of :mod:`speedoflight.simulation.policies`, drawn beside the optimum: no colour of
#: a curve or of a measured drafter. EAGLE-2's dynamic trees share one colour; the drafter's noise sets the line.
POLICY_STYLES: dict[str, CurveStyle] = {
    "chain": CurveStyle("sienna", "-"),
    "kary:2": CurveStyle("steelblue", "-"),
    "kary:4": CurveStyle("mediumorchid", "-"),
    "static": CurveStyle("indigo", "-"),
    "dynamic": CurveStyle("deepskyblue", "-."),
    "dynamic_noisy": CurveStyle("deepskyblue", ":"),
}


def policy_style(policy: str) -> CurveStyle:
    """Return how a practical tree's curve is drawn.

    Parameters
    ----------
    policy
        ``"chain"``, ``"kary:2"``, ``"kary:4"``, ``"static"`` or ``"dynamic:K:Q[:D]"`` (EAGLE-2 style: dash-dot
        for a perfect drafter, Q = 0; dotted for a noisy one).

    Returns
    -------
    CurveStyle
        Its colour and line style.

    Raises
    ------
    KeyError
        For a policy with no style.

    """
    if policy.startswith("dynamic:"):
        parts = policy.split(":")
        noisy = len(parts) > 2 and float(parts[2]) != 0.0
        return POLICY_STYLES["dynamic_noisy" if noisy else "dynamic"]
    return POLICY_STYLES[policy]


_MARKERS = {"ngram": "s", "early-exit": "^", "eagle": "D", "eagle2": "D", "medusa": "v", "lookahead": "<"}
_OTHER_MARKERS = "o>pP*hX"
#: Drafter colours: none of them is a curve's colour (see :data:`CURVE_STYLES`), so a drafter never looks like a bound.
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
