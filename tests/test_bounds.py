"""Bounds: closed forms, the exact i.i.d. curve, the trajectory bound, sympy forms, timing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from speedoflight.errors import InputError
from speedoflight.kernels import moments as K
from speedoflight.theory import bounds as B
from speedoflight.theory import symbolic as S
from speedoflight.theory.iid import _renewal, atom_pool_from_rows, iid_curve
from speedoflight.theory.trajectory import trajectory_bound
from speedoflight.timing import GPUS, Timing, best_p, speedup

from .reference import renewal_direct, threshold_infimum_brute

BOUNDS = ("lorden", "lorden_log_p", "trivial")


def uniform_rows(k):
    return np.log(np.full((1, k), 1.0 / k))


def moments_of_rows(lp):
    p = np.exp(lp)
    h = -(p * np.where(p > 0, lp, 0)).sum(axis=1)
    m2 = (p * np.where(p > 0, lp, 0) ** 2).sum(axis=1)
    return float(h.mean()), float(m2.mean())


# --- exact cases (docs/theory.md section 5.2) -------------------------------------------------


@pytest.mark.parametrize("k", [2, 3, 7, 50])
def test_uniform_k_exact_curve_and_bounds(k):
    levels = np.arange(1, 6)
    p = np.array([sum(k**i for i in range(1, m + 1)) for m in levels], dtype=float)
    curve = iid_curve(atom_pool_from_rows(uniform_rows(k)), p)
    np.testing.assert_allclose(curve.gain, levels, atol=1e-9)
    # a partial level adds (remaining nodes) * K^-(m+1)
    part = p[1] + 0.3 * k**3
    np.testing.assert_allclose(iid_curve(atom_pool_from_rows(uniform_rows(k)), [part]).gain, 2 + 0.3, atol=1e-9)
    mu, mu2 = math.log(k), math.log(k) ** 2
    for name in BOUNDS:
        assert np.all(B.CLOSED_FORMS[name](mu, mu2, p) >= levels - 1e-9), name
    assert np.all(curve.bound >= levels - 1e-6)
    assert np.all(curve.bound <= B.lorden(mu, mu2, p) + 1e-6)


def test_deterministic_verifier_gives_p_everywhere():
    p = np.array([1, 5, 1e6])
    for fn in B.CLOSED_FORMS.values():
        np.testing.assert_array_equal(fn(0.0, 0.0, p), p)
    row = np.array([[0.0, -np.inf, -np.inf]])
    curve = iid_curve(atom_pool_from_rows(row), p)
    np.testing.assert_array_equal(curve.gain, p)
    np.testing.assert_array_equal(curve.bound, p)


def test_published_form_values():
    mu, mu2 = 2.0, 5.0
    assert B.published(mu, mu2, [100.0])[0] == pytest.approx(7 * math.log(100) / 4)
    assert B.published(mu, mu2, [1.0])[0] == 0.0
    assert B.lorden(mu, mu2, [100.0])[0] == pytest.approx(math.log(200) / 2 + 5 / 4 + 0.5 - 1)
    assert B.lorden_log_p(mu, mu2, [100.0])[0] == pytest.approx(math.log(100) / 2 + 5 / 4)
    assert B.asymptotic(mu, mu2, [100.0])[0] == pytest.approx(math.log(200) / 2 + 5 / 8 - 1)


def test_lorden_is_p_below_mu_p_one():
    np.testing.assert_array_equal(B.lorden(0.1, 0.05, [1.0, 5.0]), [1.0, 5.0])


def test_every_bound_capped_at_p():
    p = np.array([1.0, 2.0, 3.0])
    for name in ("published", "lorden", "lorden_log_p", "asymptotic"):
        assert np.all(B.CLOSED_FORMS[name](0.05, 10.0, p) <= p)


def test_base_two_converts_consistently():
    mu, mu2 = 2.3, 9.1
    c = math.log(2)
    p = np.array([2.0, 64.0, 1e5])
    for fn in B.CLOSED_FORMS.values():
        np.testing.assert_allclose(fn(mu / c, mu2 / c**2, p, base=2), fn(mu, mu2, p), rtol=1e-12)


def test_published_beats_lorden_for_p_at_least_3():
    # docs/theory.md section 4.6: both Lorden forms are below the published one for P >= 3
    rng = np.random.default_rng(0)
    for _ in range(200):
        mu = rng.uniform(0.05, 6)
        mu2 = mu * mu * rng.uniform(1, 5)
        p = np.array([3.0, 10.0, 1e3, 1e9])
        pub = (mu + mu2) * np.log(p) / mu**2
        assert np.all(np.minimum(pub, p) >= B.lorden_log_p(mu, mu2, p) - 1e-9)


# --- random pools -------------------------------------------------------------------------------


def random_pool(seed, n=40, v=30, alpha=0.3):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(v, alpha), size=n)
    with np.errstate(divide="ignore"):
        return np.log(p)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.05, 2.0))
def test_lorden_above_exact_curve_above_zero(seed, alpha):
    lp = random_pool(seed, alpha=alpha)
    mu, mu2 = moments_of_rows(lp)
    p = np.array([1, 2, 5, 30, 400, 1e4, 1e7])
    curve = iid_curve(atom_pool_from_rows(lp, h=0.002), p)
    lord = B.lorden(mu, mu2, p)
    assert np.all(curve.gain >= 0)
    assert np.all(curve.gain <= lord + 1e-3)
    assert np.all(curve.bound <= lord + 1e-3)
    assert np.all(np.diff(curve.gain) >= -1e-9)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.01, 8), st.floats(1.3, 6), st.floats(1, 1e6), st.floats(1.01, 1e3))
def test_monotone_in_p_and_published_in_mu(mu, ratio, p1, factor):
    mu2 = mu * mu * ratio
    p = np.array([p1, p1 * factor])
    for fn in B.CLOSED_FORMS.values():
        v = fn(mu, mu2, p)
        assert v[1] >= v[0] - 1e-12
    assert B.published(mu * 1.1, mu2, p)[1] <= B.published(mu, mu2, p)[1] + 1e-12
    assert B.published(mu, mu2 * 1.1, p)[1] >= B.published(mu, mu2, p)[1] - 1e-12


def test_fft_renewal_matches_direct_convolution():
    rng = np.random.default_rng(3)
    f = rng.random(300) * np.exp(-np.arange(300) * 0.02)
    f *= 0.9 / f.sum()
    f[0] = 0.05
    counts = f * np.exp(np.arange(300) * 0.01)
    for measure, theta in ((f, 0.25), (counts, 1.25)):
        np.testing.assert_allclose(_renewal(measure, 0.01, theta), renewal_direct(measure), rtol=1e-7, atol=1e-12)


def test_grid_error_is_reported_and_small():
    lp = random_pool(5)
    curve = iid_curve(atom_pool_from_rows(lp, h=0.004), [1, 10, 1e3, 1e12])
    assert curve.grid_error.max() < 0.05
    coarse = iid_curve(atom_pool_from_rows(lp, h=0.04), [1, 10, 1e3, 1e12])
    assert coarse.grid_error.max() > curve.grid_error.max()


def test_grid_too_short_for_p_says_so():
    with pytest.raises(InputError, match="t_max"):
        iid_curve(atom_pool_from_rows(uniform_rows(2), t_max=5), [1e9])


def test_tail_drop_below_lump():
    lp = random_pool(7)
    top = -np.sort(-lp, axis=1)[:, :5]
    p = [1, 10, 100, 1e4]
    drop = iid_curve(atom_pool_from_rows(top, full=False, tail="drop"), p).gain
    lump = iid_curve(atom_pool_from_rows(top, full=False, tail="lump"), p).gain
    full = iid_curve(atom_pool_from_rows(lp), p).gain
    assert np.all(drop <= full + 1e-6)
    assert np.all(drop <= lump + 1e-9)


# --- trajectory bound ---------------------------------------------------------------------------


def test_threshold_infimum_matches_brute_force():
    rng = np.random.default_rng(4)
    values = np.sort(rng.exponential(2.0, 60))
    weights = rng.random(60) / 10
    gb = np.concatenate([[0.0], np.cumsum(weights)])
    for p in (1.0, 3.0, 50.0, 1e4):
        got = K.threshold_infimum(values, gb, np.array([p]), values[40])[0]
        assert got == pytest.approx(threshold_infimum_brute(values, weights, p, values[40]), rel=1e-9)


def test_threshold_replicates_equal_one_replicate_at_a_time_bit_for_bit():
    rng = np.random.default_rng(5)
    values = np.sort(rng.exponential(2.0, 300))
    owner = rng.integers(0, 7, 300)
    weights = rng.random((40, 7)) / 50
    p = np.array([1.0, 3.0, 50.0, 1e4])
    idx = np.searchsorted(values, np.linspace(0.0, values[250], 33), side="right")
    reps, g_reps = np.empty((40, 4)), np.empty((40, 33))
    K.threshold_replicates(values, owner, weights, p, values[250], idx, reps, g_reps)
    for b in range(40):
        gb = np.concatenate([[0.0], np.cumsum(weights[b][owner])])  # numpy's own sums
        assert np.array_equal(reps[b], np.minimum(K.threshold_infimum(values, gb, p, values[250]), p))
        assert np.array_equal(g_reps[b], gb[idx])
        brute = [min(threshold_infimum_brute(values, weights[b][owner], x, values[250]), x) for x in p]
        assert reps[b] == pytest.approx(brute, rel=1e-9)


def test_trajectory_on_iid_walks_agrees_with_iid_curve():
    lp = random_pool(11, n=200, v=20, alpha=0.5)
    probs = np.exp(lp)
    rng = np.random.default_rng(12)
    n_prompts, length = 400, 40
    seqs = []
    for _ in range(n_prompts):
        rows = rng.integers(0, len(lp), length)
        toks = [rng.choice(20, p=probs[r]) for r in rows]
        seqs.append(-lp[rows, toks])
    p = np.array([2.0, 16.0, 200.0])
    tb = trajectory_bound(seqs, None, p, n_boot=300, seed=1)
    exact = iid_curve(atom_pool_from_rows(lp), p).bound
    assert np.all(tb.ci_low <= exact + 0.02)
    assert np.all(exact <= tb.ci_high + 0.02)
    assert np.all(tb.conservative >= tb.plug_in - 1e-12)
    assert tb.n_prompts == n_prompts
    assert tb.continuations_per_prompt == 1


def test_trajectory_groups_continuations_by_prompt():
    seqs = [np.array([0.5, 0.5]), np.array([2.0, 2.0]), np.array([1.0, 1.0])]
    tb = trajectory_bound(seqs, [0, 0, 1], [3.0], n_boot=20)
    assert tb.n_prompts == 2
    assert tb.continuations_per_prompt == 1.5
    # G(t) just below 1.0: prompt 0 has 1 of its 2 continuations' steps at 0.5 (weight 1/2 * 1/2 * 1 = 0.25)
    assert tb.plug_in[0] <= 0.25 + 3 * math.exp(-1.0) + 1e-12


def test_trajectory_bad_input():
    with pytest.raises(InputError):
        trajectory_bound([np.array([])], None, [2.0])
    with pytest.raises(InputError):
        trajectory_bound([np.array([1.0, np.nan])], None, [2.0])


# --- intervals ----------------------------------------------------------------------------------


def test_interval_contains_interior_values():
    rng = np.random.default_rng(8)
    p = np.array([1.0, 2.0, 30.0, 1e5])
    for name in ("published", "lorden", "lorden_log_p", "asymptotic"):
        lo, hi = B.closed_form_interval(name, (0.2, 1.5), (1.6, 4.0), p)
        for _ in range(50):
            mu = rng.uniform(0.2, 1.5)
            mu2 = rng.uniform(max(1.6, mu * mu), 4.0)
            v = B.CLOSED_FORMS[name](mu, mu2, p)
            assert np.all(lo <= v + 1e-12)
            assert np.all(v <= hi + 1e-12)


# --- sympy --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(S.FORMS))
def test_sympy_forms_match_numeric(name):
    f = sp.lambdify((S.mu, S.mu2, S.P), S.FORMS[name], "numpy")
    rng = np.random.default_rng(9)
    for _ in range(30):
        mu = rng.uniform(0.3, 5)
        mu2 = mu * mu * rng.uniform(1, 4)
        p = rng.uniform(3, 1e6)
        want = B.CLOSED_FORMS[name](mu, mu2, [p])[0]
        if want < p:  # below the cap the numeric form is the expression itself
            assert f(mu, mu2, p) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("name", list(S.FORMS))
def test_sympy_derived_quantities(name):
    mu, mu2 = 1.7, 5.0
    num = B.CLOSED_FORMS[name]
    target = 4.0
    p_star = float(S.p_for_target(name).subs({S.mu: mu, S.mu2: mu2, S.E: target}))
    assert num(mu, mu2, [p_star])[0] == pytest.approx(target, rel=1e-9)
    slope = float(S.slope(name).subs({S.mu: mu, S.mu2: mu2}))
    a, b = num(mu, mu2, [1e3, 1e3 * math.e])
    assert b - a == pytest.approx(slope, rel=1e-9)
    d_mu, d_mu2 = S.sensitivity(name)
    eps = 1e-6
    fd = (num(mu + eps, mu2, [1e3])[0] - num(mu - eps, mu2, [1e3])[0]) / (2 * eps)
    assert float(d_mu.subs({S.mu: mu, S.mu2: mu2, S.P: 1e3})) == pytest.approx(fd, rel=1e-5)
    fd2 = (num(mu, mu2 + eps, [1e3])[0] - num(mu, mu2 - eps, [1e3])[0]) / (2 * eps)
    assert float(d_mu2.subs({S.mu: mu, S.mu2: mu2, S.P: 1e3})) == pytest.approx(fd2, rel=1e-5)


def test_crossover_published_lorden():
    mu, mu2 = 1.2, 3.0
    p_x = float(S.crossover_published_lorden().subs({S.mu: mu, S.mu2: mu2}))
    pub = (mu + mu2) * math.log(p_x) / mu**2
    lord = math.log(mu * p_x) / mu + mu2 / mu**2 + 1 / mu - 1
    assert pub == pytest.approx(lord, rel=1e-9)


# --- timing -------------------------------------------------------------------------------------


def test_presets_have_sources_and_positive_peaks():
    for g in GPUS.values():
        assert g.bandwidth > 0
        assert g.flops > 0
        assert "datasheet" in g.source or "whitepaper" in g.source


def test_roofline_memory_then_compute_bound():
    t = Timing.preset("h100-sxm", 8e9)
    # by hand: 16 GB of weights plus 2048 tokens of KV cache at 2 * 32 layers * 8 heads * 128 * 2 bytes = 128 KiB,
    # streamed at 70% of 3.35 TB/s; compute at 50% of 989.4 TFLOP/s
    kv = 2 * 32 * 8 * 128 * 2
    assert kv == 131072
    mem = (8e9 * 2 + 2048 * kv) / (0.7 * 3.35e12)
    assert t.verify_s(0) == pytest.approx(mem)
    assert mem == pytest.approx(6.9375e-3, rel=1e-4)
    knee = t.knee()
    assert knee + 1 == pytest.approx(mem * 0.5 * 989.4e12 / (2 * 8e9))
    assert t.verify_s(knee / 2) == pytest.approx(mem)
    big = 10 * knee
    assert t.verify_s(big) == pytest.approx(2 * 8e9 * (big + 1) / (0.5 * 989.4e12))
    # at full efficiency and no context: the datasheet roofline
    ideal = Timing.preset("h100-sxm", 8e9, context=0, bandwidth_efficiency=1.0, flop_efficiency=1.0)
    assert ideal.verify_s(0) == pytest.approx(8e9 * 2 / 3.35e12)
    assert ideal.knee() + 1 == pytest.approx(989.4e12 / 3.35e12)


def test_speedup_and_best_p():
    t = Timing.preset("a100-80gb", 7e9, overhead_s=1e-3)
    p = np.arange(1, 2000, dtype=float)
    ex = B.lorden(2.0, 6.0, p)
    s = speedup(ex, p, t)
    assert s[0] == pytest.approx((ex[0] + 1) * t.verify_s(0) / t.verify_s(1))
    bp, bs = best_p(ex, p, t)
    assert bs == pytest.approx(s.max())
    assert 1 <= bp < 2000
    # a drafter cost can only lower the speedup
    slow = Timing.preset("a100-80gb", 7e9, overhead_s=1e-3, draft_s=1e-4)
    assert np.all(speedup(ex, p, slow) <= s)


def test_timing_bad_inputs():
    with pytest.raises(InputError, match="gpu"):
        Timing.preset("tpu", 1e9)
    with pytest.raises(InputError, match="params"):
        Timing.preset("l4", -1)


def test_trajectory_evaluates_at_other_p():
    rng = np.random.default_rng(2)
    seqs = [rng.exponential(1.5, 30) for _ in range(50)]
    p = np.array([1.0, 7.0, 90.0])
    tb = trajectory_bound(seqs, None, p, n_boot=50)
    np.testing.assert_allclose(tb.plug_in_at(p), tb.plug_in)
    np.testing.assert_allclose(tb.conservative_at(p), tb.conservative)


def test_the_trajectory_scan_keeps_the_same_sequences_as_the_per_row_estimate():
    """bound --from reads the surprisal sequences with a lean consumer (22 bytes a row, not 80): same sequences."""
    import os

    from speedoflight.readers import open_source
    from speedoflight.readers.scan import scan
    from speedoflight.theory.estimator import estimate
    from speedoflight.theory.trajectory import TrajectoryScan, trajectories_from_rows

    dumps = [os.path.join(os.path.dirname(__file__), "..", "data", f) for f in ("smollm2-t1-x8.npz", "smollm2-t1.npz")]
    seqs_ref, prompts_ref = trajectories_from_rows(estimate(dumps, per_row=True).per_row)
    lean = TrajectoryScan()
    scan([open_source(d) for d in dumps], [lean])
    got = lean.finish()
    assert got is not None
    seqs, prompts = got
    assert len(seqs) == len(seqs_ref) == 800 + 240
    for a, b in zip(seqs, seqs_ref, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(prompts, prompts_ref)
