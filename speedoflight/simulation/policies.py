"""The draft trees people use, evaluated exactly under the same i.i.d. model as the simulator.

Every expanded node draws its distribution independently, so a fixed rank
path ``(r_1, ..., r_d)`` (the drafter's r-th best token at each step, with a
drafter that ranks tokens as the verifier does) is followed with probability
``prod_i m_{r_i}``, where ``m_r`` is the mean of the r-th largest
probability over the pool. Hence, exactly (no Monte Carlo noise):

* ``chain``: the greedy path of P nodes, ``sum_{n<=P} m_0^n``;
* ``kary:K``: a full K-ary tree filled level by level (ranks < K, in rank
  order within a level), ``sum over its nodes of prod m_r``;
* ``static``: the tree optimised for the positional vector ``m`` (Sequoia /
  Medusa style), from :mod:`speedoflight.simulation.positional`;

and, by simulation (it adapts to each node's distribution as the drafter sees
it), ``dynamic:K:Q[:D]``: EAGLE-2's dynamic tree with a drafter whose
log-probabilities carry Gaussian noise of Q nats (:func:`dynamic_curve`).

The adaptive optimum E[X*(P)] sees each node's own distribution, so it is at
least as large as every static tree; :func:`speedoflight.simulation.simulate.simulate`
gives it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._config import DEFAULT_CONFIDENCE
from .._util.stats import t_interval
from ..errors import InputError
from ..kernels import tree as KT
from .positional import best_tree
from .simulate import Distribution, _seeds

__all__ = [
    "POLICIES",
    "DynamicResult",
    "against_optimum",
    "dynamic_curve",
    "mean_rank_probabilities",
    "parse_dynamic",
    "policy_curve",
]

POLICIES = ("optimal", "chain", "kary:K", "static", "dynamic:K:Q[:D]")


def mean_rank_probabilities(dist: Distribution, seed: int = 0, samples: int = 20000) -> np.ndarray:
    """``m_r``: the mean r-th largest probability of a node's distribution.

    Exact for pools and fixed families; for ``dirichlet`` estimated from
    ``samples`` seeded draws.

    Parameters
    ----------
    dist
        The node distribution: a pool or fixed family (``neglogp`` rows), or ``dirichlet``.
    seed
        Seed of the Dirichlet draws (unused otherwise).
    samples
        Dirichlet draws averaged (unused otherwise).

    Returns
    -------
    ndarray
        ``m[r]``, r = 0 (the largest probability) up to the row width (V for ``dirichlet``); padded
        ranks of a pool count as probability 0.

    """
    if dist.neglogp is not None:
        return np.exp(-dist.neglogp).mean(axis=0)
    assert dist.dirichlet is not None
    a, v = dist.dirichlet
    rows = np.random.default_rng(seed).dirichlet(np.full(v, a), size=samples)
    return -np.sort(-rows, axis=1).mean(axis=0)


def _kary(m: np.ndarray, k: int, p: np.ndarray) -> np.ndarray:
    if k < 1:
        raise InputError(f"kary:K needs K >= 1, got {k}")
    w = m[:k]
    pmax = int(p.max())
    values = np.empty(pmax)
    level = np.array([1.0])
    done = 0
    while done < pmax:
        level = (level[:, None] * w[None, :]).ravel()  # lexicographic (parent, rank) order
        take = min(len(level), pmax - done)
        values[done : done + take] = level[:take]
        done += take
        if not np.any(level > 0):
            values[done:] = 0.0
            break
    return np.cumsum(values)[p.astype(np.int64) - 1]


def policy_curve(policy: str, dist: Distribution, p: np.ndarray, seed: int = 0) -> np.ndarray:
    """Exact E[X] of a practical tree of each size in ``p`` under the i.i.d. model of ``dist``.

    Parameters
    ----------
    policy
        ``"chain"``, ``"kary:K"`` or ``"static"`` (see the module docstring); ``optimal`` and
        ``dynamic:K:Q[:D]`` are computed by :func:`speedoflight.simulation.simulate.simulate` and
        :func:`dynamic_curve` instead.
    dist
        The node distribution, through its mean rank probabilities (:func:`mean_rank_probabilities`).
    p
        Tree sizes (draft tokens per verifier call), each >= 1.
    seed
        Seed of the Dirichlet draws that estimate ``m_r`` for ``dirichlet`` (unused otherwise).

    Returns
    -------
    ndarray
        E[X] (expected accepted draft tokens per verifier call) of the policy's tree at each size in ``p``.

    Raises
    ------
    InputError
        When ``policy`` is not one of the three, or K of ``kary:K`` is not an integer >= 1.

    """
    pp = np.asarray(p, dtype=np.int64)
    m = mean_rank_probabilities(dist, seed)
    if policy == "chain":
        n = np.arange(1, int(pp.max()) + 1)
        return np.cumsum(m[0] ** n)[pp - 1]
    if policy.startswith("kary:"):
        try:
            k = int(policy.split(":", 1)[1])
        except ValueError:
            raise InputError(f"{{policy}} {policy!r}: expected kary:K with an integer K", param="policy") from None
        return _kary(m, k, pp)
    if policy == "static":
        keep = m[m > 0]
        if keep.sum() > 1:  # rounding
            keep = keep / keep.sum()
        return best_tree(keep, int(pp.max())).expected_accepted[pp - 1]
    raise InputError(f"{{policy}} {policy!r} is not one of {', '.join(POLICIES)}", param="policy")


@dataclass(frozen=True)
class DynamicResult:
    """E[X] of EAGLE-2-style dynamic trees over replicates, with the settings behind them."""

    P: np.ndarray
    mean: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    k: int
    noise: float
    steps: int
    generated: int  # nodes generated per replicate (trees larger than this are not possible)
    per_replicate: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    same_trees: bool = False  # replicate i grew on the tree of replicate i of simulate(..., seed=seed)


def parse_dynamic(policy: str) -> tuple[int, float, int | None]:
    """Parse ``dynamic:K:Q[:D]`` (top-K expansion, drafter noise Q nats, D expansion steps).

    Parameters
    ----------
    policy
        The policy string, e.g. ``"dynamic:8:0.5"`` or ``"dynamic:8:0.5:6"``.

    Returns
    -------
    tuple
        ``(K, Q, D)``: K >= 1, finite Q >= 0, and D >= 1 or None when it is not given.

    Raises
    ------
    InputError
        When the string is not of that form or a value is out of range.

    """
    parts = policy.split(":")
    try:
        if parts[0] != "dynamic" or len(parts) not in (3, 4):
            raise ValueError
        k, q = int(parts[1]), float(parts[2])
        d = int(parts[3]) if len(parts) == 4 else None
        if k < 1 or q < 0 or not math.isfinite(q) or (d is not None and d < 1):
            raise ValueError
    except ValueError:
        raise InputError(
            f"{{policy}} {policy!r}: expected dynamic:K:Q[:D] with K >= 1 (top-K expansion per step), "
            "Q >= 0 (drafter noise in nats; 0 = the verifier's own distributions) and D >= 1 steps",
            param="policy",
        ) from None
    return k, q, d


def dynamic_curve(
    dist: Distribution,
    pmax: int,
    at: np.ndarray,
    *,
    k: int,
    noise: float,
    steps: int | None = None,
    replicates: int = 100,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> DynamicResult:
    """Simulate EAGLE-2-style dynamic draft trees (Li et al. 2024) under the i.i.d. model.

    Every expanded node draws a verifier distribution ``p`` (as the optimal
    simulator does); the drafter sees ``q = softmax(log p + noise * N(0, 1))``.
    Expansion: the root's top-K children by ``q``; then ``steps - 1`` times,
    the K frontier nodes of largest drafter path value ``prod q`` each add
    their top-K children. Reranking: the P generated nodes of largest drafter
    path value form the tree (ancestor-closed, since values fall along paths).
    E[X | tree] is the sum of the chosen nodes' verifier path probabilities.
    ``steps`` defaults to EAGLE-2's depth of 6, or more when 6 steps cannot
    generate Pmax nodes.

    For a pool or a fixed family, replicate ``i`` grows on the same random
    tree as replicate ``i`` of :func:`speedoflight.simulation.simulate.simulate`
    with the same ``seed`` (a node's row is the hash of its identity,
    docs/theory.md section 5.4): the comparison with the optimum is paired,
    and each replicate's value is at most the optimum's on that tree, exactly,
    at every P. Only the drafter's noise is drawn from a generator of its own.
    For ``dirichlet`` the rows are fresh draws from that generator (not paired).

    Parameters
    ----------
    dist
        The verifier's node distribution: a pool or fixed family (``neglogp`` rows, the row of a node
        given by the seeded tree), or ``dirichlet`` (a fresh draw per node).
    pmax
        Largest tree size wanted (sets the default ``steps``).
    at
        Tree sizes P (draft tokens per verifier call) to report; a P above the nodes a replicate
        generated gets the E[X] of all of them.
    k
        Top-K: children added per expanded node, and frontier nodes expanded per step.
    noise
        Standard deviation Q, in nats, of the Gaussian noise on the drafter's log-probabilities
        (0: the drafter ranks tokens as the verifier does).
    steps
        Expansion steps, the root's included (the tree's largest depth); None: the default above.
    replicates
        Independent trees, each from its own seed spawned from ``seed`` (as the simulator spawns them).
    seed
        Seed of the replicates.
    confidence
        Two-sided coverage of the Student-t interval over replicates.

    Returns
    -------
    DynamicResult
        Mean, standard error and interval of E[X] (expected accepted draft tokens per verifier call)
        at each size in ``at``, with ``k``, ``noise``, the ``steps`` used, the nodes generated by the
        last replicate, the per-replicate values ``[replicates, len(at)]`` and whether the trees are
        the simulator's (``same_trees``).

    """
    pp = np.asarray(at, dtype=np.int64)
    if steps is None:
        steps = max(6, 1 + max(0, math.ceil((pmax - k) / (k * k))))
    probs = None if dist.neglogp is None else np.exp(-dist.neglogp)
    trees = _seeds(seed, replicates)  # the simulator's own replicate seeds: replicate i grows on its tree i
    children = np.random.SeedSequence(seed).spawn(replicates)  # the drafter's noise
    values = np.zeros((replicates, len(pp)))
    generated = 0

    for rep in range(replicates):
        rng = np.random.default_rng(children[rep])

        def draw(node: np.uint64, rng: np.random.Generator = rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """Return the node's top-K: the verifier's and the drafter's probabilities, and their ranks."""
            if probs is not None:
                p = probs[KT.row_of(node, len(probs))]
            else:
                assert dist.dirichlet is not None
                a, v = dist.dirichlet
                p = rng.dirichlet(np.full(v, a))
            with np.errstate(divide="ignore"):
                logq = np.log(p) + noise * rng.standard_normal(p.shape[0])
            logq -= logq.max()
            q = np.exp(logq)
            q /= q.sum()
            top = np.argsort(-q, kind="stable")[:k]
            top = top[p[top] > 0] if noise == 0 else top
            return p[top], q[top], top

        # (verifier path probability, drafter path value, node id) of each generated node
        pis: list[float] = []
        vals: list[float] = []
        parents = [(1.0, 1.0, np.uint64(KT.root_id(int(trees[rep]))))]
        for _ in range(steps):
            nxt = []
            for pi, v, node in parents:
                pc, qc, ranks = draw(node)
                for a, b, r in zip(pc, qc, ranks, strict=True):
                    pis.append(pi * a)
                    vals.append(v * b)
                    nxt.append((pi * a, v * b, np.uint64(KT.child_id(node, int(r)))))
            parents = sorted(nxt, key=lambda t: -t[1])[:k]  # the K frontier nodes of largest drafter value
            if not parents:
                break
        order = np.argsort(-np.asarray(vals), kind="stable")
        cum = np.cumsum(np.asarray(pis)[order])
        generated = len(cum)
        values[rep] = cum[np.minimum(pp, len(cum)) - 1]
    mean, se, lo, hi = t_interval(values, confidence)
    return DynamicResult(
        P=pp,
        mean=mean,
        se=se,
        ci_low=lo,
        ci_high=hi,
        k=k,
        noise=noise,
        steps=steps,
        generated=generated,
        per_replicate=values,
        same_trees=probs is not None,
    )


def against_optimum(
    policy: str, dist: Distribution, optimum: Any, pmax: int, *, dynamic: tuple[int, float, int | None] | None = None
) -> dict[str, Any]:
    """Return a practical policy's curve beside the simulated optimum, at the optimum's P.

    Parameters
    ----------
    policy
        The policy's name (``chain``, ``kary:K``, ``static``, or ``dynamic:...``).
    dist
        Where node distributions come from (the optimum's too).
    optimum
        The :class:`~speedoflight.simulation.simulate.SimulationResult` of the optimal tree on ``dist``.
    pmax
        The largest tree size simulated (the optimum's ``pmax``; its ``P`` may stop below it).
    dynamic
        ``(top_k, noise, steps)`` from :func:`parse_dynamic` for a dynamic (EAGLE-2 style) policy, simulated with
        the optimum's replicates and seed (for a pool, on the optimum's own trees: paired); None for the static policies, which are exact under the i.i.d. model.

    Returns
    -------
    dict
        ``policy``, ``mean``, ``se``, ``ci_low``, ``ci_high``, ``tokens_per_call`` (mean + 1), ``exact``,
        ``optimal_mean``, ``optimal_ci_low``, ``optimal_ci_high``, ``fraction_of_optimum`` (lists over P), and
        for a dynamic policy ``dynamic`` (its settings and nodes generated).

    """
    res = optimum
    if dynamic is not None:
        k, noise, steps = dynamic
        dyn = dynamic_curve(dist, pmax, res.P, k=k, noise=noise, steps=steps, replicates=res.replicates, seed=res.seed)
        mean, se, lo, hi = dyn.mean, dyn.se, dyn.ci_low, dyn.ci_high
        extra: dict[str, Any] = {
            "exact": False,
            "dynamic": {
                "top_k": dyn.k,
                "drafter_noise_nats": dyn.noise,
                "steps": dyn.steps,
                "generated_nodes": dyn.generated,
                "same_trees_as_optimum": dyn.same_trees,
            },
        }
    else:
        mean = policy_curve(policy, dist, res.P, seed=res.seed)
        se, lo, hi = np.zeros(len(mean)), mean, mean
        extra = {"exact": True}
    out = {
        "policy": policy,
        "mean": mean.tolist(),
        "se": se.tolist(),
        "ci_low": lo.tolist(),
        "ci_high": hi.tolist(),
        "tokens_per_call": (mean + 1).tolist(),
        **extra,
        "optimal_mean": res.mean.tolist(),
        "optimal_ci_low": res.ci_low.tolist(),
        "optimal_ci_high": res.ci_high.tolist(),
        "fraction_of_optimum": (mean / res.mean).tolist(),
    }
    return out
