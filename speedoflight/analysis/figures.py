"""Figures of a comparison, drawn from its result (never inside the computation).

Every drawn line, band and marker has a legend entry, and a band shares its
line's entry (one label, drawn overlaid), so a legend holds what a reader
needs; the measured drafters get a legend of their own below the panels;
legends sit below the axes and the figure is laid out with them, so none is
clipped; curves and
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

__all__ = ["clip", "compare_figure", "grouped_legend", "offsets", "position_figure"]

#: The ceiling's colour: the grafted curve's.
GRAFTED = curve_style("grafted").color
#: The ceiling's legend entry: its line (tails dropped) and its band.
CEILING = "ceiling (grafted, the dumps' continuations): tails dropped (line)..lumped, 95% CI"
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


def clip(ax: Any, x: np.ndarray, y: np.ndarray, top: float, color: str, nth: int = 0) -> int:
    """Annotate where a curve leaves the frame at ``top`` (nothing where it stays inside).

    The note is aligned away from the nearer side of the axes (log x), so it never runs past the edge.

    Parameters
    ----------
    ax
        The axes.
    x, y
        The curve (x on a log scale).
    top
        The frame's upper end.
    color
        The curve's colour.
    nth
        How many notes this axes holds already: each further one sits a line lower.

    Returns
    -------
    int
        1 where a note was written, else 0.

    """
    out = np.flatnonzero(np.asarray(y) > top)
    if len(out):
        i = int(out[0])
        xs = np.log(np.asarray(x, dtype=float))
        where = (xs[i] - xs[0]) / (xs[-1] - xs[0]) if xs[-1] > xs[0] else 0.5
        ha = "right" if where > 0.7 else "left" if where < 0.3 else "center"
        ax.annotate(
            f"leaves the frame (up to {float(np.nanmax(y)):.1f})",
            xy=(float(x[i]), top),
            xytext=(0, -14 - 11 * nth),
            textcoords="offset points",
            fontsize=7,
            color=color,
            ha=ha,
            arrowprops={"arrowstyle": "->", "color": color, "lw": 0.8},
        )
        return 1
    return 0


def grouped_legend(owner: Any, axes: list[Any], keep: Any = None, **kw: Any) -> Any:
    """Draw one legend entry per label: the artists of one label (a line and its band) drawn overlaid.

    Parameters
    ----------
    owner
        The axes or the figure that holds the legend.
    axes
        The axes whose labelled artists it names (a label found on several takes the first one's artists).
    keep
        ``keep(label) -> bool``: which labels this legend names (default: all).
    **kw
        Passed to ``legend``.

    Returns
    -------
    matplotlib.legend.Legend

    """
    from matplotlib.collections import Collection
    from matplotlib.legend_handler import HandlerTuple

    groups: dict[str, list[Any]] = {}
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        mine: dict[str, list[Any]] = {}
        for h, lab in zip(handles, labels, strict=True):
            if keep is None or keep(lab):
                mine.setdefault(lab, []).append(h)
        for lab, hs in mine.items():
            groups.setdefault(lab, sorted(hs, key=lambda a: 0 if isinstance(a, Collection) else 1))  # bands under
    return owner.legend(
        [tuple(hs) for hs in groups.values()],
        list(groups),
        handler_map={tuple: HandlerTuple(ndivide=1)},
        fontsize=7,
        frameon=False,
        **kw,
    )


def _is_measured(label: str) -> bool:
    return label.startswith("measured:")


def drafter_legend(fig: Any, axes: list[Any]) -> None:
    """Draw the measured drafters' legend once, right of every panel (nothing when none is drawn).

    Parameters
    ----------
    fig
        The figure.
    axes
        Its panels.

    """
    if any(_is_measured(lab) for ax in axes for lab in ax.get_legend_handles_labels()[1]):
        grouped_legend(fig, axes, _is_measured, loc="outside right upper", ncol=1)


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
    from .._util.progress import stage as progress_stage

    progress_stage("drawing the figures")
    from .plots import pyplot

    plt = pyplot()
    ncols = 2 if comp.timing is not None else 1
    side = 1.8 if comp.measured else 0.0  # room for the drafters' legend right of the panels
    fig, axes = plt.subplots(1, ncols, figsize=(7.2 * ncols + side, 6.8), squeeze=False, layout="constrained")
    ax = axes[0][0]
    o, u = comp.optimum, comp.optimum_upper
    sim = "simulated optimum (i.i.d.): tails dropped (solid)..lumped (dashed), 95% CI"
    ax.fill_between(o.P, np.maximum(o.ci_low, 0), u.ci_high, color="k", alpha=0.12, lw=0, label=sim)
    ax.plot(o.P, o.mean, "k-", lw=2, label=sim)
    ax.plot(u.P, u.mean, "k--", lw=1, label=sim)
    res = comp.ceiling
    if res is not None:
        ax.fill_between(
            res.P,
            res.lower.ci_low,
            res.upper.ci_high,
            color=GRAFTED,
            alpha=0.15,
            lw=0,
            label=CEILING,
        )
        ax.plot(res.P, res.lower.mean, color=GRAFTED, lw=1.5, label=CEILING)
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
    notes = 0
    for k in DRAWN:
        if k in c.columns:
            st = curve_style(k)
            ax.plot(c.P, np.minimum(c.columns[k], top * 1.5), st.linestyle, color=st.color, label=CURVES[k].label)
            notes += clip(ax, c.P, c.columns[k], top, st.color, notes)
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
    if comp.timing is not None:
        _speedup_panel(axes[0][1], comp, styles, series)
    panels = list(axes[0])
    drafter_legend(fig, panels)  # the drafters once, right of the panels; the curves of both panels below them
    grouped_legend(fig, panels, lambda lab: not _is_measured(lab), loc="outside lower center", ncol=3)
    return fig


def _speedup_panel(ax: Any, comp: Any, styles: dict[str, dict[str, str]], series: dict[str, list[Any]]) -> None:
    t = comp.timing
    res = comp.ceiling
    if res is not None:
        s_lo, s_hi = speedup(res.lower.mean, res.P, t), speedup(res.upper.mean, res.P, t)
        capped = t.draft.depth_matters
        what = "any depth at one level's cost: an upper bound" if capped else t.draft.label.split(" (")[0]
        label = f"ceiling (grafted), {what}: tails dropped (line)..lumped"
        ax.fill_between(res.P, s_lo, s_hi, color=GRAFTED, alpha=0.15, lw=0, label=label)
        ax.plot(res.P, s_lo, color=GRAFTED, lw=1.5, label=label)
        if comp.advice is not None:  # the table's best (P, depth), the same number
            b = comp.advice.ceiling
            where = f"P = {b.P}" + (f", depth {b.depth}" if b.depth is not None else "")
            ax.plot([b.P], [b.speedup], "*", color=GRAFTED, ms=12, label=f"best setting of the ceiling: {where}")
        else:
            i = int(np.nanargmax(s_lo))
            ax.plot([res.P[i]], [s_lo[i]], "*", color=GRAFTED, ms=12, label=f"best P of the ceiling: {res.P[i]}")
    o = comp.optimum
    s_o = speedup(o.mean, o.P, t)
    ax.plot(o.P, s_o, "k-", lw=1.5, label="speedup of the simulated optimum (i.i.d.), tails dropped")
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


#: Below this share of calls a depth is drawn as nothing: the x axis of the per-position figure ends before it.
VISIBLE = 0.01


def _last_visible(profiles: dict[str, np.ndarray], drawn: list[Any]) -> int:
    """Return the deepest position any series reaches with at least :data:`VISIBLE` of the calls (at least 2)."""
    series = [np.asarray(v, dtype=float) for v in profiles.values()]
    series += [1.0 - np.cumsum(np.asarray(m.distribution, dtype=float))[:-1] for m in drawn]
    last = [int(np.flatnonzero(v >= VISIBLE)[-1]) + 1 for v in series if np.any(v >= VISIBLE)]
    longest = max([len(v) for v in series] + [1])
    return min(max([*last, 2]) + 1, max(longest, 2))


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
        The y axis is the share of verifier calls that accept at least i draft tokens (not written P(...), as P is
        the tree size everywhere else); the x axis ends one position after the last that any series reaches
        with :data:`VISIBLE` of the calls.

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
    ax.set_xlim(0.5, _last_visible(profiles, drawn) + 0.5)
    ax.set_xlabel("draft position i (depth)")
    ax.set_ylabel("share of verifier calls accepting the first i draft tokens")
    ax.set_ylim(0, 1.02)
    ax.set_title("per-position acceptance: measured vs the model", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    return fig
