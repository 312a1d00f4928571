"""Every figure of the package, and the one way to get pyplot without a display.

Compute modules never import matplotlib (an import-linter contract in
``pyproject.toml``); they return numbers, and the functions here draw them.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from ..beyond.scaling import LawFit

__all__ = ["law_figure", "pyplot", "save_figure", "tradeoff_figure"]


#: Backends matplotlib accepts by name (matplotlib.rcsetup); "module://..." names a backend of one's own.
_BACKENDS = {
    "gtk3agg", "gtk3cairo", "gtk4agg", "gtk4cairo", "macosx", "nbagg", "notebook", "qtagg", "qtcairo", "qt5agg",
    "qt5cairo", "tkagg", "tkcairo", "webagg", "wx", "wxagg", "wxcairo", "agg", "cairo", "pdf", "pgf", "ps", "svg",
    "template", "inline", "ipympl", "widget",
}  # fmt: skip


def _usable_backend_variable() -> None:
    """Drop an MPLBACKEND that matplotlib would refuse at import (the figures are written with Agg anyway)."""
    name = os.environ.get("MPLBACKEND")
    if name and not name.startswith("module://") and name.lower() not in _BACKENDS:
        print(f"speedoflight: note: ignoring MPLBACKEND={name!r} (not a matplotlib backend); figures use Agg",
              file=sys.stderr)  # fmt: skip
        os.environ["MPLBACKEND"] = "agg"


#: The thread of :func:`preload_pyplot`, while one has been started.
_PRELOAD: list[threading.Thread] = []


def preload_pyplot() -> None:
    """Start importing pyplot in a background thread, for a command that will draw once its numbers are done.

    The import takes about a second, most of it in module code that holds the GIL only between the main thread's
    kernels and decompression, which release it; so the two overlap. :func:`pyplot` waits for this thread, and an
    import that fails here fails again there, where it is reported.
    """
    if "matplotlib.pyplot" in sys.modules or _PRELOAD:
        return
    thread = threading.Thread(target=_preload, name="speedoflight-pyplot", daemon=True)
    _PRELOAD.append(thread)
    thread.start()


def _preload() -> None:
    try:
        pyplot()
    except Exception:  # the drawing thread imports it again and reports what went wrong
        pass


def pyplot() -> Any:
    """Return ``matplotlib.pyplot``, selecting the Agg backend first when pyplot is not loaded yet (no display).

    Returns
    -------
    module
        ``matplotlib.pyplot``; a notebook that chose a backend keeps it.

    """
    for thread in _PRELOAD:  # a preload under way finishes first: the backend is chosen once, by one thread
        if thread is not threading.current_thread():
            thread.join()
    if "matplotlib.pyplot" not in sys.modules:
        if "matplotlib" not in sys.modules:
            _usable_backend_variable()
        import matplotlib

        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str) -> None:
    """Save a matplotlib figure in the format its extension names (PNG, PDF, SVG) and close it.

    Parameters
    ----------
    fig
        The figure.
    path
        Where to write it (the caller makes the write atomic).

    """
    ext = os.path.splitext(path)[1].lower().lstrip(".") or "png"
    fig.savefig(path, dpi=110, format=ext)  # by the name's extension, also for a temporary name
    pyplot().close(fig)


def tradeoff_figure(curve: dict[str, Any], title: str = "") -> Any:
    """Draw the Pareto front of the quality-speed trade-off: rejections per sequence and acceptance against distortion.

    Parameters
    ----------
    curve
        The output of :func:`~speedoflight.beyond.markov.tradeoff`: ``epsilon``, ``rejections``, ``acceptance``
        and optionally ``lp_acceptance`` with ``closed_acceptance``.
    title
        The figure's title; none if empty.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels against the allowed distortion: rejections per sequence, and acceptance per draft.

    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    eps = np.asarray(curve["epsilon"])
    axes[0].plot(eps, curve["rejections"], "-o", ms=3, label="optimal rule (closed form)")
    axes[0].set_xlabel("allowed distortion per position (total variation)")
    axes[0].set_ylabel("expected rejections per sequence")
    axes[0].legend()
    axes[1].plot(eps, curve["acceptance"], "-", label="min(1, alpha + eps), all rows")
    if "lp_acceptance" in curve:
        axes[1].plot(eps, curve["closed_acceptance"], "--", label="closed form, LP rows")
        axes[1].plot(eps, curve["lp_acceptance"], "o", ms=4, label="linear program (scipy), LP rows")
    axes[1].set_xlabel("allowed distortion per position (total variation)")
    axes[1].set_ylabel("acceptance per draft")
    axes[1].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def law_figure(
    fit: LawFit,
    extend_to: float | None = None,
    title: str = "",
    y_limits: tuple[float, float] | None = None,
) -> Any:
    """Plot data, fitted law, confidence and prediction bands, on a log x axis (one x only).

    Parameters
    ----------
    fit
        A law of one x (:class:`~speedoflight.beyond.scaling.LawFit`).
    extend_to
        Also draw the law out to this x (beyond the data, shaded as extrapolation).
    title
        The figure's title; by default y against ln x, with R^2.
    y_limits
        The range y can take, e.g. ``(0, 1)`` for an acceptance rate: the law and its bands are clipped to it
        (a straight line in ln x leaves any bounded range eventually), and the legend says so. None: unclipped.

    Returns
    -------
    matplotlib.figure.Figure
        One panel: the measured points (with +-1 se where known) and the law with its bands.

    """
    if len(fit.x_names) != 1:
        raise InputError("the figure shows one law at a time: fit one x")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    x = fit.x[:, 0]
    lo, hi = x.min(), max(x.max(), extend_to or x.max())
    lo = min(lo, extend_to or lo)
    grid = np.geomspace(lo, hi, 200)
    pred = fit.predict(grid)
    clip = (lambda v: np.clip(v, *y_limits)) if y_limits is not None else (lambda v: np.asarray(v))
    note = f", clipped to {y_limits[0]:g}..{y_limits[1]:g}" if y_limits is not None else ""
    ax.fill_between(grid, clip(pred["pi_low"]), clip(pred["pi_high"]), alpha=0.15, label=f"prediction interval{note}")
    ax.fill_between(grid, clip(pred["ci_low"]), clip(pred["ci_high"]), alpha=0.35, label="confidence band of the law")
    ax.plot(grid, clip(pred["mean"]), "-", label="fitted log-linear law")
    if fit.y_se is not None:
        ax.errorbar(x, fit.y, yerr=fit.y_se, fmt="o", ms=4, capsize=2, label="measured (+-1 se)")
    else:
        ax.plot(x, fit.y, "o", ms=4, label="measured")
    if hi > x.max():
        ax.axvspan(x.max(), hi, color="grey", alpha=0.08, label="extrapolation")
    ax.set_xscale("log")
    ticks = np.unique(np.concatenate([x, [hi]]))
    if len(ticks) <= 12:  # few x values: label them as plain numbers, not as powers of ten
        ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
        ax.minorticks_off()
    ax.set_xlabel(fit.x_names[0])
    ax.set_ylabel(fit.y_name)
    ax.set_title(title or f"{fit.y_name} against ln {fit.x_names[0]} (R^2 {fit.r2:.3f})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
