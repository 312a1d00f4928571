"""The real-model comparison: the exact optimum of a real LLM against the theory and against real drafters.

:func:`compare_real` puts on one table, at P = 1, 2, 4, ..., Pmax:

* the real oracle optimum E[X*(P)] (mean over prompts with a t-interval,
  and the per-prompt distribution: median, 90th percentile, maximum);
* the i.i.d. simulation from the same model's pool (tail dropped and lumped:
  a lower and an upper estimate), the exact i.i.d. curve and the renewal
  prediction;
* the bounds: Lorden (i.i.d.), the i.i.d. threshold bound, the trajectory
  bound (plug-in and conservative; no i.i.d.) and the published closed form;
* each measured drafter (mean X with a t-interval over prompts).

It then says, per P, whether the i.i.d. model over- or under-predicts the real
optimum (intervals apart) and whether every bound held (bound >= the
oracle's mean; the published form, whose O(1) term is unknown, is judged the
same way and labelled). :func:`write_evidence` writes the Markdown table and
the figure atomically into a directory.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._config import DEFAULT_CONFIDENCE
from .._util.atomic import atomic_dir
from .._util.jsonsafe import finite_or_none
from ..errors import InputError
from ..options import RunOptions
from ..theory.registry import CURVES
from .styles import curve_style, drafter_styles

__all__ = ["RealComparison", "compare_real", "write_evidence"]

#: Bounds checked against the oracle, with their labels (from :mod:`speedoflight.theory.registry`).
BOUNDS = {k: CURVES[k].label for k in ("lorden", "iid_bound", "trajectory_conservative", "trajectory", "published")}
#: Curves drawn besides the oracle and the i.i.d. simulation.
DRAWN = ("iid_exact", "asymptotic", "lorden", "trajectory_conservative", "published")


@dataclass
class RealComparison:
    """Everything on the comparison table (columns indexed like ``P``)."""

    model: str
    P: np.ndarray
    oracle: dict[str, np.ndarray]
    iid_sim: dict[str, np.ndarray]
    theory: dict[str, np.ndarray]
    measured: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    grafted: dict[str, np.ndarray] = field(default_factory=dict)
    mu: float = math.nan
    mu2: float = math.nan
    n_prompts: int = 0
    continuations_per_prompt: float = math.nan
    notes: list[str] = field(default_factory=list)

    def iid_verdicts(self) -> list[str]:
        """Judge the i.i.d. simulation against the oracle per P: over-predicts, under-predicts or agrees.

        Returns
        -------
        list of str
            Per P, ``"over-predicts"`` (the dropped-tail CI low lies above the oracle's CI high),
            ``"under-predicts"`` (the lumped-tail CI high lies below the oracle's CI low) or ``"agrees"``.

        """
        out = []
        for i in range(len(self.P)):
            # the truth of the i.i.d. model lies between its dropped-tail (lower) and lumped-tail (upper) estimate
            lo = self.iid_sim["drop_low"][i]
            hi = self.iid_sim["lump_high"][i]
            if lo > self.oracle["ci_high"][i]:
                out.append("over-predicts")
            elif hi < self.oracle["ci_low"][i]:
                out.append("under-predicts")
            else:
                out.append("agrees")
        return out

    def bound_held(self) -> dict[str, list[bool]]:
        """Tell, per bound and P, whether the bound lay at or above the oracle's mean.

        Returns
        -------
        dict of str to list of bool
            For each of :data:`BOUNDS` in ``theory``, one bool per P.

        """
        return {
            k: [bool(b >= o - 1e-12) for b, o in zip(self.theory[k], self.oracle["mean"], strict=True)]
            for k in BOUNDS
            if k in self.theory
        }

    def summary_lines(self) -> list[str]:
        """State plainly where the i.i.d. model over/under-predicts, and which bounds held.

        Returns
        -------
        list of str
            The P of each verdict, the oracle against the i.i.d. range at the largest P, and one line per bound.

        """
        lines = []
        g = self.grafted
        if g:
            j = len(self.P) - 1
            lines.append(
                f"{self.model}: the grafted prediction (from the dump's own continuations) is "
                + ", ".join(f"{g['ratio'][i]:.2f}" for i in range(len(self.P)))
                + f" of the real optimum at P = {', '.join(str(int(q)) for q in self.P)}; per-prompt correlation "
                f"{g['correlation'][j]:.2f} at P = {int(self.P[j])}; the per-prompt range (tails dropped..lumped) "
                f"covers the prompt's optimum for {100 * g['coverage'][j]:.0f}% of the prompts there."
            )
        verdicts = self.iid_verdicts()
        for v in ("over-predicts", "under-predicts", "agrees"):
            ps = [int(p) for p, w in zip(self.P, verdicts, strict=True) if w == v]
            if ps:
                what = {
                    "over-predicts": "the i.i.d. simulation over-predicts the real optimum (even its lower "
                    "estimate lies above the optimum's interval)",
                    "under-predicts": "the i.i.d. simulation under-predicts the real optimum (even its upper "
                    "estimate lies below the optimum's interval)",
                    "agrees": "the real optimum's interval overlaps the i.i.d. simulation's range (lower..upper "
                    "estimate, with their intervals)",
                }[v]
                lines.append(f"{self.model}: at P = {', '.join(map(str, ps))} {what}.")
        i = len(self.P) - 1
        d, u, o = self.iid_sim["drop_mean"][i], self.iid_sim["lump_mean"][i], self.oracle["mean"][i]
        where = "above" if o > u else "below" if o < d else "inside"
        lines.append(
            f"{self.model}: at P = {int(self.P[i])} the real optimum is {o:.2f}, {where} the i.i.d. simulation's "
            f"range {d:.2f}..{u:.2f} (top-k tails dropped..lumped); the exact i.i.d. curve gives "
            f"{self.theory.get('iid_exact', np.full(i + 1, np.nan))[i]:.2f}."
        )
        for k, held in self.bound_held().items():
            if all(held):
                lines.append(f"{self.model}: {BOUNDS[k]} held at every P.")
            else:
                bad = [int(p) for p, h in zip(self.P, held, strict=True) if not h]
                lines.append(
                    f"{self.model}: {BOUNDS[k]} fell below the real optimum at P = {', '.join(map(str, bad))}."
                )
        return lines

    def markdown(self) -> str:
        """Return the comparison table in Markdown (one row per P).

        Returns
        -------
        str
            The oracle, the i.i.d. simulation, the theory curves and each measured drafter (with its fraction of
            the oracle on the same prompts).

        """
        m = self.measured
        heads = [
            "P",
            "oracle E[X*] (95% CI)",
            *(["grafted (drop..lump) / oracle"] if self.grafted else []),
            "per prompt: median / p90 / max",
            "i.i.d. sim (drop..lump)",
            "i.i.d. exact",
            "renewal",
            "Lorden",
            "trajectory (plug-in / cons.)",
            "published",
            *m.keys(),
        ]
        rows = []
        for i, p in enumerate(self.P):
            o = self.oracle
            cells = [
                f"{int(p)}",
                f"{o['mean'][i]:.2f} ({o['ci_low'][i]:.2f}..{o['ci_high'][i]:.2f})",
                *(
                    [
                        f"{self.grafted['drop_mean'][i]:.2f}..{self.grafted['lump_mean'][i]:.2f} / "
                        f"{self.grafted['ratio'][i]:.2f}"
                    ]
                    if self.grafted
                    else []
                ),
                f"{o['median'][i]:.2f} / {o['p90'][i]:.2f} / {o['max'][i]:.2f}",
                f"{self.iid_sim['drop_mean'][i]:.2f}..{self.iid_sim['lump_mean'][i]:.2f}",
                _table_cell(self.theory.get("iid_exact"), i),
                _table_cell(self.theory.get("asymptotic"), i),
                _table_cell(self.theory.get("lorden"), i),
                f"{_table_cell(self.theory.get('trajectory'), i)} / {_table_cell(self.theory.get('trajectory_conservative'), i)}",
                _table_cell(self.theory.get("published"), i),
            ]
            for v in m.values():
                if not np.isfinite(v["mean"][i]):
                    cells.append("")
                elif np.isfinite(v["oracle_same_prompts"][i]):
                    cells.append(f"{v['mean'][i]:.2f} ({100 * v['mean'][i] / v['oracle_same_prompts'][i]:.0f}%)")
                else:
                    cells.append(f"{v['mean'][i]:.2f}")
            rows.append(cells)
        out = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict.

        Returns
        -------
        dict
            The fields, arrays as lists (``iid_sim`` as ``iid_simulation``), plus ``iid_verdicts``, ``bound_held``
            and ``summary``.

        """

        def lists(d: dict[str, np.ndarray]) -> dict[str, Any]:
            return {k: np.asarray(v).tolist() for k, v in d.items()}

        return {
            "model": self.model,
            "P": self.P.tolist(),
            "oracle": lists(self.oracle),
            "iid_simulation": lists(self.iid_sim),
            "theory": lists(self.theory),
            "measured": {k: lists(v) for k, v in self.measured.items()},
            "grafted": lists(self.grafted),
            "mu": self.mu,
            "mu2": self.mu2,
            "n_prompts": self.n_prompts,
            "continuations_per_prompt": self.continuations_per_prompt,
            "iid_verdicts": self.iid_verdicts(),
            "bound_held": self.bound_held(),
            "summary": self.summary_lines(),
            "notes": self.notes,
        }


def _table_cell(col: np.ndarray | None, i: int) -> str:
    return "" if col is None or not np.isfinite(col[i]) else f"{col[i]:.2f}"


def compare_real(
    oracle_file: str,
    pool_file: str,
    measured_files: Sequence[str] = (),
    *,
    replicates: int = 2000,
    seed: int = 0,
    progress: bool = False,
    loaded: tuple[Any, ...] | None = None,
    stage: Any = None,
    runs: Sequence[Any] | None = None,
) -> RealComparison:
    """Build the comparison for one model (see the module docstring).

    Parameters
    ----------
    oracle_file
        Output of ``speedoflight oracle --out``.
    pool_file
        A speedoflight dump of the same model at the same temperature (its
        rows are the i.i.d. pool; with several continuations per prompt it
        also gives the trajectory bound).
    measured_files
        Output of ``speedoflight measure --out`` for this model.
    replicates, seed
        Of the i.i.d. simulation.
    progress
        Show progress bars on stderr.
    loaded
        ``oracle_file`` already loaded (:func:`~speedoflight.formats.oracle.load_oracle`): it is not opened again.
    stage
        ``pool_file`` already read (:func:`~speedoflight.analysis.stages.read_dumps` of it alone, with this
        ``seed``): nothing is read or built again. None reads it once.
    runs
        ``measured_files`` already read (:func:`~speedoflight.formats.measured.read_measured`, in the same order).

    Returns
    -------
    RealComparison
        The table at P = 1, 2, 4, ... up to the oracle's largest P.

    """
    from .._util.progress import stage as progress_stage

    progress_stage("the real optimum (oracle) against the theory")
    from .._util.stats import t_interval
    from ..formats.measured import read_measured
    from ..formats.oracle import load_oracle
    from ..readers.dumpfile import read_metadata
    from ..simulation.simulate import simulate
    from ..theory.curve import bound_curve
    from .stages import read_dumps

    curves, _, kinds, ometa = loaded if loaded is not None else load_oracle(oracle_file)
    pmeta = stage.metadata if stage is not None and "temperature" in stage.metadata else read_metadata(pool_file)
    if abs(float(pmeta["temperature"]) - float(ometa["temperature"])) > 1e-12:
        raise InputError(
            f"{pool_file} was sampled at temperature {pmeta['temperature']} but {oracle_file} at "
            f"{ometa['temperature']}; compare files of one temperature"
        )
    pmax = curves.shape[1]
    ps = np.array([p for p in (2 ** np.arange(0, 20)) if p <= pmax], dtype=np.int64)
    idx = ps - 1
    n = curves.shape[0]
    mean, _, lo, hi = (
        t_interval(curves, DEFAULT_CONFIDENCE) if n > 1 else (curves[0], None, curves[0] * np.nan, curves[0] * np.nan)
    )
    oracle = {
        "mean": mean[idx],
        "ci_low": lo[idx],
        "ci_high": hi[idx],
        "median": np.median(curves, axis=0)[idx],
        "p10": np.quantile(curves, 0.1, axis=0)[idx],
        "p90": np.quantile(curves, 0.9, axis=0)[idx],
        "max": curves.max(axis=0)[idx],
    }
    if stage is None:  # one pass over the pool: its moments, i.i.d. pools, trajectories and continuations
        stage = read_dumps([pool_file], pmax=float(ps[-1]), seed=seed, progress=progress)
    sim: dict[str, np.ndarray] = {}
    for tail, rows in zip(("drop", "lump"), stage.pools, strict=True):
        r = simulate(rows, pmax, replicates=replicates, seed=seed, at=ps, progress=progress)
        sim[f"{tail}_mean"], sim[f"{tail}_low"], sim[f"{tail}_high"] = r.mean, r.ci_low, r.ci_high
    bc = bound_curve(ps, scanned=stage.scan, run=RunOptions(seed=seed))
    theory = {k: np.asarray(v, dtype=float) for k, v in bc.columns.items()}
    measured: dict[str, dict[str, np.ndarray]] = {}
    notes: list[str] = []
    for i, f in enumerate(measured_files):
        run = runs[i] if runs is not None else read_measured(f)
        if abs(float(run.meta.get("temperature", math.nan)) - float(ometa["temperature"])) > 1e-12:
            raise InputError(f"{f} was measured at another temperature than {oracle_file}")
        # the oracle on the measured prompts themselves, for a like-for-like fraction of the optimum
        used = sorted({int(r["prompt"]) for r in run.records})
        index = [int(i) for i in ometa.get("prompt_index", [])]
        rows_same = [index.index(i) for i in used if i in index]
        same = curves[rows_same].mean(axis=0)[idx] if len(rows_same) == len(used) else np.full(len(ps), np.nan)
        notes.append(
            f"{os.path.basename(f)}: {len(used)} prompts x {run.meta.get('samples_per_prompt', '?')} continuations "
            f"of {run.meta.get('tokens', '?')} tokens; the percentage after a measured value is its fraction of "
            "the oracle optimum on those same prompts"
        )
        for row in run.summary():
            key = f"{row['drafter']} {row['shape']}"
            col = measured.setdefault(
                key,
                {
                    "mean": np.full(len(ps), np.nan),
                    "ci_low": np.full(len(ps), np.nan),
                    "ci_high": np.full(len(ps), np.nan),
                    "oracle_same_prompts": same,
                },
            )
            where = np.flatnonzero(ps == row["P"])
            if where.size:
                col["mean"][where[0]] = row["prompt_mean_accepted"]
                col["ci_low"][where[0]] = row["ci_low"]
                col["ci_high"][where[0]] = row["ci_high"]
    grafted = _grafted_against(stage, curves, ometa, ps, seed)
    if grafted:
        notes.append(
            "grafted: the real optimum predicted from the dump's own continuations (`speedoflight optimum`), "
            "tails dropped .. lumped, on the oracle's prompts; ratio = predicted (dropped) / oracle mean"
        )
    traj = bc.trajectory
    notes[:0] = [
        f"oracle: {n} prompts ({', '.join(f'{k} {kinds.count(k)}' for k in sorted(set(kinds)))}), exact E[X*(P)] "
        f"at the end of each prompt, temperature {ometa['temperature']:g}",
        f"pool: {os.path.basename(pool_file)} (model {pmeta.get('model', {}).get('name', '?')}); "
        f"mu = {bc.mu:.3f}, mu2 = {bc.mu2:.3f} nats",
        "i.i.d. simulation: tail of the top-k rows dropped (lower estimate) .. lumped into one token (upper)",
        "measured drafters: mean accepted draft tokens X per iteration (tokens per call = X + 1), mean over "
        "prompts of each prompt's mean",
        *bc.notes,
    ]
    return RealComparison(
        model=str(ometa.get("model", {}).get("name", "model")),
        P=ps,
        oracle=oracle,
        iid_sim=sim,
        theory=theory,
        measured=measured,
        grafted=grafted,
        mu=bc.mu,
        mu2=bc.mu2,
        n_prompts=n,
        continuations_per_prompt=traj.continuations_per_prompt if traj is not None else math.nan,
        notes=notes,
    )


def _grafted_against(
    stage: Any, curves: np.ndarray, ometa: dict[str, Any], ps: np.ndarray, seed: int
) -> dict[str, np.ndarray]:
    """Return the grafted prediction on the oracle's prompts: means, ratio, per-prompt correlation, range coverage."""
    from ..simulation.grafted import optimum

    if stage.inputs is None:
        return {}  # a dump without continuations or token ids: no prediction to show
    try:
        res = optimum(
            list(stage.files),
            pmax=int(ps[-1]),
            replicates=64,
            tail="both",
            inputs=stage.inputs,
            run=RunOptions(seed=seed),
        )
    except InputError:
        return {}
    assert res.lower is not None
    assert res.upper is not None
    oracle_index = [int(i) for i in ometa.get("prompt_index", [])]
    at = {}
    for j, p in enumerate(res.root_prompt.tolist()):  # a dump's prompt array holds the prompt file's indices
        if p in oracle_index:
            at[oracle_index.index(p)] = j
    if len(at) < 2:
        return {}
    rows = sorted(at)
    exact = curves[rows][:, ps - 1]
    lo = res.lower.curves[[at[r] for r in rows]][:, ps - 1]
    hi = res.upper.curves[[at[r] for r in rows]][:, ps - 1]
    corr = np.array(
        [
            np.corrcoef(lo[:, i], exact[:, i])[0, 1] if exact[:, i].std() > 0 and lo[:, i].std() > 0 else np.nan
            for i in range(len(ps))
        ]
    )
    return {
        "drop_mean": lo.mean(axis=0),
        "lump_mean": hi.mean(axis=0),
        "oracle_mean": exact.mean(axis=0),
        "ratio": lo.mean(axis=0) / exact.mean(axis=0),
        "correlation": corr,
        # a range covers its prompt's optimum up to the rows' float32 storage (relative 1e-6)
        "coverage": ((lo <= exact * (1 + 1e-6)) & (exact <= hi * (1 + 1e-6))).mean(axis=0),
        "prompts": np.array([len(rows)] * len(ps)),
    }


#: Curves that may leave the frame (annotated there) rather than set the shared y range: they grow fast with P.
LOOSE = ("published", "trajectory_conservative")


def _top(c: RealComparison) -> float:
    """Return the top of a panel that shows every measurement and the tight curves (the loose ones may leave it)."""
    return 1.15 * max(
        float(np.nanmax(c.oracle["p90"])),
        float(np.nanmax(c.iid_sim["lump_high"])),
        *(float(np.nanmax(c.grafted["lump_mean"])) for _ in [0] if c.grafted),
        *(float(np.nanmax(c.theory[k])) for k in DRAWN if k in c.theory and k not in LOOSE),
        *(float(np.nanmax(col["mean"])) for col in c.measured.values() if np.isfinite(col["mean"]).any()),
    )


def figure(comparisons: Sequence[RealComparison]) -> Any:
    """Return one panel per model: E[X] against P (log scale) for every line of the table, with bands.

    Parameters
    ----------
    comparisons
        One per model.

    Returns
    -------
    matplotlib.figure.Figure
        The panels share one y range (set by the measurements and the tight curves; a loose bound that leaves
        it is clipped and annotated); below them one legend of the curves, each band in its line's entry, and
        one of the measured drafters; drafters offset sideways, one style each.

    """
    from .._util.progress import stage as progress_stage

    progress_stage("drawing the figures")
    from .figures import clip, drafter_legend, grouped_legend, offsets
    from .plots import pyplot

    plt = pyplot()

    side = 1.8 if any(c.measured for c in comparisons) else 0.0  # room for the drafters' legend right of the panels
    fig, axes = plt.subplots(
        1, len(comparisons), figsize=(6.4 * len(comparisons) + side, 6.4), squeeze=False, layout="constrained"
    )
    top = max(_top(c) for c in comparisons)
    oracle = "real optimum (oracle): mean, 95% CI (dark), prompts 10-90% (light)"
    for ax, c in zip(axes[0], comparisons, strict=True):
        p = c.P
        ax.fill_between(p, c.oracle["p10"], c.oracle["p90"], color="0.85", label=oracle)
        ax.fill_between(p, c.oracle["ci_low"], c.oracle["ci_high"], color="k", alpha=0.25, label=oracle)
        ax.plot(p, c.oracle["mean"], "k-o", lw=2, ms=4, label=oracle)
        if c.grafted:
            gr, gs = CURVES["grafted"], curve_style("grafted")
            label = f"{gr.label}: tails dropped (line)..lumped"
            ax.fill_between(p, c.grafted["drop_mean"], c.grafted["lump_mean"], color=gs.color, alpha=0.25, label=label)
            ax.plot(p, c.grafted["drop_mean"], gs.linestyle, color=gs.color, label=label)
        sim, ss = CURVES["iid_sim"], curve_style("iid_sim")
        label = f"{sim.label}: band of tails dropped..lumped, 95% CI"
        ax.fill_between(p, c.iid_sim["drop_low"], c.iid_sim["lump_high"], color=ss.color, alpha=0.25, label=label)
        mid = (c.iid_sim["drop_mean"] + c.iid_sim["lump_mean"]) / 2
        ax.plot(p, mid, ss.linestyle, color=ss.color, label=label)
        notes = 0
        for k in DRAWN:
            if k in c.theory:
                st = curve_style(k)
                ax.plot(p, np.minimum(c.theory[k], 1.5 * top), st.linestyle, color=st.color, label=CURVES[k].label)
                notes += clip(ax, p, c.theory[k], top, st.color, notes)  # a loose bound leaving the frame: annotated
        styles = drafter_styles(list(c.measured))
        for (name, col), shift in zip(c.measured.items(), offsets(len(c.measured)), strict=True):
            ok = np.isfinite(col["mean"])
            sty = styles[name]
            ax.plot(
                p[ok] * shift,
                col["mean"][ok],
                sty["marker"],
                color=sty["color"],
                fillstyle=sty["fillstyle"],
                ms=6,
                ls="none",
                alpha=0.85,
                label=f"measured: {name}",
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("draft tree size P (tokens, log scale)")
        ax.set_ylabel("accepted draft tokens per verifier call E[X]")
        ax.set_title(f"{c.model}: real optimum vs theory vs drafters", fontsize=10)
        ax.set_ylim(0, top)
        ax.grid(True, alpha=0.3)
    panels = list(axes[0])
    drafter_legend(fig, panels)
    grouped_legend(
        fig,
        panels,
        lambda lab: not lab.startswith("measured:"),
        loc="outside lower center",
        ncol=min(3, len(panels) + 1),
    )
    return fig


def write_evidence(out_dir: str, comparisons: Sequence[RealComparison], command: str | None = None) -> None:
    """Write ``evidence.md``, ``evidence.png`` and ``evidence.json`` into ``out_dir``, all or nothing.

    Parameters
    ----------
    out_dir
        The folder to write (its other files are left alone; this command's files are each replaced atomically).
    comparisons
        One comparison per model (:func:`compare_real`).
    command
        The command line that regenerates the folder, quoted in ``evidence.md``.

    """
    from .plots import save_figure

    with atomic_dir(out_dir) as tmp:
        md = ["# Real-model comparison", ""]
        if command:
            md += [f"Regenerate with `{command}`.", ""]
        md += evidence_markdown(comparisons, "evidence.png")
        with open(os.path.join(tmp, "evidence.md"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(md))
        with open(os.path.join(tmp, "evidence.json"), "w", encoding="utf-8") as fh:
            json.dump(finite_or_none([c.to_dict() for c in comparisons]), fh)
        save_figure(figure(comparisons), os.path.join(tmp, "evidence.png"))


def evidence_markdown(comparisons: Sequence[RealComparison], image: str, notes: bool = True) -> list[str]:
    """Return the Markdown lines of the comparison: per model the table, the plain statements and the notes.

    Parameters
    ----------
    comparisons
        One per model.
    image
        The figure's file name.
    notes
        Include each model's notes (a report gathers them in one place instead).

    Returns
    -------
    list of str

    """
    md: list[str] = []
    for c in comparisons:
        md += [f"## {c.model}", "", c.markdown(), ""]
        md += [f"- {line}" for line in c.summary_lines()]
        md += ["", "Notes:", "", *[f"- {x}" for x in c.notes], ""] if notes else [""]
    md += [f"![real optimum vs theory]({image})", ""]
    return md
