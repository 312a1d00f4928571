"""Figures of a comparison, drawn from its result (never inside the computation).

Every drawn line, band and marker has a legend entry; legends sit below the
axes and the figure is laid out with them, so none is clipped; curves and
drafters take their label, colour and marker from
:mod:`speedoflight.theory.registry` and :mod:`speedoflight.analysis.styles` (no two drafters of one figure alike);
points of several drafters at one P are offset sideways so none hides
another; a curve that leaves the frame (the published form grows without
bound) is clipped and the place where it leaves is annotated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..theory.registry import CURVES
from ..timing import speedup
from .styles import curve_style, drafter_styles

__all__ = ["clip", "compare_figure", "offsets", "position_figure"]

#: The ceiling's colour: the grafted curve's.
GRAFTED = curve_style("grafted").color
#: Curves drawn on the comparison figure.
DRAWN = ("published", "lorden", "asymptotic", "iid_exact", "trajectory_conservative")


def offsets(n: int, spread: float = 0.06) -> np.ndarray:
    """Return multiplicative x offsets (log scale) for ``n`` series drawn at the same P, centred on 1.

    Parameters
    ----------
    n
        Number of series.
    spread
        Step between neighbours, in log2 units.

    Returns
    -------
    ndarray
        ``2 ** (spread * (i - (n - 1) / 2))`` for i = 0..n-1.

    """
    return 2.0 ** (spread * (np.arange(n) - (n - 1) / 2.0))


def clip(ax: Any, x: np.ndarray, y: np.ndarray, top: float, color: str) -> None:
    """Annotate where a curve leaves the frame at ``top`` (nothing where it stays inside).

    Parameters
    ----------
    ax
        The axes.
    x, y
        The curve.
    top
        The frame's upper end.
    color
        The curve's colour.

    """
    out = np.flatnonzero(np.asarray(y) > top)
    if len(out):
        i = int(out[0])
        ax.annotate(
            f"leaves the frame (up to {float(np.nanmax(y)):.1f})",
            xy=(float(x[i]), top),
            xytext=(0, -14),
            textcoords="offset points",
            fontsize=7,
            color=color,
            ha="center",
            arrowprops={"arrowstyle": "->", "color": color, "lw": 0.8},
        )


def _measured_panel(ax: Any, comp: Any, styles: dict[str, dict[str, str]], series: dict[str, list[Any]]) -> None:
    shift = dict(zip(series, offsets(len(series)), strict=True))
    for name, items in series.items():
        sty = styles[name]
        with_p = [m for m in items if m.P is not None]
        if with_p:
            xs = np.array([m.P for m in with_p], dtype=float) * shift[name]
            ys = [m.mean_accepted for m in with_p]
            err = np.array(
                [[m.mean_accepted - m.ci[0], m.ci[1] - m.mean_accepted] if m.ci else [0, 0] for m in with_p]
            ).T
            ax.errorbar(
                xs,
                ys,
                yerr=err,
                fmt=sty["marker"] + "-",
                color=sty["color"],
                fillstyle=sty["fillstyle"],
                ms=6,
                lw=1,
                capsize=3,
                alpha=0.85,
                label=f"measured: {name}",
            )
        for m in items:
            if m.P is None:
                ax.axhline(m.mean_accepted, ls=":", lw=1.2, color=sty["color"], label=f"measured: {name} (P unknown)")


def _drafter_line(ax: Any, xs: Any, ys: Any, sty: dict[str, str], name: str) -> None:
    """Draw a measured drafter's points joined by a line, in its style, labelled ``measured: name``."""
    ax.plot(
        xs,
        ys,
        sty["marker"] + "-",
        color=sty["color"],
        fillstyle=sty["fillstyle"],
        ms=6,
        lw=1,
        alpha=0.85,
        label=f"measured: {name}",
    )


def _legend(ax: Any) -> None:
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)


def compare_figure(comp: Any) -> Any:
    """Return the comparison's figure: E[X] against log P, and with a timing model the speedup against P.

    Parameters
    ----------
    comp
        A :class:`~speedoflight.analysis.compare.Comparison`.

    Returns
    -------
    matplotlib.figure.Figure
        Left: the bounds, the simulated optimum's band, the grafted ceiling's band and the measured drafters
        (accepted draft tokens per call). Right, with a timing model: the speedup of the ceiling (the flags' drafter
        cost) and of each measured drafter at its own cost, the best P starred.

    """
    from .plots import pyplot

    plt = pyplot()
    ncols = 2 if comp.timing is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(7.2 * ncols, 6.8), squeeze=False, layout="constrained")
    ax = axes[0][0]
    o, u = comp.optimum, comp.optimum_upper
    ax.fill_between(
        o.P, np.maximum(o.ci_low, 0), u.ci_high, color="k", alpha=0.12, lw=0, label="simulated optimum: band, 95% CI"
    )
    ax.plot(o.P, o.mean, "k-", lw=2, label="simulated optimum (i.i.d.), tails dropped")
    ax.plot(u.P, u.mean, "k--", lw=1, label="simulated optimum (i.i.d.), tails lumped")
    res = comp.ceiling
    if res is not None:
        ax.fill_between(
            res.P,
            res.lower.ci_low,
            res.upper.ci_high,
            color=GRAFTED,
            alpha=0.15,
            lw=0,
            label="ceiling (grafted, from the dumps' continuations): dropped..lumped, 95% CI",
        )
        ax.plot(res.P, res.lower.mean, color=GRAFTED, lw=1.5, label="ceiling (grafted), tails dropped")
    c = comp.curve
    series = comp._series()
    styles = drafter_styles(list(series))
    top = (
        max(
            float(np.nanmax(u.ci_high)),
            float(np.nanmax(c.columns["lorden"])),
            float(np.nanmax(res.upper.ci_high)) if res is not None else 0.0,
            max((m.mean_accepted for m in comp.measured), default=0.0),
            1.0,
        )
        * 1.15
    )
    for k in DRAWN:
        if k in c.columns:
            st = curve_style(k)
            ax.plot(c.P, np.minimum(c.columns[k], top * 1.5), st.linestyle, color=st.color, label=CURVES[k].label)
            clip(ax, c.P, c.columns[k], top, st.color)
    _measured_panel(ax, comp, styles, series)
    for cross in getattr(comp, "crossings", []):  # an estimate above a proven bound: marked, the cause in the notes
        ax.plot([cross["P"]], [cross["value"]], "x", color="crimson", ms=7, mew=1.5)
        ax.annotate(
            f"above the {CURVES[cross['bound']].label}\nfrom P = {cross['P']}: tails lumped (see notes)"
            if "lumped" in cross["estimate"]
            else f"above the {CURVES[cross['bound']].label}\nfrom P = {cross['P']} (see notes)",
            (cross["P"], cross["value"]),
            textcoords="offset points",
            xytext=(-8, 8),
            ha="right",
            fontsize=7,
            color="crimson",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlim(1, float(o.P[-1]))
    ax.set_ylim(0, top)
    ax.set_xlabel("draft tree size P (tokens, log scale)")
    ax.set_ylabel("accepted draft tokens per verifier call E[X]")
    ax.set_title(f"speed of light (mu = {c.mu:.2f} nats, mu2 = {c.mu2:.2f} nats²) vs measured", fontsize=10)
    ax.grid(True, alpha=0.3)
    _legend(ax)
    if comp.timing is not None:
        _speedup_panel(axes[0][1], comp, styles, series)
    return fig


def _speedup_panel(ax: Any, comp: Any, styles: dict[str, dict[str, str]], series: dict[str, list[Any]]) -> None:
    t = comp.timing
    res = comp.ceiling
    if res is not None:
        s_lo, s_hi = speedup(res.lower.mean, res.P, t), speedup(res.upper.mean, res.P, t)
        capped = t.draft.depth_matters
        what = "any depth at one level's cost: an upper bound" if capped else t.draft.label
        ax.fill_between(res.P, s_lo, s_hi, color=GRAFTED, alpha=0.15, lw=0, label="ceiling (grafted): dropped..lumped")
        ax.plot(res.P, s_lo, color=GRAFTED, lw=1.5, label=f"ceiling (grafted), {what}")
        if comp.advice is not None:  # the table's best (P, depth), the same number
            b = comp.advice.ceiling
            where = f"P = {b.P}" + (f", depth {b.depth}" if b.depth is not None else "")
            ax.plot([b.P], [b.speedup], "*", color=GRAFTED, ms=12, label=f"best setting of the ceiling: {where}")
        else:
            i = int(np.nanargmax(s_lo))
            ax.plot([res.P[i]], [s_lo[i]], "*", color=GRAFTED, ms=12, label=f"best P of the ceiling: {res.P[i]}")
    o = comp.optimum
    s_o = speedup(o.mean, o.P, t)
    ax.plot(o.P, s_o, "k-", lw=1.5, label="simulated optimum (i.i.d.), tails dropped")
    shift = dict(zip(series, offsets(len(series)), strict=True))
    for name, items in series.items():
        sty = styles[name]
        pts = [(m.P, comp.speedup_of(m)) for m in items if m.P is not None]
        if pts:
            xs, ys = zip(*pts, strict=True)
            _drafter_line(ax, np.array(xs, dtype=float) * shift[name], ys, sty, name)
    ax.axhline(1.0, color="0.5", lw=0.8, label="plain decoding (1x)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("draft tree size P (tokens, log scale)")
    ax.set_ylabel("speedup over plain decoding")
    where = "measured latency" if t.latency is not None else "roofline"
    ax.set_title(f"{t.gpu.name}, batch {t.batch} ({where})", fontsize=10)
    ax.grid(True, alpha=0.3)
    _legend(ax)


def position_figure(measured: list[Any], profiles: dict[str, np.ndarray]) -> Any:
    """Return the per-position figure: measured P(position i accepted) beside the model's per-depth profiles.

    Parameters
    ----------
    measured
        Measured systems; those with a ``distribution`` (P(X = i), from vLLM per-position counters, SGLang
        histograms, per-iteration logs) are drawn as P(X >= i).
    profiles
        ``{label: array}``: P(X >= i) for i = 1, 2, ... of a model curve (the optimal chain, the ceiling's tree).

    Returns
    -------
    matplotlib.figure.Figure

    """
    from .plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 5.6), layout="constrained")
    line_styles = ("-", "--", "-.", ":")
    for k, (lab, prof) in enumerate(profiles.items()):
        d = np.arange(1, len(prof) + 1)
        ax.plot(d, prof, line_styles[k % 4], color="k" if k == 0 else GRAFTED, lw=1.8, label=lab)
    latest: dict[str, Any] = {}
    for m in measured:  # one series per drafter: its largest P with per-position counts
        if (
            m.distribution is not None
            and len(m.distribution) > 1
            and (m.name not in latest or (m.P or 0) > (latest[m.name].P or 0))
        ):
            latest[m.name] = m
    drawn = list(latest.values())
    names = [m.name if m.P is None else f"{m.name} (P = {m.P})" for m in drawn]
    by_drafter = drafter_styles([m.name for m in measured])  # the colours of the other figures
    styles = {name: by_drafter[m.name] for m, name in zip(drawn, names, strict=True)}
    for j, (m, name) in enumerate(zip(drawn, names, strict=True)):
        dist = np.asarray(m.distribution, dtype=float)
        at_least = 1.0 - np.cumsum(dist)[:-1]  # P(X >= i), i = 1..len - 1
        xs = np.arange(1, len(at_least) + 1) + 0.08 * (j - (len(drawn) - 1) / 2)  # side by side, none hidden
        _drafter_line(ax, xs, at_least, styles[name], name)
    depth = max([len(v) for v in profiles.values()] + [len(m.distribution) - 1 for m in drawn] + [1])
    ax.set_xlim(0.5, depth + 0.5)
    ax.set_xlabel("draft position i (depth)")
    ax.set_ylabel("P(the first i draft tokens are accepted)")
    ax.set_ylim(0, 1.02)
    ax.set_title("per-position acceptance: measured vs the model", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    return fig
