"""The Markov-chain view: rejections as a sum of TV, optimality by LP, several drafts, the trade-off."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from speedoflight.beyond.markov import (
    expected_rejections,
    lp_acceptance,
    multi_draft_rejection,
    simulate_rejections,
    tradeoff,
)
from speedoflight.cli.app import main
from speedoflight.readers.pairs import Pair, read_pair

from .pairs import brute_alpha, make_views


def test_expected_rejections_is_the_sum_of_tv_by_hand():
    alpha = np.array([0.5, 1.0, 0.2, 0.9, 0.9, 0.6])
    pair = Pair(
        "t", "d", alpha, alpha, alpha, "full rows", seq=np.array([0, 0, 0, 1, 1, 1]), pos=np.tile(np.arange(3), 2)
    )
    r = expected_rejections(pair)
    # sequence 0: .5 + 0 + .8 = 1.3; sequence 1: .1 + .1 + .4 = .6
    assert r.rejections == pytest.approx(0.95)
    assert r.sequences == 2
    assert r.tv_per_token == pytest.approx(1 - alpha.mean())


def test_two_drafts_by_hand():
    p = np.array([[0.7, 0.3]])
    q = np.array([[0.4, 0.6]])
    assert multi_draft_rejection(p, q, 1)[0] == pytest.approx(0.3)
    # after a rejection the residual is (1, 0); the second draft hits token 0 with probability .4
    assert multi_draft_rejection(p, q, 2)[0] == pytest.approx(0.3 * 0.6)


@pytest.mark.parametrize(("drafts", "scale"), [(1, 1.0), (2, 1.0), (3, 0.5)])
def test_simulator_agrees_and_keeps_the_target_distribution(drafts, scale):
    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.full(6, 0.5), size=4)
    q = rng.dirichlet(np.full(6, 0.5), size=4)
    rej, tokens = simulate_rejections(p, q, 60_000, rng, drafts=drafts, scale=scale)
    exact = multi_draft_rejection(p, q, drafts, scale).sum()
    assert abs(rej.mean() - exact) < 4.5 * rej.std(ddof=1) / np.sqrt(len(rej))
    for t in range(4):
        counts = np.bincount(tokens[:, t], minlength=6)
        keep = p[t] > 1e-3
        assert stats.chisquare(counts[keep], counts[keep].sum() * p[t][keep] / p[t][keep].sum()).pvalue > 1e-4


def test_speculative_sampling_is_the_optimal_rule():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.full(6, 0.5), size=5)
    q = rng.dirichlet(np.full(6, 0.5), size=5)
    best = multi_draft_rejection(p, q, 1)
    np.testing.assert_allclose(best, 1 - np.array([brute_alpha(a, b) for a, b in zip(p, q, strict=True)]))
    # any weaker valid rule rejects more
    for scale in (0.9, 0.5, 0.1):
        assert np.all(multi_draft_rejection(p, q, 1, scale) >= best - 1e-15)
    # and no acceptance rule at all (a linear program over every rule that keeps the output exact) does better
    for a, b in zip(p, q, strict=True):
        assert lp_acceptance(a, b) == pytest.approx(brute_alpha(a, b), abs=1e-9)


@pytest.mark.parametrize("eps", [0.0, 0.03, 0.2, 0.7])
def test_lp_tradeoff_matches_the_closed_form(eps):
    rng = np.random.default_rng(3)
    for _ in range(4):
        p, q = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
        assert lp_acceptance(p, q, eps) == pytest.approx(min(1.0, brute_alpha(p, q) + eps), abs=1e-9)


def test_tradeoff_curve(tmp_path):
    paths, _ = make_views(tmp_path)
    pair = read_pair(paths[-1], paths[0], keep_rows=True)
    curve = tradeoff(pair, np.array([0.0, 0.1, 1.0]), lp_rows=5)
    assert curve["rejections"][0] == pytest.approx(expected_rejections(pair).rejections)
    assert curve["rejections"][-1] == 0.0
    np.testing.assert_allclose(curve["lp_acceptance"], curve["closed_acceptance"], atol=1e-9)


def test_markov_cli(tmp_path, capsys):
    paths, dists = make_views(tmp_path)
    plot = tmp_path / "front.png"
    code = main(
        [
            "markov",
            "--target",
            paths[-1],
            "--draft",
            paths[1],
            "--simulate",
            "50",
            "--lp-rows",
            "5",
            "--plot",
            str(plot),
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    d = json.loads(out.out)
    tv = 1 - np.minimum(dists[-1], dists[1]).sum(axis=1)
    assert d["expected_rejections"] == pytest.approx(tv.reshape(6, 8).sum(axis=1).mean())
    assert d["lp_optimality_max_gap"] < 1e-8
    assert [b["drafts"] for b in d["batch"]] == [1, 2, 4]
    rej = [b["expected_rejections"] for b in d["batch"]]
    assert rej[0] > rej[1] > rej[2]
    assert plot.stat().st_size > 0
    assert main(["markov", "--target", paths[-1], "--draft", paths[1], "--drafts", "0"]) == 2


@pytest.mark.e2e
def test_the_lp_is_solved_on_every_shipped_row():
    """Every row of the shipped SmolLM2 / early-exit-8 pair (any --seed picks among them): the LP finds
    sum min(p, q), and min(1, sum min(p, q) + eps) with a distortion budget. HiGHS's presolve once called six
    near-deterministic rows infeasible (seeds 5 and 6 of `speedoflight markov` picked them)."""
    import os

    from speedoflight.readers.pairs import read_pair

    data = os.path.join(os.path.dirname(__file__), "..", "data", "pair")
    pair = read_pair(
        os.path.join(data, "smollm2-t1.npz"), os.path.join(data, "smollm2-t1-early-exit-8.npz"), keep_rows=True
    )
    p, q = pair.rows
    closed = np.minimum(p, q).sum(axis=1)
    for i in range(len(p)):
        assert lp_acceptance(p[i], q[i]) == pytest.approx(closed[i], abs=1e-6), i  # HiGHS works to ~1e-7
    for i in (805, 807, 810, 1862, 1914, 1989, 0, 1000):
        assert lp_acceptance(p[i], q[i], 0.05) == pytest.approx(min(1.0, closed[i] + 0.05), abs=1e-6), i
