"""Measured acceptance against the speed of light of the same verifier.

:func:`compare` takes dumps of a verifier (any file the estimator reads) and
measured acceptance of systems running on it (any file
:func:`~speedoflight.logs.acceptance.read_acceptance` reads) and puts on one
table and one figure, against log P:

* the published closed form, the Lorden bound, the renewal prediction and,
  from the dumps, the exact i.i.d. curve, the i.i.d. threshold bound and the
  trajectory bound (see :func:`~speedoflight.theory.curve.bound_curve`);
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
from ..options import ReadOptions, RunOptions, split_legacy
from ..simulation.simulate import SimulationResult
from ..theory.curve import BoundCurve, bound_curve
from ..theory.registry import CURVES
from ..timing import DraftCost, Timing, speedup
from .advice import DEPTHS
from .ceiling import ceiling_at, ceiling_dict, ceiling_lookup, fraction, grafted_ceiling, no_ceiling_warning, optimum_at
from .checks import comparison_warnings
from .compare_text import write_comparison
from .stages import DumpStage, read_dumps
from .truncation import bound_crossings, first_screen_p, truncation_range

__all__ = ["Comparison", "compare", "write_comparison"]

#: Curves tabulated (labels and styles from :mod:`speedoflight.theory.registry`).
TABLED = ("published", "lorden", "asymptotic", "iid_exact", "iid_bound", "trajectory_conservative")


@dataclass(frozen=True)
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
    advice : Advice or None
        With a timing model, the best (P, depth) for the ceiling and each drafter (:mod:`.advice`).
    warnings : list of str
        Sanity checks that failed (:mod:`.checks`): another model, above the ceiling, a broken drafter.
    model : str
        The verifier the dumps name ('' when they name none).
    profiles : dict
        P(X >= d) by depth of the greedy chain and of the ceiling's tree, where a measured system has per-position
        counts and the dumps hold continuations (:func:`.ceiling.depth_profiles`).
    crossings : list of dict
        Each drawn estimate that lies above a proven upper bound somewhere (:func:`bound_crossings`): ``estimate``,
        ``bound``, ``P`` (the first P where it does), ``cause``; each also in ``notes``.
    truncation : dict
        How the rows were truncated (``--top-k``) and the truncation range at the first screen's P
        (:func:`truncation_range`).

    """

    curve: BoundCurve
    optimum: SimulationResult
    optimum_upper: SimulationResult
    measured: list[Measured]
    timing: Timing | None = None
    notes: list[str] = field(default_factory=list)
    ceiling: Any = None
    advice: Any = None
    warnings: list[str] = field(default_factory=list)
    model: str = ""
    n_layers: int | None = None
    profiles: dict[str, Any] = field(default_factory=dict)
    kinds: dict[str, Any] = field(default_factory=dict)
    crossings: list[dict[str, Any]] = field(default_factory=list)
    truncation: dict[str, Any] = field(default_factory=dict)

    def cost_of(self, m: Measured) -> DraftCost:
        """Return what a measured system's drafter costs: its own (from its name) or the flags'.

        Parameters
        ----------
        m
            A measured system.

        Returns
        -------
        DraftCost

        """
        assert self.timing is not None
        return DraftCost.for_drafter(m.name, self.n_layers, self.timing.draft)

    def speedup_of(self, m: Measured) -> float | None:
        """Return a measured system's speedup at its P under the timing model and its own drafter cost.

        Parameters
        ----------
        m
            A measured system.

        Returns
        -------
        float or None
            None without a timing model or a P.

        """
        if self.timing is None or m.P is None:
            return None
        from dataclasses import replace

        from .advice import drafter_depth

        t = replace(self.timing, draft=self.cost_of(m))
        return float(speedup(np.array([m.mean_accepted]), np.array([m.P]), t, depth=drafter_depth(m)[0])[0])

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
        return optimum_at(self.optimum, self.optimum_upper, p)

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
                    d["speedup_model"] = self.speedup_of(m)
                own = self.kinds.get(m.kind) if m.kind else None
                if own is not None and m.P <= len(own["lower"]):  # held against its own kind's ceiling too
                    lo_k, hi_k = own["lower"][m.P - 1], own["upper"][m.P - 1]
                    d["ceiling_of_its_kind_at_P"] = [lo_k, hi_k]
                    d["fraction_of_its_kind_ceiling"] = fraction(m.mean_accepted, lo_k)
                    d["fraction_of_its_kind_ceiling_upper"] = fraction(m.mean_accepted, hi_k)
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
            "advice": self.advice.to_dict() if self.advice is not None else None,
            "model": self.model,
            "warnings": self.warnings,
            "positions": {k: v.tolist() for k, v in self.profiles.items()},
            "ceiling_by_kind": self.kinds,
            "truncation": self.truncation,
            "bound_crossings": self.crossings,
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
        exact_to = int(self.truncation.get("exact_up_to") or 0)  # one number where the truncation costs nothing
        for i, p in enumerate(self.optimum.P):
            j = int(np.searchsorted(c.P, p))
            cells = [f"{c.columns[k][j]:.2f}" for k in cols]
            lo, hi = self.optimum.mean[i], self.optimum_upper.mean[i]
            opt = f"{lo:.2f}" if p <= exact_to else f"{lo:.2f}..{hi:.2f}"
            lines.append(f"| {p:g} | {opt} | " + " | ".join(cells) + " |")
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
        from . import compare_text

        return compare_text.measured_markdown(self)

    def summary_lines(self) -> list[str]:
        """Return plain statements: each system's place under the ceiling, and the best P on the GPU.

        Returns
        -------
        list of str
            One line per measured system, then, with a timing model, the speedup ceilings and their best P.

        """
        from . import compare_text

        return compare_text.summary_lines(self)

    def answer_lines(self, tree_size: int | None = None) -> list[str]:
        """Return the answer first: the ceiling at the user's P, each drafter's fraction, the best setting, advice.

        Parameters
        ----------
        tree_size
            The user's P (default: the measured P values, at most three shown).

        Returns
        -------
        list of str
            At most a dozen short lines, then the warnings.

        """
        from . import compare_text

        return compare_text.answer_lines(self, tree_size)

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
        """Return a matplotlib figure: E[X] against log P (and the speedup with a timing model).

        Returns
        -------
        matplotlib.figure.Figure
            See :func:`speedoflight.analysis.figures.compare_figure`.

        """
        from .figures import compare_figure

        return compare_figure(self)


def default_p(measured: Sequence[Measured], pmax: int | None, timing: Timing | None = None) -> np.ndarray:
    """Return powers of two to ``pmax`` and every measured P.

    The default ``pmax`` is 4x the largest measured P, at least 256, and with a timing model at least 4x the P
    where the verifier pass turns compute-bound (the best P lies below it).
    """
    ps = [m.P for m in measured if m.P is not None]
    knee = timing.with_batch(1).knee() if timing is not None else math.nan  # batch 1: the sensitivity table's
    if timing is not None and timing.latency is not None:
        knee = timing.latency.pmax / 4  # a measured table: the grid reaches its largest P
    top = pmax or max(256, 4 * max(ps, default=0), 2 ** math.ceil(math.log2(4 * max(knee, 1.0))) if knee == knee else 0)
    grid = [2**i for i in range(int(math.log2(top)) + 1)]
    if timing is not None and 1 <= knee <= top and timing.latency is None:
        grid.append(round(knee))  # where the pass turns compute-bound: often the best P
    return np.unique(np.array([*grid, *[p for p in ps if p <= top], top], dtype=np.int64))


def compare(
    dumps: Sequence[str],
    measured: Sequence[Measured] | None = None,
    *,
    tree_size: int | None = None,
    timing: Timing | None = None,
    pmax: int | None = None,
    replicates: int = 64,
    n_boot: int = 300,
    n_layers: int | None = None,
    same_model: bool = False,
    stage: DumpStage | None = None,
    keep: int | None = None,
    read: ReadOptions | None = None,
    run: RunOptions | None = None,
    **legacy: Any,
) -> Comparison:
    """Compare measured acceptance with the speed of light of the verifier behind ``dumps``.

    Parameters
    ----------
    dumps
        Files of the verifier's logged distributions (any format the estimator reads).
    measured
        Measured systems (from :func:`~speedoflight.logs.acceptance.read_acceptance`); none: the ceiling, the bounds,
        the simulated optimum and, with a timing model, the best (P, depth) for the drafter cost it gives.
    tree_size
        P for every measured system (overrides what a source records).
    timing
        Roofline model for the speedup ceiling and the best P.
    pmax
        Largest P on the curves (default: 4x the largest measured P, at least 256).
    replicates
        Simulation of the optimal tree.
    n_boot
        Bootstrap replicates of the trajectory bound.
    n_layers
        The verifier's layers, for the cost of ``early-exit:L`` drafters (default: known for the dump's model).
    same_model
        The measured sources run the dumps' model whatever their names say (silences that warning).
    stage
        The dumps already read (:func:`~speedoflight.analysis.stages.read_dumps` of ``dumps``, with this ``run.seed``
        and this ``read``): nothing is read again (unless its pool cannot serve the grid's largest P, or it
        was truncated with another ``keep``).
    keep
        ``--top-k``: tokens kept per row of the simulator's pools and the grafted tree (None: the default rule,
        docs/theory.md section 3.6).

    read
        How to read ``dumps`` where the files do not say (:class:`~speedoflight.options.ReadOptions`, as for
        :func:`~speedoflight.theory.estimator.estimate`).
    run
        The seed of the simulation and the bootstraps, progress bars on stderr, and a dask client
        (:class:`~speedoflight.options.RunOptions`): with a client, the moments, the i.i.d. curve and the
        trajectories are summed on its workers, one task per dump, and the grafted searches run there, one task per
        batch of prompts; the simulator's pools and the grafted input (top-k rows) are read here. The result is the
        single process's, bit for bit.
    **legacy
        Deprecated: the old keywords ``kind``, ``vocab_size``, ``temperature``, ``tensor``, ``seed``, ``progress``, ``client``, folded into ``read`` and ``run`` with a DeprecationWarning.

    Returns
    -------
    Comparison

    """
    read, run = split_legacy("compare", legacy, read=(ReadOptions, read), run=(RunOptions, run))
    seed, progress, client = run.seed, run.progress, run.client
    from ..simulation.simulate import simulate

    if not dumps:
        raise InputError("give at least one dump of the verifier's distributions ({dumps})", param="dumps")
    from .._util.paths import expand_paths

    dumps = expand_paths(dumps)  # a folder or a glob of shards: the files, so each is a dump of its own
    measured = list(measured or [])
    if tree_size is not None:
        if tree_size < 1:
            raise InputError(f"{{tree_size}} must be at least 1, got {tree_size}", param="tree_size")
        measured = [m.with_p(tree_size) for m in measured]
    grid = default_p(measured, pmax, timing)
    too_big = [m for m in measured if m.P is not None and m.P > grid[-1]]
    if too_big:
        raise InputError(
            f"{too_big[0].name}: P = {too_big[0].P} exceeds {{pmax}} {grid[-1]}; raise {{pmax}}", param="pmax"
        )
    if stage is None or not stage.scan.serves(float(grid[-1])) or stage.truncation.keep != keep:
        stage = read_dumps(
            dumps, **read.source_kwargs(), pmax=float(grid[-1]), seed=seed, progress=progress, client=client, keep=keep
        )
    curve = bound_curve(grid, timing=timing, n_boot=n_boot, scanned=stage.scan, run=RunOptions(seed=seed))
    top = int(grid[-1])
    pools = stage.pools
    lower = simulate(pools[0], top, replicates=replicates, seed=seed, at=grid)
    upper = simulate(pools[1], top, replicates=replicates, seed=seed, at=grid)
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
            raise InputError(
                f"{m.name}: X = {m.mean_accepted:.3g} exceeds its P = {m.P}; check {{tree_size}}", param="tree_size"
            )
    model = stage.model
    layers: int | None = None
    depths: tuple[int, ...] = ()
    if timing is not None:  # the depth caps a drafter that pays per level needs, searched with the ceiling
        from .advice import verifier_layers

        layers = verifier_layers(model, n_layers or stage.n_layers)
        costs = [timing.draft] + [DraftCost.for_drafter(m.name, layers, timing.draft) for m in measured]
        depths = DEPTHS if any(c.depth_matters for c in costs) else ()
    parts, inputs = stage.parts, stage.inputs  # built once: the ceiling, its depth caps and the profiles share them
    ceiling, missing = None, stage.missing
    if inputs is not None:
        try:
            ceiling = grafted_ceiling(
                list(dumps), top, seed=seed, parts=parts, client=client, inputs=inputs, depths=depths
            )
        except InputError as exc:
            missing = str(exc)
    if ceiling is not None:
        notes.insert(
            1,
            "the ceiling: the real optimum predicted from the dumps' own sampled continuations (grafted tree, "
            "docs/theory.md section 8), averaged over "
            + (
                f"a seeded sample of {len(ceiling.root_prompt)} of the {ceiling.sampled_from} generated positions "
                "(docs/theory.md section 8.5)"
                if ceiling.sampled_from
                else "every generated position"
            )
            + f", P <= {len(ceiling.P)}; the simulated optimum (i.i.d. model) stays beside it",
        )
    warnings = comparison_warnings(measured, model, ceiling_lookup(ceiling, lower, upper), acknowledged=same_model)
    kinds: dict[str, Any] = {}
    if ceiling is None:
        warnings.insert(0, no_ceiling_warning(missing or "the inputs hold no sampled continuations"))
    else:
        from .ceiling import ceiling_by_kind

        kinds = ceiling_by_kind(list(dumps), parts, ceiling)
    crossings = bound_crossings(curve, lower, upper, ceiling, pools[1])
    notes += [c["note"] for c in crossings]
    truncation = truncation_range(stage, ceiling, lower, upper, first_screen_p(measured, tree_size))
    if truncation.get("warning"):
        warnings.insert(0, truncation["warning"])
    profiles: dict[str, Any] = {}
    with_dist = [m.P for m in measured if m.distribution is not None and m.P is not None and len(m.distribution) > 1]
    if ceiling is not None and with_dist:
        from .ceiling import depth_profiles

        profiles = depth_profiles(
            dumps, min(max(with_dist), 64), ceiling=ceiling, parts=parts, seed=seed, client=client, inputs=inputs
        )
    advice = None
    if timing is not None:
        from .advice import advise
        from .ceiling import ceiling_by_depth

        curves = ceiling_by_depth(
            dumps,
            depths,
            ceiling=ceiling,
            parts=parts,
            optimum=lower,
            optimum_upper=upper,
            pools=pools,
            seed=seed,
            client=client,
            inputs=inputs,
        )
        advice = advise(measured, curves, timing, n_layers=layers, current=tree_size)
    return Comparison(  # built once, from the stages' results: never changed after
        curve=curve,
        optimum=lower,
        optimum_upper=upper,
        measured=list(measured),
        timing=timing,
        notes=notes,
        ceiling=ceiling,
        advice=advice,
        warnings=warnings,
        model=model,
        n_layers=layers,
        profiles=profiles,
        kinds=kinds,
        crossings=crossings,
        truncation=truncation,
    )
