"""HiSpec's hierarchy: closed form against enumeration and Monte Carlo, and the CLI on paired dumps."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from speedoflight.beyond.classic import expected_tokens
from speedoflight.beyond.hierarchy import (
    Costs,
    best_single,
    hierarchical,
    round_pgf,
    simulate_bernoulli,
    simulate_tokens,
    single_stage,
)
from speedoflight.cli.app import main

from .pairs import make_views


def enumerate_tokens(a1, a2, gamma, rounds):
    """E[N2 + 1] by summing over every round outcome (independent stages)."""
    outcomes = [(j + 1, (1 - a1) * a1**j) for j in range(gamma)] + [(gamma + 1, a1**gamma)]
    total = 0.0
    for combo in itertools.product(outcomes, repeat=rounds):
        b = sum(c[0] for c in combo)
        w = np.prod([c[1] for c in combo])
        total += w * sum(a2**j for j in range(b + 1))
    return total


@pytest.mark.parametrize(
    ("a1", "a2", "gamma", "rounds"), [(0.7, 0.8, 3, 2), (0.2, 0.5, 1, 3), (0.9, 0.95, 4, 1), (1.0, 0.6, 2, 2)]
)
def test_closed_form_against_enumeration(a1, a2, gamma, rounds):
    assert hierarchical(a1, a2, gamma, rounds, Costs(0.1, 0.3))["tokens"] == pytest.approx(
        enumerate_tokens(a1, a2, gamma, rounds), rel=1e-12
    )


def test_round_pgf():
    assert round_pgf(0.6, 4, 1.0) == pytest.approx(1.0)
    h = 1e-6
    mean = (round_pgf(0.6, 4, 1 + h) - round_pgf(0.6, 4, 1 - h)) / (2 * h)
    assert mean == pytest.approx(float(expected_tokens(0.6, 4)), rel=1e-6)


def test_perfect_target_stage_keeps_the_whole_buffer():
    h = hierarchical(0.5, 1.0, 3, 2, Costs(0.1, 0.3))
    assert h["tokens"] == pytest.approx(h["buffer"] + 1)
    assert h["cost"] == pytest.approx(2 * (3 * 0.1 + 0.3) + 1)


@pytest.mark.parametrize(("a1", "a2", "gamma", "rounds"), [(0.7, 0.8, 3, 2), (0.4, 0.9, 5, 3)])
def test_bernoulli_monte_carlo(a1, a2, gamma, rounds):
    mc = simulate_bernoulli(a1, a2, gamma, rounds, 200_000, np.random.default_rng(0))
    exact = hierarchical(a1, a2, gamma, rounds, Costs(0.1, 0.3))["tokens"]
    assert abs(mc.mean() - exact) < 4.5 * mc.std(ddof=1) / np.sqrt(len(mc))


def test_token_level_simulation_where_the_stages_are_independent():
    # the draft equals the intermediate: stage 1 always accepts, so the buffer is fixed and the stages independent
    rng = np.random.default_rng(1)
    p_t = rng.dirichlet(np.ones(6), size=20)
    p_m = rng.dirichlet(np.ones(6), size=20)
    tok = simulate_tokens(p_t, p_m, p_m, 2, 2, 20_000, rng)
    a2 = np.minimum(p_t, p_m).sum(axis=1).mean()
    exact = hierarchical(1.0, a2, 2, 2, Costs(0.1, 0.3))["tokens"]
    assert abs(tok.mean() - exact) < 4.5 * tok.std(ddof=1) / np.sqrt(len(tok))


def test_single_stage_is_the_classical_chain():
    s = single_stage(0.6, 4, 0.05)
    assert s["tokens"] == pytest.approx(float(expected_tokens(0.6, 4)))
    assert s["throughput"] == pytest.approx(s["tokens"] / 1.2)
    assert best_single(0.6, 1.0)["gamma"] == 0


def test_hierarchy_cli_alphas(capsys):
    code = main(
        [
            "hierarchy",
            "--alphas",
            "0.8,0.9,0.7",
            "--cost-draft",
            "0.05",
            "--cost-intermediate",
            "0.3",
            "--gamma",
            "3",
            "--rounds",
            "2",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    d = json.loads(out.out)
    assert d["chosen"]["tokens"] == pytest.approx(enumerate_tokens(0.8, 0.9, 3, 2))
    assert abs(d["monte_carlo"]["tokens"] - d["chosen"]["tokens"]) < 4.5 * d["monte_carlo"]["se"]
    assert d["best"]["hierarchical"]["throughput"] >= d["chosen"]["throughput"]


def test_hierarchy_cli_paired_dumps(tmp_path, capsys):
    paths, dists = make_views(tmp_path, layers=(3, 8), n_layers=12)
    code = main(
        [
            "hierarchy",
            "--target",
            paths[-1],
            "--intermediate",
            paths[1],
            "--draft",
            paths[0],
            "--simulate",
            "2000",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    d = json.loads(out.out)
    a_dm = np.minimum(dists[0], dists[1]).sum(axis=1).mean()
    assert d["alphas"]["a_dm"] == pytest.approx(a_dm)
    assert d["costs"]["draft"] == pytest.approx(3 / 12)
    assert d["costs"]["intermediate"] == pytest.approx(8 / 12)
    assert d["token_level"]["tokens"] > 1.0


def test_hierarchy_cli_errors(capsys):
    assert main(["hierarchy", "--alphas", "0.8,1.2,0.7", "--cost-draft", "0.1", "--cost-intermediate", "0.3"]) == 2
    assert "[0, 1]" in capsys.readouterr().err
    assert main(["hierarchy", "--alphas", "0.8,0.9,0.7"]) == 2
    assert "cost" in capsys.readouterr().err
