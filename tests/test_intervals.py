"""Per-root intervals (docs/theory.md section 8.9): the known floor, the draws' spread and the calibration, on exact
and synthetic cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from speedoflight.analysis.interval_fit import calibrate, split_prompts
from speedoflight.analysis.intervals import RootSpread, root_intervals, root_spread
from speedoflight.options import RunOptions
from speedoflight.readers.continuations import grafted_input
from speedoflight.simulation.grafted import optimum

from .helpers import assert_user_error, run
from .test_grafted import _dump, _enumerate_known


def test_the_known_floor_is_the_best_tree_of_the_tries_own_nodes(tmp_path):
    """K(P) is the sum of the P largest path probabilities among the children of known nodes (an exact reference
    enumerated from the dump's arrays), and the grafted tree, which holds all of them, never falls below it."""
    path = tmp_path / "floor.npz"
    _dump(path, prompts=1, conts=6, length=5, k=12, alpha=0.3, seed=2)  # every token listed
    g = grafted_input(str(path))
    probs, _ = _enumerate_known(g, path, 0)
    pmax = 24
    assert len(probs) >= pmax
    s = root_spread(str(path), pmax=pmax, replicates=16)
    np.testing.assert_allclose(s.known[0], np.cumsum(probs[:pmax]), rtol=1e-12)
    assert np.all(s.lower[0] >= s.known[0] - 1e-12)
    assert np.all(s.upper[0] >= s.lower[0] - 1e-12)


def test_the_spread_comes_from_the_same_draws_as_the_mean(tmp_path):
    """The mean is optimum's per-root curve bit for bit; with only the root known, P = 2 is p1 + max(p2, p1 q1) over
    pool rows q, so the spread of the draws is that variable's standard deviation."""
    path = tmp_path / "root.npz"
    _dump(path, prompts=30, conts=1, length=1, k=4, alpha=0.5, seed=1)
    res = optimum(str(path), pmax=2, replicates=4000, run=RunOptions(seed=0), pool="all", tail="both")
    s = root_spread(str(path), pmax=2, replicates=4000, seed=0, pool="all")
    assert np.array_equal(s.lower, res.lower.curves)
    assert np.array_equal(s.upper, res.upper.curves)
    again = root_spread(str(path), pmax=2, replicates=4000, seed=0, pool="all", upper=res.upper.curves)
    assert np.array_equal(again.upper, s.upper)
    assert np.array_equal(again.spread, s.spread)
    g = grafted_input(str(path), pool="all")
    q1 = np.exp(-g.neglogp[g.pool_rows, 0])
    sds = []
    for root in g.prompt_root:
        p1, p2 = np.exp(-g.neglogp[g.node_row[root], :2])
        sds.append(np.std(p1 + np.maximum(p2, p1 * q1)))
    assert np.all(s.spread[:, 0] == 0.0)  # one node: the root's own row
    j = int(np.argmax(sds))
    assert sds[j] > 0.01
    # the sample standard deviation of 4000 draws is within 5% of the pool's (relative error about 1/sqrt(8000))
    assert abs(s.spread[j, 1] / sds[j] - 1) < 0.05


def _synthetic(rng, n, pmax, spread_of_truth=1.0, paths=8):
    """Roots whose exact value is lower + s * Z (Z standard normal): known by construction, no tail, floor 0."""
    lower = rng.uniform(1.0, 3.0, (n, pmax))
    s = rng.uniform(0.05, 0.3, (n, pmax))
    exact = lower + spread_of_truth * s * rng.standard_normal((n, pmax))
    zero = np.zeros((n, pmax))
    idx = np.arange(n)
    return RootSpread(lower, lower.copy(), s, zero, idx, idx, idx, np.full(n, paths)), exact


def _covered(iv, exact):
    return ((iv.low <= exact) & (exact <= iv.high)).mean(axis=0)


def test_the_calibrated_interval_covers_fresh_roots_at_its_rate():
    """Fitted on one set of roots, the interval covers an independent set at 90%; the fitted constant is the
    normal's 95% point (each side may miss 5%)."""
    rng = np.random.default_rng(7)
    fit, fit_exact = _synthetic(rng, 4000, 3)
    c = calibrate([(fit, fit_exact)], rate=0.9)
    assert list(c) == ["several"]
    a, b = c["several"]
    z = stats.norm.ppf(0.95)
    # the 95% quantile of 4000 normal draws: standard error sqrt(.95 * .05 / 4000) / phi(z), about 0.034
    assert np.all(np.abs(np.array(a) - z) < 0.12)
    assert np.all(np.abs(np.array(b) - z) < 0.12)
    new, new_exact = _synthetic(rng, 4000, 3)
    cov = _covered(root_intervals(new, c, rate=0.9), new_exact)
    assert np.all(np.abs(cov - 0.9) < 0.025)  # binomial standard error 0.0047


def test_the_interval_fails_where_the_truth_moves_more_than_the_fit_set_did():
    """If the held-out roots' truth moves twice as far per unit of spread, coverage falls to P(|Z| < z / 2)."""
    rng = np.random.default_rng(8)
    fit, fit_exact = _synthetic(rng, 4000, 2)
    c = calibrate([(fit, fit_exact)], rate=0.9)
    wild, wild_exact = _synthetic(rng, 4000, 2, spread_of_truth=2.0)
    cov = _covered(root_intervals(wild, c, rate=0.9), wild_exact)
    want = 2 * stats.norm.cdf(stats.norm.ppf(0.95) / 2) - 1  # 0.589
    assert np.all(np.abs(cov - want) < 0.04)


def test_the_floor_clips_the_interval_and_constants_never_narrow_it():
    """The low end never drops below the known floor, nor the high end below the lumped estimate; a, b grow in P."""
    rng = np.random.default_rng(9)
    n, pmax = 200, 4
    lower = rng.uniform(1.0, 2.0, (n, pmax))
    known = lower - 0.01
    s = RootSpread(lower, lower + 0.2, np.full((n, pmax), 0.5), known, *(np.arange(n),) * 3, np.full(n, 2))
    iv = root_intervals(s, {"several": ([3.0] * pmax, [1.0] * pmax)})
    assert np.array_equal(iv.low, known)
    np.testing.assert_allclose(iv.high, lower + 0.2 + 0.5)
    exact = lower + 0.1 * np.arange(pmax)  # further from lower as P grows
    a, b = calibrate([(s, exact)], rate=0.8)["several"]
    assert a == sorted(a)
    assert b == sorted(b)
    assert min(a + b) >= 0.0


def test_root_intervals_use_the_last_constants_past_their_end():
    rng = np.random.default_rng(1)
    s, _ = _synthetic(rng, 5, 6)
    iv = root_intervals(s, {"several": ([1.0, 2.0], [1.0, 3.0])})
    assert iv.calibrated_to == {"several": 2}
    np.testing.assert_allclose(iv.high[:, 5], s.upper[:, 5] + 3.0 * s.spread[:, 5])
    with pytest.raises(ValueError, match="group 'one'"):
        root_intervals(_synthetic(rng, 5, 6, paths=1)[0], {"several": ([1.0], [1.0])})


def test_roots_on_one_path_and_on_several_are_calibrated_apart():
    """Two groups whose truth moves differently per unit of spread: each gets its own constant, and each group is
    covered at the rate (one constant for both would over-cover one and under-cover the other)."""
    rng = np.random.default_rng(3)
    one, one_exact = _synthetic(rng, 3000, 1, spread_of_truth=3.0, paths=1)
    many, many_exact = _synthetic(rng, 3000, 1, paths=5)
    c = calibrate([(one, one_exact), (many, many_exact)], rate=0.9)
    z = stats.norm.ppf(0.95)
    assert abs(c["one"][0][0] - 3 * z) < 0.3
    assert abs(c["several"][0][0] - z) < 0.12
    for paths, scale in ((1, 3.0), (3, 1.0)):
        new, new_exact = _synthetic(rng, 3000, 1, spread_of_truth=scale, paths=paths)
        assert abs(_covered(root_intervals(new, c), new_exact)[0] - 0.9) < 0.03


def test_cli_optimum_root_intervals(tmp_path, capsys):
    path = tmp_path / "toy.npz"
    _dump(path)
    out = tmp_path / "o.npz"
    code, text, _ = run(capsys, "optimum", "--dump", str(path), "--pmax", "16", "--root-intervals", "--quiet")
    assert code == 0
    assert "per-root intervals (90%)" in text
    assert "prompt 0" in text
    assert "prompt 2" in text
    code, text, _ = run(
        capsys, "optimum", "--dump", str(path), "--pmax", "16", "--root-intervals", "--json", "--out", str(out)
    )
    assert code == 0
    d = json.loads(text)
    iv = d["root_intervals"]
    assert iv["rate"] == 0.9
    assert "exact optimum" in iv["covers"]
    assert "for 90% of roots" in iv["covers"]
    assert "the other half's roots" in iv["covers"]
    low, high, curves = np.array(iv["low"]), np.array(iv["high"]), np.array(d["curves"])
    assert low.shape == curves.shape == (3, 16)
    assert np.all(low <= curves + 1e-12)
    assert np.all(curves <= high + 1e-12)
    with np.load(out) as z:
        np.testing.assert_array_equal(z["root_interval_low"], low)
        assert json.loads(str(z["metadata"]))["root_intervals"]["rate"] == 0.9
    assert_user_error(capsys, ["optimum", "--dump", str(path), "--replicates", "1", "--root-intervals"], "--replicates")
    # past the largest P the constants were fitted at (128 for both groups), the text says which P's are used
    code, text, _ = run(
        capsys, "optimum", "--dump", str(path), "--pmax", "130", "--replicates", "4", "--root-intervals", "--quiet"
    )
    assert code == 0
    assert "fitted up to P = 128; larger P use P = 128's" in text


@pytest.mark.parametrize("positions", ["8", "0,2"])
def test_interior_roots_are_those_of_optimum(tmp_path, positions):
    path = tmp_path / "toy.npz"
    _dump(path, length=10)
    want = [int(x) for x in positions.split(",")]
    res = optimum(str(path), pmax=8, positions=want, replicates=8, tail="both")
    s = root_spread(str(path), pmax=8, positions=want, replicates=8)
    assert np.array_equal(s.root_seq, res.root_seq)
    assert np.array_equal(s.root_pos, res.root_pos)
    assert np.array_equal(s.lower, res.lower.curves)
    assert math.isfinite(float(s.spread.sum()))


def test_the_split_halves_each_stratum_by_a_seeded_draw():
    """Within each stratum the fit half takes ceil(n / 2) prompts, the draw is the seed's and no other state's, and
    another seed draws another half."""
    strata = {p: ("code" if p % 3 else "prose", p < 10) for p in range(41)}
    fit = split_prompts(strata, seed=0)
    assert fit == split_prompts(dict(reversed(list(strata.items()))), seed=0)  # order of the mapping is irrelevant
    assert fit != split_prompts(strata, seed=1)
    for key in set(strata.values()):
        members = [p for p, k in strata.items() if k == key]
        assert sum(p in fit for p in members) == (len(members) + 1) // 2
    # one stratum of two: each prompt is drawn into the fit half about half the time over seeds
    drawn = [0 in split_prompts({0: "a", 1: "a"}, seed=s) for s in range(400)]
    assert 0.4 < np.mean(drawn) < 0.6  # binomial standard error 0.025
