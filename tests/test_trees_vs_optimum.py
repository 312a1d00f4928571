"""No practical draft tree beats the optimal tree beyond the optimum's own interval (issue 30).

Notebook 06 once printed EAGLE-2 with a perfect drafter at 1.10x the simulated optimum (P = 4) and a chain at
1.05x (P = 1). Measured: Monte Carlo noise, not a bug. The optimum came from 200 replicates (seed 0, about two
standard errors low at P = 4 against an independent reference), the chain, k-ary and static trees are exact
expectations, and EAGLE-2 grew on trees of its own. Now EAGLE-2 grows on the simulator's trees (replicate i on
the tree of replicate i), so it is paired with the optimum and can exceed it in no replicate.

Expected values here come from mathematics, computed in this file: E[max p] at P = 1, a closed form at P = 2,
and, for a two-row pool of three tokens, every realisation of the tree and every ancestor-closed tree of up to
three nodes enumerated by brute force.
"""

from __future__ import annotations

import itertools
import pathlib

import numpy as np
import pytest

from speedoflight.simulation.policies import dynamic_curve, policy_curve
from speedoflight.simulation.simulate import Distribution, pool, simulate

DUMP = pathlib.Path(__file__).resolve().parent.parent / "data" / "smollm2-t1.npz"
STATIC = ("chain", "kary:2", "kary:4", "static")
#: The optimum's intervals here are 99.9% ones: at P = 1 a practical tree equals the optimum exactly, so a 95%
#: interval would leave it outside for one seed in 40 (seed 0's first 4,000 replicates are 2.2 standard errors low).
CONFIDENCE = 0.999


def _raw_rows() -> np.ndarray:
    """The shipped dump's top-64 probabilities, decreasing, read with numpy alone (not through the pool)."""
    with np.load(DUMP) as z:
        lp = z["topk_logprobs"].astype(np.float64)
    return -np.sort(-np.exp(lp), axis=1)


def _exact_p1_p2(rows: np.ndarray) -> tuple[float, float]:
    """E[X*(1)] = E[p1] and E[X*(2)] = E[p1 + max(p2, p1 q1)], q1 the top probability of an independent row.

    At P = 2 the best tree is the top node plus the better of its next sibling (p2) and its first child
    (p1 times the child's own largest probability); the expectation over independent rows is summed exactly
    against the sorted child maxima.
    """
    p1, p2 = rows[:, 0], rows[:, 1]
    q = np.sort(rows[:, 0])
    tail = np.concatenate([np.cumsum(q[::-1])[::-1], [0.0]])  # tail[j] = sum of q[j:]
    j = np.searchsorted(q, p2 / p1, side="right")  # children with q <= p2 / p1 lose to the sibling
    second = (j * p2 + p1 * tail[j]) / len(q)
    return float(p1.mean()), float((p1 + second).mean())


@pytest.fixture(scope="module")
def shipped():
    dist = pool(str(DUMP), tail="drop")
    at = np.unique(np.round(np.geomspace(1, 1024, 25))).astype(np.int64)  # notebook 06's sizes
    return dist, at


def test_the_optimum_at_p1_and_p2_is_the_closed_form_on_the_shipped_pool(shipped):
    dist, _ = shipped
    e1, e2 = _exact_p1_p2(_raw_rows())
    opt = simulate(dist, 2, replicates=20000, seed=0, at=[1, 2], confidence=CONFIDENCE)
    assert opt.ci_low[0] <= e1 <= opt.ci_high[0]
    assert opt.ci_low[1] <= e2 <= opt.ci_high[1]
    # every practical tree of one node is the top token: exactly the optimum
    for name in STATIC:
        assert policy_curve(name, dist, np.array([1]))[0] == pytest.approx(e1, rel=1e-9)


def test_eagle2_never_exceeds_the_optimum_on_the_same_trees(shipped):
    """Notebook 06's settings: 200 replicates, seed 0, K = 10, drafter noise 0 and 1 nat."""
    dist, at = shipped
    opt = simulate(dist, 1024, replicates=200, seed=0, at=at)
    for noise in (0.0, 1.0):
        dyn = dynamic_curve(dist, 1024, at, k=10, noise=noise, replicates=200, seed=0)
        assert np.all(dyn.mean <= opt.mean + 1e-12), (noise, (dyn.mean / opt.mean).max())
        # paired: EAGLE-2's tree is one ancestor-closed tree of the same random tree, the optimum the best one
        assert np.all(dyn.per_replicate <= opt.per_replicate + 1e-12)
    perfect = dynamic_curve(dist, 1024, at, k=10, noise=0.0, replicates=200, seed=0)
    np.testing.assert_allclose(perfect.per_replicate[:, 0], opt.per_replicate[:, 0])  # P = 1: the top token


def test_exact_practical_trees_stay_within_the_optimums_interval(shipped):
    dist, at = shipped
    opt = simulate(dist, 1024, replicates=2000, seed=0, at=at, confidence=CONFIDENCE)
    for name in STATIC:
        v = policy_curve(name, dist, at)
        assert np.all(v <= opt.ci_high), (name, at[v > opt.ci_high])
    # beyond one node the adaptive optimum is clearly above the best static tree
    assert np.all(policy_curve("static", dist, at)[at >= 4] < opt.ci_low[at >= 4])


# --- a pool small enough to enumerate -------------------------------------------------------------

ROWS = np.array([[0.9, 0.06, 0.04], [0.34, 0.33, 0.33]])
WIDTH = ROWS.shape[1]


def _closed_trees(size: int) -> set[frozenset[tuple[int, ...]]]:
    """Every ancestor-closed set of ``size`` nodes (rank paths below the root) of the full ternary tree."""
    trees = {frozenset()}
    for _ in range(size):
        grown = set()
        for t in trees:
            for v in [(), *t]:
                for r in range(WIDTH):
                    c = (*v, r)
                    if c not in t:
                        grown.add(t | {c})
        trees = grown
    return trees


def _brute_force(pmax: int) -> tuple[np.ndarray, dict[tuple[int, ...], float]]:
    """E[X*(P)], P = 1..pmax, by enumeration: every row assignment to the nodes that can have children.

    A tree of at most ``pmax`` nodes reaches depth ``pmax``, so only nodes at depth < ``pmax`` need a row.
    Returns the optimum per P and E[sum of path products] of every ancestor-closed tree of ``pmax`` nodes.
    """
    internal = [v for d in range(pmax) for v in itertools.product(range(WIDTH), repeat=d)]
    trees = {n: _closed_trees(n) for n in range(1, pmax + 1)}
    best = np.zeros(pmax)
    fixed = dict.fromkeys(trees[pmax], 0.0)
    count = 0
    for assignment in itertools.product(range(len(ROWS)), repeat=len(internal)):
        row = dict(zip(internal, assignment, strict=True))
        pi = {(): 1.0}
        for v in sorted({u for t in trees[pmax] for u in t}, key=len):
            pi[v] = pi[v[:-1]] * ROWS[row[v[:-1]], v[-1]]
        for n in range(1, pmax + 1):
            best[n - 1] += max(sum(pi[v] for v in t) for t in trees[n])
        for t in fixed:
            fixed[t] += sum(pi[v] for v in t)
        count += 1
    return best / count, {t: s / count for t, s in fixed.items()}


@pytest.fixture(scope="module")
def tiny():
    dist = Distribution("two rows", neglogp=np.ascontiguousarray(-np.log(ROWS)))
    exact, fixed = _brute_force(3)
    return dist, exact, fixed


def test_brute_force_reference_agrees_with_the_closed_forms(tiny):
    _, exact, fixed = tiny
    assert exact[0] == pytest.approx(ROWS[:, 0].mean())  # P = 1: E[max p]
    assert exact[1] == pytest.approx(_exact_p1_p2(ROWS)[1])
    # no fixed tree of three nodes beats the optimum of three nodes, and the best fixed tree is below it
    assert max(fixed.values()) < exact[2] - 0.01


def test_no_construction_exceeds_the_enumerated_optimum(tiny):
    dist, exact, fixed = tiny
    at = np.array([1, 2, 3])
    opt = simulate(dist, 3, replicates=4000, seed=0, at=at, confidence=CONFIDENCE)
    assert np.all((opt.ci_low <= exact) & (exact <= opt.ci_high))
    for name in STATIC:
        v = policy_curve(name, dist, at)
        assert np.all(v <= exact + 1e-12), name
    # the static tree is the best fixed tree, as the enumeration finds it
    assert policy_curve("static", dist, at)[-1] == pytest.approx(max(fixed.values()))
    for noise in (0.0, 1.0):
        dyn = dynamic_curve(dist, 3, at, k=3, noise=noise, replicates=4000, seed=0, confidence=CONFIDENCE)
        assert np.all(dyn.ci_low <= exact), noise
        assert np.all(dyn.per_replicate <= opt.per_replicate + 1e-12), noise
