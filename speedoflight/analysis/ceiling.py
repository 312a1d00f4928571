"""The ceiling that compare and report hold measured drafters against: the grafted prediction where it exists.

A dump with sampled continuations (token ids, sampled tokens) gives the real optimum predicted by the grafted
tree (:func:`speedoflight.simulation.grafted.optimum`), averaged over the positions of the continuations
(``positions="all"``, a seeded sample of :data:`CEILING_ROOTS` of them where there are more): the ceiling a serving
stack's measured acceptance, itself an average over generated positions, should be held against. The i.i.d.
simulation stays beside it as the model-based value. The grafted inputs are built once (:func:`ceiling_inputs`)
and shared by the ceiling, its depth caps and the depth profiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..options import RunOptions

__all__ = [
    "CEILING_PMAX",
    "CEILING_REPLICATES",
    "CEILING_ROOTS",
    "FALLBACK",
    "ceiling_at",
    "ceiling_by_depth",
    "ceiling_by_kind",
    "ceiling_dict",
    "ceiling_inputs",
    "ceiling_lookup",
    "depth_profiles",
    "grafted_ceiling",
    "no_ceiling_warning",
    "optimum_at",
]

#: The largest P the ceiling is computed at (every generated position is a root: cost grows with P).
CEILING_PMAX = 512
#: Draws of the unknown rows per root. The spread between roots (and prompts) is what the mean pays for: on the
#: shipped dump the draws add a standard deviation of 0.003 at P = 64 against an interval half-width of 0.10, so one
#: draw on more roots beats several on fewer at the same cost (README, How good is the ceiling?).
CEILING_REPLICATES = 1
#: Roots of the ceiling: a seeded uniform sample of this many generated positions where there are more (the
#: shipped dump has 25,600); the bootstrap interval over prompts covers the sample's own spread.
CEILING_ROOTS = 4000


#: What a comparison shows, and how far to trust it, where the grafted ceiling cannot be built.
FALLBACK = (
    "the ceiling shown is the simulated optimum under the i.i.d. model, which runs 13-31% low on real text "
    "(README, How good is the ceiling?), so fractions of it read high"
)


def grafted_ceiling(
    dumps: Sequence[str],
    pmax: int,
    seed: int = 0,
    parts: Any = None,
    client: Any = None,
    inputs: Any = None,
    depths: Sequence[int] = (),
) -> Any:
    """Return the grafted ceiling of the inputs' verifier.

    Parameters
    ----------
    dumps
        The verifier's dumps or API logs, with sampled continuations and token ids.
    pmax
        Largest P wanted (capped at :data:`CEILING_PMAX`).
    seed
        Seed of the draws, the sample of roots and the bootstrap.
    parts
        The inputs' arrays from the command's one pass (``ContinuationScan.parts()``), so nothing is read again.
    client
        A dask client: the roots run on its workers, one task per batch of prompts (the same curves).
    inputs
        The grafted inputs already built from them (:func:`ceiling_inputs`), shared with the depth caps.
    depths
        Depth caps: the same searches give the best trees of depth <= D on the same roots and draws
        (``OptimumResult.capped``, for :func:`ceiling_by_depth`).

    Returns
    -------
    OptimumResult
        Tails dropped (lower) and lumped (upper), roots at every position (at most :data:`CEILING_ROOTS` of them,
        a seeded sample), :data:`CEILING_REPLICATES` draws each.

    Raises
    ------
    InputError
        Saying why the inputs cannot give it (no continuations, no token ids, no sampled tokens); the caller says
        what it shows instead (:data:`FALLBACK`), never in silence.

    """
    from .._util.progress import stage as progress_stage

    progress_stage("the ceiling (grafted tree)")
    from ..simulation.grafted import optimum

    return optimum(
        list(dumps),
        pmax=min(int(pmax), CEILING_PMAX),
        positions="all",
        replicates=CEILING_REPLICATES,
        tail="both",
        parts=parts,
        inputs=inputs,
        sample=CEILING_ROOTS,
        caps=tuple(depths),
        run=RunOptions(seed=seed, client=client),
    )


def ceiling_inputs(dumps: Sequence[str], parts: Any = None) -> Any:
    """Return the grafted inputs of the ceiling, both tails, built once for the ceiling, its caps and profiles.

    Parameters
    ----------
    dumps
        The verifier's dumps or API logs.
    parts
        Their arrays from the command's one pass.

    Returns
    -------
    dict
        ``{"drop": GraftedInput, "lump": GraftedInput}``.

    Raises
    ------
    InputError
        Where the inputs cannot give a grafted tree.

    """
    from ..readers.continuations import grafted_inputs

    return grafted_inputs(list(dumps), parts=parts)


def no_ceiling_warning(reason: str) -> str:
    """Return the warning that a comparison shows a weaker ceiling, with the reason and what is shown instead.

    Parameters
    ----------
    reason
        Why the grafted ceiling could not be built.

    Returns
    -------
    str
        One sentence.

    """
    return f"no grafted ceiling: {reason.rstrip('.')}; {FALLBACK}"


def ceiling_at(res: Any, p: int) -> tuple[float, float, float, float] | None:
    """Return the ceiling at P: (lower mean, upper mean, lower CI low, upper CI high), or None past its range.

    Parameters
    ----------
    res
        A result of :func:`grafted_ceiling` (or None).
    p
        Tree size.

    Returns
    -------
    tuple of float or None
        The range and its interval; None without a ceiling or for P beyond it.

    """
    if res is None or not 1 <= p <= len(res.P):
        return None
    lo, hi = res.lower, res.upper
    i = p - 1
    return float(lo.mean[i]), float(hi.mean[i]), float(lo.ci_low[i]), float(hi.ci_high[i])


def ceiling_dict(res: Any) -> dict[str, Any] | None:
    """Return the ceiling for ``--json``: P, both estimates with their intervals, how it was made.

    Parameters
    ----------
    res
        A result of :func:`grafted_ceiling` (or None).

    Returns
    -------
    dict or None
        ``P``, ``lower`` and ``upper`` (each ``mean``, ``ci_low``, ``ci_high``), ``positions``, ``roots`` (and
        ``sampled_from``: the positions there were, where the roots are a sample of them), ``replicates``,
        ``continuations_per_prompt`` and ``note``; None without a ceiling.

    """
    if res is None:
        return None
    return {
        "P": res.P.tolist(),
        "lower": res.lower.to_dict(),
        "upper": res.upper.to_dict(),
        "positions": res.positions,
        "roots": len(res.root_prompt),
        "sampled_from": res.sampled_from,
        "replicates": res.replicates,
        "continuations_per_prompt": res.continuations_per_prompt,
        "note": "the real optimum predicted from the dumps' own continuations (grafted tree), averaged over "
        + (
            f"a seeded sample of {len(res.root_prompt)} of the {res.sampled_from} generated positions"
            if res.sampled_from
            else "every generated position"
        )
        + "; lower = top-k tails dropped, upper = lumped",
    }


def fraction(x: float, value: float) -> float:
    """Return ``x / value`` (NaN for a zero value).

    Parameters
    ----------
    x
        Measured accepted tokens per call.
    value
        The ceiling.

    Returns
    -------
    float
        The fraction.

    """
    return x / value if value > 0 else math.nan


def _same_roots(ceiling: Any, client: Any) -> dict[str, Any]:
    """Return the ceiling's own roots and draws, as keywords of :func:`~speedoflight.simulation.grafted.optimum`."""
    return {
        "positions": "all",
        "replicates": ceiling.replicates,
        "seed": ceiling.seed,
        "client": client,
        "sample": len(ceiling.root_prompt) if ceiling.sampled_from else None,
    }


def _optimum_roots(ceiling: Any, client: Any) -> dict[str, Any]:
    """Return :func:`_same_roots` as keywords of the grafted optimum: the seed and the client as ``run``."""
    kw = _same_roots(ceiling, client)
    run = RunOptions(seed=kw.pop("seed"), client=kw.pop("client"))
    return {**kw, "run": run}


def ceiling_by_depth(
    dumps: Sequence[str],
    depths: Sequence[int],
    *,
    ceiling: Any = None,
    parts: Any = None,
    optimum: Any = None,
    optimum_upper: Any = None,
    pools: tuple[Any, Any] | None = None,
    seed: int = 0,
    client: Any = None,
    inputs: Any = None,
) -> Any:
    """Return E[X*(P)] of the best tree of depth <= D for each D, beside the uncapped one (D = None).

    Parameters
    ----------
    dumps
        The verifier's dumps.
    depths
        Depth caps to compute (empty: only the uncapped curve). Grafted capped curves come from the ceiling's own
        roots and draws, every cap and the ceiling from one search per root and draw
        (:func:`~speedoflight.simulation.capped.run_caps`: the same curves as one search per cap), so each capped
        curve lies below the ceiling root by root: taken from ``ceiling.capped`` where it has them
        (``grafted_ceiling(depths=)``), else searched again on the same roots.
    ceiling
        The grafted ceiling (:func:`grafted_ceiling`); with it the capped curves are grafted too.
    parts
        The dumps' arrays from the command's one pass.
    optimum, optimum_upper
        The simulated optimum (tails dropped, lumped): the uncapped curve where there is no grafted ceiling.
    pools
        The simulator's pools (tails dropped, lumped) for the capped simulated curves.
    seed
        Seed of the draws.
    client
        A dask client for the grafted curves (one task per batch of prompts; the same curves).
    inputs
        The ceiling's grafted inputs (:func:`ceiling_inputs`); None builds them from ``parts``.

    Returns
    -------
    DepthCurves
        With the greedy chain's curve (the verifier's top token at every level: what a chain-only engine drafts),
        for K up to the ceiling's largest P, on the ceiling's roots and draws too.

    """
    from .._util.progress import stage as progress_stage

    progress_stage("the best tree per depth cap")
    from ..simulation.capped import capped_means
    from ..simulation.grafted import optimum as grafted_optimum
    from ..simulation.policies import policy_curve
    from ..simulation.simulate import simulate
    from .advice import DepthCurves

    ps: dict[int | None, Any] = {}
    lo: dict[int | None, Any] = {}
    hi: dict[int | None, Any] = {}
    if ceiling is not None:
        inputs = inputs if inputs is not None else ceiling_inputs(dumps, parts)
        ps[None], lo[None], hi[None] = ceiling.P, ceiling.lower.mean, ceiling.upper.mean
        pmax = len(ceiling.P)
        same = _same_roots(ceiling, client)
        means = ceiling.capped
        if means is None or any(int(d) not in means["drop"] for d in depths):
            means = capped_means(inputs, **same, pmax=pmax, caps=depths)
        for d in depths:
            ps[d], lo[d], hi[d] = ceiling.P, means["drop"][int(d)], means["lump"][int(d)]
        c = grafted_optimum(
            list(dumps), pmax=pmax, tail="both", max_width=1, inputs=inputs, n_boot=0, **_optimum_roots(ceiling, client)
        )
        assert c.lower is not None
        assert c.upper is not None
        return DepthCurves(ps, lo, hi, "grafted", (c.P, c.lower.mean, c.upper.mean))
    assert optimum is not None
    assert optimum_upper is not None
    ps[None], lo[None], hi[None] = optimum.P, optimum.mean, optimum_upper.mean
    if depths:
        assert pools is not None
        for d in depths:
            a = simulate(
                pools[0], int(optimum.P[-1]), replicates=optimum.replicates, seed=seed, at=optimum.P, max_depth=d
            )
            b = simulate(
                pools[1], int(optimum.P[-1]), replicates=optimum.replicates, seed=seed, at=optimum.P, max_depth=d
            )
            ps[d], lo[d], hi[d] = optimum.P, a.mean, b.mean
    chain = None
    if pools is not None:
        k = np.arange(1, int(optimum.P[-1]) + 1)
        chain = (k, policy_curve("chain", pools[0], k), policy_curve("chain", pools[1], k))
    return DepthCurves(ps, lo, hi, "simulated", chain)


def depth_profiles(
    dumps: Sequence[str],
    p: int,
    *,
    ceiling: Any,
    parts: Any = None,
    seed: int = 0,
    client: Any = None,
    inputs: Any = None,
) -> dict[str, Any]:
    """Return P(X >= d) by depth d for the greedy chain of length P and for the ceiling's best tree of P nodes.

    Parameters
    ----------
    dumps
        The verifier's dumps (with continuations).
    p
        Tree size: the measured drafters' P.
    ceiling
        The grafted ceiling: its roots and draws are reused (the profiles average over the same generated
        positions as the ceiling and a measured drafter's per-position acceptance).
    parts
        The dumps' arrays from the command's one pass.
    seed
        Unused (the ceiling's seed is); kept for callers.
    client
        A dask client for the searches (the same profiles).
    inputs
        The ceiling's grafted inputs (:func:`ceiling_inputs`); None builds them from ``parts``.

    Returns
    -------
    dict
        ``{label: ndarray}`` with P(X >= d), d = 1..min(P, 16), both from the grafted tree (tails dropped);
        the chain takes the verifier's top token at every step.

    """
    from .._util.progress import stage as progress_stage

    progress_stage("per-position acceptance")
    from ..simulation.grafted import optimum as grafted_optimum

    inputs = inputs if inputs is not None else ceiling_inputs(dumps, parts)
    depth = min(int(p), 16)
    out = {}
    for label, width in ((f"greedy chain of {p} (the verifier's top token at each step)", 1), (None, None)):
        r = grafted_optimum(
            list(dumps),
            pmax=int(p),
            tail="drop",
            max_width=width,
            profile=(int(p), depth),
            inputs=inputs,
            n_boot=0,
            **_optimum_roots(ceiling, client),
        )
        out[label or f"ceiling: the best tree of {p} nodes (grafted)"] = r.profile
    return out


def ceiling_by_kind(dumps: Sequence[str], parts: Any, ceiling: Any) -> dict[str, Any]:
    """Return the ceiling per kind of text, where the prompts carry kinds (``dump --per-kind``, collect's ``kind``).

    Parameters
    ----------
    dumps
        The inputs, as the ceiling read them.
    parts
        Their arrays (``ContinuationScan.parts()``).
    ceiling
        The grafted ceiling (every position a root).

    Returns
    -------
    dict
        ``{kind: {"roots", "prompts", "lower", "upper"}}`` with the mean curves over that kind's roots (P = 1 ..),
        in kind order; empty where fewer than two kinds are recorded.

    """
    from .._util.progress import stage as progress_stage

    progress_stage("the ceiling per kind of text")
    import numpy as np

    from ..readers.kinds import prompt_kinds

    kinds = prompt_kinds(list(dumps), parts)
    if len(set(kinds.values())) < 2:
        return {}
    root_kind = np.array([kinds.get(int(p), "") for p in ceiling.root_prompt])
    out: dict[str, Any] = {}
    for kind in sorted(set(kinds.values())):
        mask = root_kind == kind
        if not mask.any():
            continue
        out[kind] = {
            "roots": int(mask.sum()),
            "prompts": len({int(p) for p in ceiling.root_prompt[mask]}),
            "lower": ceiling.lower.curves[mask].mean(axis=0).tolist(),
            "upper": ceiling.upper.curves[mask].mean(axis=0).tolist(),
        }
    return out


def optimum_at(optimum: Any, upper: Any, p: int) -> tuple[float, float, float]:
    """Return the simulated optimum at P: (lower estimate, upper estimate, lower estimate's CI low clipped at 0).

    Parameters
    ----------
    optimum, upper
        The simulated optimum with tails dropped and lumped (the same P).
    p
        A simulated P.

    Returns
    -------
    tuple of float

    Raises
    ------
    InputError
        Where P was not simulated.

    """
    i = int(np.searchsorted(optimum.P, p))
    if i >= len(optimum.P) or optimum.P[i] != p:
        raise InputError(f"P = {p} was not simulated")
    return float(optimum.mean[i]), float(upper.mean[i]), float(max(optimum.ci_low[i], 0.0))


def ceiling_lookup(ceiling: Any, optimum: Any, upper: Any) -> Any:
    """Return ``P -> (lower, upper, ci_low, ci_high)``: the grafted ceiling, else the simulated optimum, no upper end.

    Parameters
    ----------
    ceiling
        The grafted ceiling, or None.
    optimum, upper
        The simulated optimum with tails dropped and lumped.

    Returns
    -------
    callable
        None past the ceiling's range (and, with a ceiling, at P it does not cover).

    """
    sim = set(optimum.P.tolist())

    def at(p: int) -> tuple[float, float, float, float] | None:
        got = ceiling_at(ceiling, p)
        if got is not None:
            return got
        if ceiling is None and p in sim:
            lo, hi, ci = optimum_at(optimum, upper, p)
            return lo, hi, ci, math.inf  # the i.i.d. model runs low on real text: never "above" it
        return None

    return at
