"""Measured acceptance against the speed of light of the same verifier.

:func:`compare` takes dumps of a verifier (any file the estimator reads) and
measured acceptance of systems running on it (any file
:func:`~speedoflight.acceptance.read_acceptance` reads) and puts on one
table and one figure, against log P:

* the published closed form, the Lorden bound, the renewal prediction and,
  from the dumps, the exact i.i.d. curve, the i.i.d. threshold bound and the
  trajectory bound (see :func:`~speedoflight.curve.bound_curve`);
* the simulated optimal tree E[X*(P)] on the dumps' pool, with its band:
  top-k tails dropped (a lower estimate) to lumped (an upper estimate), each
  with its confidence interval over replicates;
* each measured system at its P, with the fraction of the simulated optimum
  it reaches there;
* with a timing model, the speedup ceiling and the best P per curve.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..logs.acceptance import Measured
from ..simulation.simulate import SimulationResult
from ..theory.curve import BoundCurve, bound_curve
from ..theory.registry import CURVES, drafter_style
from ..theory.timing import Timing, speedup
from .ceiling import ceiling_at, ceiling_dict, fraction, grafted_ceiling

__all__ = ["Comparison", "compare", "write_comparison"]

#: Curves tabulated (labels and styles from :mod:`speedoflight.theory.registry`).
TABLED = ("published", "lorden", "asymptotic", "iid_exact", "iid_bound", "trajectory_conservative")
#: Curves drawn on the figure.
DRAWN = ("published", "lorden", "asymptotic", "iid_exact", "trajectory_conservative")


@dataclass
class Comparison:
    """The speed of light of one verifier and the measured systems on it.

    Attributes
    ----------
    curve : BoundCurve
        Bounds and predictions at ``curve.P``.
    optimum : SimulationResult
        Simulated optimal tree, top-k tails dropped (lower estimate), at ``optimum.P``.
    optimum_upper : SimulationResult
        The same with tails lumped into one token (upper estimate).
    measured : list of Measured
        The measured systems, with P where known.
    timing : Timing or None
        Roofline model for the speedup columns.
    ceiling : OptimumResult or None
        The grafted prediction averaged over generated positions (:mod:`.ceiling`), where the dumps hold
        continuations: the ceiling the measured systems are held against first.

    """

    curve: BoundCurve
    optimum: SimulationResult
    optimum_upper: SimulationResult
    measured: list[Measured]
    timing: Timing | None = None
    notes: list[str] = field(default_factory=list)
    ceiling: Any = None

    def optimum_at(self, p: int) -> tuple[float, float, float]:
        """Return the simulated optimum at P: (lower estimate, upper estimate, lower estimate's CI low).

        Parameters
        ----------
        p
            A simulated P (one of ``optimum.P``).

        Returns
        -------
        tuple of float
            The mean E[X*(P)] with tails dropped and with tails lumped, and the dropped one's CI low, clipped at 0.

        """
        i = int(np.searchsorted(self.optimum.P, p))
        if i >= len(self.optimum.P) or self.optimum.P[i] != p:
            raise InputError(f"P = {p} was not simulated")
        return (
            float(self.optimum.mean[i]),
            float(self.optimum_upper.mean[i]),
            float(max(self.optimum.ci_low[i], 0.0)),
        )

    def fraction(self, m: Measured) -> tuple[float, float] | None:
        """Return the measured X over the simulated optimum at its P: (over the lower estimate, over the upper).

        Parameters
        ----------
        m
            A measured system.

        Returns
        -------
        tuple of float or None
            The two ratios (NaN where the estimate is 0), or None where ``m.P`` is unknown.

        """
        if m.P is None:
            return None
        lo, hi, _ = self.optimum_at(m.P)
        return (m.mean_accepted / lo if lo > 0 else math.nan, m.mean_accepted / hi if hi > 0 else math.nan)

    def best(self) -> dict[str, dict[str, float]]:
        """Return the best P and its speedup ceiling per curve (with a timing model), the simulated optimum included.

        Returns
        -------
        dict
            ``{curve: {"P": ..., "speedup": ...}}``, with ``optimum`` and ``optimum_upper``; empty without a timing
            model.

        """
        if self.timing is None:
            return {}
        out = self.curve.best(grid_max=float(self.optimum.P[-1]))
        for name, sim in (("optimum", self.optimum), ("optimum_upper", self.optimum_upper)):
            s = speedup(sim.mean, sim.P, self.timing)
            i = int(np.argmax(s))
            out[name] = {"P": float(sim.P[i]), "speedup": float(s[i])}
        return out

    def measured_rows(self) -> list[dict[str, Any]]:
        """Return one dict per measured system (the ``measured`` list of ``--json``).

        Returns
        -------
        list of dict
            The system's fields and, where P is known, ``optimum_at_P``, ``optimum_upper_at_P``,
            ``fraction_of_optimum``, ``fraction_of_optimum_upper`` and, with a timing model, ``speedup_model``.

        """
        rows = []
        for m in self.measured:
            d = {
                "source": m.source,
                "format": m.format,
                "label": m.label,
                "mean_accepted": m.mean_accepted,
                "tokens_per_call": m.tokens_per_call,
                "se": m.se,
                "ci": list(m.ci) if m.ci else None,
                "uncertainty": m.uncertainty,
                "iterations": m.iterations,
                "P": m.P,
                "mean_draft_size": m.mean_draft_size,
                "convention": m.convention,
                "notes": list(m.notes),
            }
            if m.P is not None:
                lo, hi, _ = self.optimum_at(m.P)
                frac = self.fraction(m)
                assert frac is not None
                d["optimum_at_P"] = lo
                d["optimum_upper_at_P"] = hi
                d["fraction_of_optimum"] = frac[0]
                d["fraction_of_optimum_upper"] = frac[1]
                if self.timing is not None:
                    d["speedup_model"] = float(speedup(np.array([m.mean_accepted]), np.array([m.P]), self.timing)[0])
                at = ceiling_at(self.ceiling, m.P)
                if at is not None:
                    d["ceiling_at_P"] = [at[0], at[1]]
                    d["ceiling_ci"] = [at[2], at[3]]
                    d["fraction_of_ceiling"] = fraction(m.mean_accepted, at[0])
                    d["fraction_of_ceiling_upper"] = fraction(m.mean_accepted, at[1])
            rows.append(d)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: ``measured``, ``curves`` (bounds at P), ``optimum`` and ``best``.

        Returns
        -------
        dict
            ``measured`` (:meth:`measured_rows`), ``mu``, ``mu2``, ``curves``, ``optimum`` (both estimates with
            their intervals), ``best`` (empty without a timing model) and ``notes``.

        """
        return {
            "measured": self.measured_rows(),
            "mu": self.curve.mu,
            "mu2": self.curve.mu2,
            "curves": self.curve.to_dict(),
            "optimum": {
                "P": self.optimum.P.tolist(),
                "mean": self.optimum.mean.tolist(),
                "ci_low": self.optimum.ci_low.tolist(),
                "ci_high": self.optimum.ci_high.tolist(),
                "upper_mean": self.optimum_upper.mean.tolist(),
                "upper_ci_low": self.optimum_upper.ci_low.tolist(),
                "upper_ci_high": self.optimum_upper.ci_high.tolist(),
                "replicates": self.optimum.replicates,
                "seed": self.optimum.seed,
                "note": "simulated optimal tree on the dumps' pool; mean = top-k tails dropped (lower estimate), "
                "upper_mean = tails lumped into one token (upper estimate)",
            },
            "best": self.best(),
            "ceiling": ceiling_dict(self.ceiling),
            "notes": self.notes,
        }

    def markdown(self) -> str:
        """Return the two tables (speed of light per P; measured systems) in Markdown.

        Returns
        -------
        str
            The table of the simulated optimum and the bounds per simulated P, then :meth:`measured_markdown`.

        """
        c = self.curve
        cols = [k for k in TABLED if k in c.columns]
        lines = [
            "| P | simulated optimum (drop..lump) | " + " | ".join(CURVES[k].label for k in cols) + " |",
            "|---" * (2 + len(cols)) + "|",
        ]
        for i, p in enumerate(self.optimum.P):
            j = int(np.searchsorted(c.P, p))
            cells = [f"{c.columns[k][j]:.2f}" for k in cols]
            lines.append(
                f"| {p:g} | {self.optimum.mean[i]:.2f}..{self.optimum_upper.mean[i]:.2f} | " + " | ".join(cells) + " |"
            )
        lines += ["", self.measured_markdown()]
        return "\n".join(lines)

    def measured_markdown(self) -> str:
        """Return the table of measured systems in Markdown.

        Returns
        -------
        str
            One row per system: X with its CI, tokens per call, P, the optimum at P and the fraction of it reached
            (and the model's speedup, with a timing model).

        """
        head = "| system | format | X (95% CI) | tokens per call | P | optimum at P | fraction of optimum |"
        sep = "|---|---|---|---|---|---|---|"
        if self.ceiling is not None:
            head += " ceiling at P (grafted) | fraction of ceiling |"
            sep += "---|---|"
        if self.timing is not None:
            head += " speedup (model) |"
            sep += "---|"
        rows = [head, sep]
        for m, d in zip(self.measured, self.measured_rows(), strict=True):
            ci = f" ({m.ci[0]:.2f}-{m.ci[1]:.2f})" if m.ci else ""
            if m.P is not None:
                opt = f"{d['optimum_at_P']:.2f}..{d['optimum_upper_at_P']:.2f}"
                frac = f"{100 * d['fraction_of_optimum_upper']:.0f}%..{100 * d['fraction_of_optimum']:.0f}%"
                p = str(m.P)
            else:
                opt, frac, p = "", "", "unknown"
            row = f"| {m.name} | {m.format} | {m.mean_accepted:.2f}{ci} | {m.tokens_per_call:.2f} | {p} | {opt} | {frac} |"
            if self.ceiling is not None:
                if "ceiling_at_P" in d:
                    lo_c, hi_c = d["ceiling_at_P"]
                    row += (
                        f" {lo_c:.2f}..{hi_c:.2f} | {100 * d['fraction_of_ceiling_upper']:.0f}%.."
                        f"{100 * d['fraction_of_ceiling']:.0f}% |"
                    )
                else:
                    row += " | |"
            if self.timing is not None:
                row += f" {d['speedup_model']:.2f}x |" if "speedup_model" in d else " |"
            rows.append(row)
        return "\n".join(rows)

    def summary_lines(self) -> list[str]:
        """Return plain statements: each system's place under the ceiling, and the best P on the GPU.

        Returns
        -------
        list of str
            One line per measured system, then, with a timing model, the speedup ceilings and their best P.

        """
        out = []
        for m, d in zip(self.measured, self.measured_rows(), strict=True):
            if "ceiling_at_P" in d:
                lo_c, hi_c = d["ceiling_at_P"]
                out.append(
                    f"{m.name}: X = {m.mean_accepted:.2f} at P = {m.P} is {100 * d['fraction_of_ceiling_upper']:.0f}%.."
                    f"{100 * d['fraction_of_ceiling']:.0f}% of the ceiling there ({lo_c:.2f}..{hi_c:.2f}, 95% CI "
                    f"{d['ceiling_ci'][0]:.2f}-{d['ceiling_ci'][1]:.2f}: the real optimum predicted from the dumps' "
                    "continuations, averaged over generated positions)"
                )
                continue
            if m.P is None:
                out.append(
                    f"{m.name}: X = {m.mean_accepted:.2f} accepted draft tokens per call ({m.tokens_per_call:.2f} "
                    "tokens per call); its P is unknown, give --tree-size for the fraction of the optimum"
                )
                continue
            out.append(
                f"{m.name}: X = {m.mean_accepted:.2f} at P = {m.P}, {100 * d['fraction_of_optimum_upper']:.0f}%.."
                f"{100 * d['fraction_of_optimum']:.0f}% of the simulated optimum there "
                f"({d['optimum_at_P']:.2f}..{d['optimum_upper_at_P']:.2f}); Lorden bound "
                f"{_at(self.curve, 'lorden', m.P):.2f}"
            )
        best = self.best()
        if best:
            g = self.timing.gpu.name if self.timing else ""
            o = best["optimum_upper"]
            if max(o["P"], best["optimum"]["P"]) >= self.optimum.P[-1]:
                out.append(f"the best P lies at the largest P simulated ({self.optimum.P[-1]}); raise --pmax")
            out.append(
                f"on {g} with {self.timing.params:.3g} parameters (model): the optimal tree's speedup ceiling is "  # type: ignore[union-attr]
                f"{o['speedup']:.2f}x at P = {o['P']:.0f} (tails lumped; {best['optimum']['speedup']:.2f}x at "
                f"P = {best['optimum']['P']:.0f} with tails dropped); Lorden's ceiling {best['lorden']['speedup']:.2f}x "
                f"at P = {best['lorden']['P']:.0f}"
            )
        return out

    def _series(self) -> dict[str, list[Measured]]:
        """Measured systems grouped by name (one system measured at several P is one series)."""
        out: dict[str, list[Measured]] = {}
        for m in self.measured:
            key = m.name if len({x.source for x in self.measured}) == 1 else f"{m.name} ({os.path.basename(m.source)})"
            out.setdefault(key, []).append(m)
        for items in out.values():
            items.sort(key=lambda m: (m.P is None, m.P or 0))
        return out

    def figure(self) -> Any:
        """Return a matplotlib figure: E[X] against log P (and the speedup ceiling with a timing model).

        Returns
        -------
        matplotlib.figure.Figure
            The curves, the simulated optimum's band and the measured systems; a second panel with a timing model.

        """
        from .plots import pyplot

        plt = pyplot()

        ncols = 2 if self.timing is not None else 1
        fig, axes = plt.subplots(1, ncols, figsize=(7.2 * ncols, 6.4), squeeze=False)
        ax = axes[0][0]
        o, u = self.optimum, self.optimum_upper
        ax.fill_between(o.P, np.maximum(o.ci_low, 0), u.ci_high, color="k", alpha=0.15, lw=0)
        ax.plot(o.P, o.mean, "k-", lw=2, label="simulated optimum, tails dropped (band: to lumped, 95% CI)")
        ax.plot(u.P, u.mean, "k--", lw=1)
        c = self.curve
        for k in DRAWN:
            if k in c.columns:
                st = CURVES[k]
                ax.plot(c.P, c.columns[k], st.linestyle, color=st.color, label=st.label)
        series = self._series()
        for name, items in series.items():
            sty = drafter_style(name)
            mk, color = sty["marker"], sty["color"]
            with_p = [m for m in items if m.P is not None]
            if with_p:
                xs = [m.P for m in with_p]
                ys = [m.mean_accepted for m in with_p]
                err = np.array(
                    [[m.mean_accepted - m.ci[0], m.ci[1] - m.mean_accepted] if m.ci else [0, 0] for m in with_p]
                ).T
                ax.errorbar(
                    xs,
                    ys,
                    yerr=err,
                    fmt=mk + "-",
                    color=color,
                    fillstyle=sty["fillstyle"],
                    ms=6,
                    lw=1,
                    capsize=3,
                    label=f"measured: {name}",
                )
            for m in items:
                if m.P is None:
                    ax.axhline(m.mean_accepted, ls=":", lw=1.2, color=color, label=f"measured: {name} (P unknown)")
        ax.set_xscale("log", base=2)
        ax.set_xlim(1, float(o.P[-1]))
        top = max(float(np.nanmax(u.ci_high)), float(np.nanmax(c.columns["lorden"])))
        ax.set_ylim(0, max(top * 1.15, max((m.mean_accepted for m in self.measured), default=0) * 1.2, 1))
        ax.set_xlabel("draft tree size P (tokens, log scale)")
        ax.set_ylabel("accepted draft tokens per iteration E[X]")
        ax.set_title(f"speed of light (mu = {c.mu:.2f}, mu2 = {c.mu2:.2f} nats) vs measured")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
        if self.timing is not None:
            ax2 = axes[0][1]
            s_lo = speedup(o.mean, o.P, self.timing)
            s_hi = speedup(u.mean, u.P, self.timing)
            ax2.fill_between(o.P, s_lo, s_hi, color="k", alpha=0.15, lw=0)
            ax2.plot(o.P, s_lo, "k-", lw=2, label="optimal tree (simulated)")
            lor = CURVES["lorden"]
            ax2.plot(
                c.P, speedup(c.columns["lorden"], c.P, self.timing), lor.linestyle, color=lor.color, label=lor.label
            )
            for name, b in self.best().items():
                if name in ("optimum", "optimum_upper"):
                    ax2.plot([b["P"]], [b["speedup"]], "k*", ms=10)
            rows = {id(m): d for m, d in zip(self.measured, self.measured_rows(), strict=True)}
            for name, items in series.items():
                sty = drafter_style(name)
                pts = [(m.P, rows[id(m)]["speedup_model"]) for m in items if "speedup_model" in rows[id(m)]]
                if pts:
                    ax2.plot(
                        *zip(*pts, strict=True),
                        sty["marker"] + "-",
                        color=sty["color"],
                        fillstyle=sty["fillstyle"],
                        ms=6,
                        lw=1,
                        label=f"measured: {name}",
                    )
            ax2.set_xscale("log", base=2)
            ax2.set_xlabel("draft tree size P (tokens, log scale)")
            ax2.set_ylabel("speedup over plain decoding (roofline model)")
            ax2.set_title(f"{self.timing.gpu.name}, {self.timing.params:.3g} parameters")
            ax2.axhline(1.0, color="0.5", lw=0.8)
            ax2.grid(True, alpha=0.3)
            ax2.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
        fig.tight_layout()
        return fig


def _at(curve: BoundCurve, key: str, p: int) -> float:
    j = int(np.searchsorted(curve.P, p))
    return float(curve.columns[key][j])


def default_p(measured: Sequence[Measured], pmax: int | None, timing: Timing | None = None) -> np.ndarray:
    """Return powers of two to ``pmax`` and every measured P.

    The default ``pmax`` is 4x the largest measured P, at least 256, and with a timing model at least 4x the P
    where the verifier pass turns compute-bound (the best P lies below it).
    """
    ps = [m.P for m in measured if m.P is not None]
    top = pmax or max(
        256, 4 * max(ps, default=0), 2 ** math.ceil(math.log2(4 * max(timing.knee(), 1.0))) if timing else 0
    )
    grid = [2**i for i in range(int(math.log2(top)) + 1)]
    if timing is not None and 1 <= timing.knee() <= top:
        grid.append(round(timing.knee()))  # where the pass turns compute-bound: often the best P
    return np.unique(np.array([*grid, *[p for p in ps if p <= top], top], dtype=np.int64))


def compare(
    dumps: Sequence[str],
    measured: Sequence[Measured],
    *,
    tree_size: int | None = None,
    timing: Timing | None = None,
    pmax: int | None = None,
    replicates: int = 64,
    seed: int = 0,
    kind: str | None = None,
    vocab_size: int | None = None,
    temperature: float = 1.0,
    n_boot: int = 300,
    progress: bool = False,
) -> Comparison:
    """Compare measured acceptance with the speed of light of the verifier behind ``dumps``.

    Parameters
    ----------
    dumps
        Files of the verifier's logged distributions (any format the estimator reads).
    measured
        Measured systems (from :func:`~speedoflight.acceptance.read_acceptance`).
    tree_size
        P for every measured system (overrides what a source records).
    timing
        Roofline model for the speedup ceiling and the best P.
    pmax
        Largest P on the curves (default: 4x the largest measured P, at least 256).
    replicates, seed
        Simulation of the optimal tree.
    kind, vocab_size, temperature
        The estimator's reading flags for ``dumps``.
    n_boot
        Bootstrap replicates of the trajectory bound.
    progress
        Progress bars on stderr.

    Returns
    -------
    Comparison

    """
    from ..simulation.simulate import PoolScan, simulate

    if not dumps:
        raise InputError("give at least one --dump of the verifier's distributions")
    if not measured:
        raise InputError("give at least one --measured file")
    if tree_size is not None:
        if tree_size < 1:
            raise InputError(f"--tree-size must be at least 1, got {tree_size}")
        measured = [m.with_p(tree_size) for m in measured]
    grid = default_p(measured, pmax, timing)
    too_big = [m for m in measured if m.P is not None and m.P > grid[-1]]
    if too_big:
        raise InputError(f"{too_big[0].name}: P = {too_big[0].P} exceeds --pmax {grid[-1]}; raise --pmax")
    from ..readers.continuations import ContinuationScan

    drop, lump, conts = PoolScan(tail="drop"), PoolScan(tail="lump"), ContinuationScan()
    curve = bound_curve(  # one pass over the dumps: moments, i.i.d. pool, trajectories and both simulator pools
        grid,
        sources=list(dumps),
        kind=kind,
        vocab_size=vocab_size,
        temperature=temperature,
        timing=timing,
        seed=seed,
        n_boot=n_boot,
        progress=progress,
        also=[drop, lump, conts],
    )
    top = int(grid[-1])
    n_files = len(curve.sources)
    lower = simulate(drop.finish(n_files), top, replicates=replicates, seed=seed, at=grid)
    upper = simulate(lump.finish(n_files), top, replicates=replicates, seed=seed, at=grid)
    notes = [
        "X counts accepted draft tokens per verifier call; tokens per call = X + 1",
        "the simulated optimum is the best deterministic tree under the i.i.d. branching-random-walk model fed with "
        "the dumps' rows; real text is not i.i.d., so treat it as an estimate of the ceiling, with the Lorden and "
        "trajectory bounds beside it",
        "compare like with like: the dumps must come from the same verifier, temperature and kind of text as the "
        "measured runs",
        *curve.notes,
    ]
    for m in measured:
        if m.P is not None and m.mean_accepted > m.P + 1e-9:
            raise InputError(f"{m.name}: X = {m.mean_accepted:.3g} exceeds its P = {m.P}; check --tree-size")
    parts = conts.parts()
    ceiling = grafted_ceiling(list(dumps), top, seed=seed, parts=parts) if parts is not None else None
    if ceiling is not None:
        notes.insert(
            1,
            "the ceiling: the real optimum predicted from the dumps' own sampled continuations (grafted tree, "
            f"THEORY.md section 8), averaged over every generated position, P <= {len(ceiling.P)}; the simulated "
            "optimum (i.i.d. model) stays beside it",
        )
    return Comparison(
        curve=curve,
        optimum=lower,
        optimum_upper=upper,
        measured=list(measured),
        timing=timing,
        notes=notes,
        ceiling=ceiling,
    )


def write_comparison(out_dir: str, comp: Comparison, command: str | None = None) -> None:
    """Write ``compare.md``, ``compare.png`` and ``compare.json`` into ``out_dir``, all or nothing.

    Parameters
    ----------
    out_dir
        The folder to write (its other files are left alone; this command's files are each replaced atomically).
    comp
        The comparison (:func:`compare`).
    command
        The command line that regenerates the folder, quoted in ``compare.md``.

    """
    import json

    from .._util.atomic import atomic_dir
    from .._util.jsonsafe import finite_or_none
    from .plots import save_figure

    with atomic_dir(out_dir) as tmp:
        md = ["# Measured acceptance against the speed of light", ""]
        if command:
            md += [f"Regenerate with `{command}`.", ""]
        md += [comp.markdown(), ""] + [f"- {x}" for x in comp.summary_lines()]
        md += ["", "Notes:", ""] + [f"- {x}" for x in comp.notes] + ["", "![comparison](compare.png)", ""]
        with open(os.path.join(tmp, "compare.md"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(md))
        with open(os.path.join(tmp, "compare.json"), "w", encoding="utf-8") as fh:
            json.dump(finite_or_none(comp.to_dict()), fh)
        save_figure(comp.figure(), os.path.join(tmp, "compare.png"))
