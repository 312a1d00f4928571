"""Practical trees (chain, k-ary, static) under the i.i.d. model: exact forms against Monte Carlo."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speedoflight.errors import InputError
from speedoflight.simulation.policies import dynamic_curve, mean_rank_probabilities, parse_dynamic, policy_curve
from speedoflight.simulation.positional import best_tree
from speedoflight.simulation.simulate import Distribution, family, simulate

from .helpers import assert_user_error, run


def small_pool(seed=0, n=50, v=8, alpha=0.5):
    rows = np.random.default_rng(seed).dirichlet(np.full(v, alpha), size=n)
    with np.errstate(divide="ignore"):
        return Distribution("test pool", neglogp=np.ascontiguousarray(np.sort(-np.log(rows), axis=1))), rows


def mc_paths(rows, paths, reps, rng):
    """Monte Carlo E[sum of path products] for fixed rank paths, each expanded node drawing a random row."""
    probs = -np.sort(-rows, axis=1)
    total = np.zeros(reps)
    for r in range(reps):
        dist_at = {(): probs[rng.integers(len(rows))]}  # each node's own distribution
        prod_at = {(): 1.0}  # each node's path product
        for path in sorted(paths, key=len):
            parent = path[:-1]
            prod_at[path] = prod_at[parent] * dist_at[parent][path[-1]]
            dist_at[path] = probs[rng.integers(len(rows))]
            total[r] += prod_at[path]
    return total.mean(), total.std(ddof=1) / np.sqrt(reps)


def test_chain_and_kary_match_monte_carlo():
    dist, rows = small_pool()
    rng = np.random.default_rng(1)
    chain_paths = [(0,) * n for n in range(1, 6)]
    mean, se = mc_paths(rows, chain_paths, 3000, rng)
    assert abs(policy_curve("chain", dist, np.array([5]))[0] - mean) < 4 * se
    kary_paths = [(a,) for a in range(3)] + [(a, b) for a in range(3) for b in range(3)]
    mean, se = mc_paths(rows, kary_paths, 3000, rng)
    assert abs(policy_curve("kary:3", dist, np.array([12]))[0] - mean) < 4 * se


def test_static_equals_positional_tree_of_mean_ranks():
    dist, _ = small_pool(3)
    m = mean_rank_probabilities(dist)
    p = np.array([1, 5, 40])
    np.testing.assert_allclose(policy_curve("static", dist, p), best_tree(m, 40).expected_accepted[p - 1])


def test_exact_cases():
    p = np.array([1, 2, 6, 14])
    np.testing.assert_allclose(policy_curve("chain", family("deterministic"), p), p)
    # uniform over 2 tokens: the full binary tree is optimal and fills whole levels
    np.testing.assert_allclose(policy_curve("kary:2", family("uniform:2"), p), [0.5, 1, 2, 3])
    np.testing.assert_allclose(policy_curve("chain", family("uniform:2"), p), [0.5, 0.75, 1 - 0.5**6, 1 - 0.5**14])


def test_every_practical_tree_at_most_the_optimum():
    dist, _ = small_pool(5)
    at = np.array([1, 4, 16, 64, 200])
    opt = simulate(dist, 200, replicates=400, seed=2, at=at)
    for pol in ("chain", "kary:2", "kary:3", "static"):
        assert np.all(policy_curve(pol, dist, at) <= opt.ci_high), pol


def test_bad_policy():
    with pytest.raises(InputError):
        policy_curve("kary:x", family("uniform:2"), np.array([1]))
    with pytest.raises(InputError):
        policy_curve("eagle", family("uniform:2"), np.array([1]))


def simulate_json(capsys, policy):
    code, out, _ = run(
        capsys,
        "simulate",
        "--family",
        "uniform:2",
        "--pmax",
        "6",
        "--replicates",
        "3",
        "--policy",
        policy,
        "-P",
        "2,6",
        "--json",
    )
    assert code == 0
    return json.loads(out)


def test_cli_policy_json(capsys):
    d = simulate_json(capsys, "kary:2")
    assert d["policy"] == "kary:2"
    assert d["mean"] == [1.0, 2.0]
    assert d["optimal_mean"] == [1.0, 2.0]
    assert d["fraction_of_optimum"] == [1.0, 1.0]


def test_cli_bad_policy(capsys):
    assert_user_error(capsys, ["simulate", "--family", "uniform:2", "--pmax", "6", "--policy", "bogus"], "bogus")


def test_dynamic_exact_on_uniform():
    # K = 2 on uniform:2 with a perfect drafter: 2 steps generate levels 1 and 2 whole
    r = dynamic_curve(family("uniform:2"), 6, np.array([2, 6]), k=2, noise=0.0, steps=2, replicates=4)
    np.testing.assert_allclose(r.mean, [1.0, 2.0])
    assert r.generated == 6


def test_dynamic_below_optimum_and_worse_with_noise():
    dist, _ = small_pool(9, n=100, v=12, alpha=0.3)
    at = np.array([1, 8, 40])
    opt = simulate(dist, 40, replicates=600, seed=4, at=at)
    perfect = dynamic_curve(dist, 40, at, k=6, noise=0.0, replicates=600, seed=5)
    noisy = dynamic_curve(dist, 40, at, k=6, noise=2.0, replicates=600, seed=5)
    assert np.all(perfect.ci_low <= opt.ci_high)
    assert np.all(noisy.mean[1:] < perfect.mean[1:])
    # with a perfect drafter and enough depth EAGLE-2's tree is close to the optimum
    assert perfect.mean[-1] > 0.9 * opt.mean[-1]


def test_dynamic_reproducible_from_seed():
    dist, _ = small_pool(2)
    a = dynamic_curve(dist, 20, np.array([5, 20]), k=4, noise=0.7, replicates=20, seed=11)
    b = dynamic_curve(dist, 20, np.array([5, 20]), k=4, noise=0.7, replicates=20, seed=11)
    np.testing.assert_array_equal(a.mean, b.mean)


def test_parse_dynamic():
    assert parse_dynamic("dynamic:10:0.5") == (10, 0.5, None)
    assert parse_dynamic("dynamic:4:0:6") == (4, 0.0, 6)
    for bad in ("dynamic:0:1", "dynamic:3:-1", "dynamic:3", "dynamic:a:b", "dynamic:3:1:0"):
        with pytest.raises(InputError):
            parse_dynamic(bad)


def test_cli_dynamic_json(capsys):
    d = simulate_json(capsys, "dynamic:2:0:2")
    assert d["policy"] == "dynamic:2:0:2"
    assert d["mean"] == pytest.approx([1.0, 2.0])
    assert d["dynamic"]["generated_nodes"] == 6
    assert d["exact"] is False
