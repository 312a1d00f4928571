"""The fused kernels against the float64 reference, on edge cases and random rows."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from speedoflight import InputError
from speedoflight.kernels import row_moments

from .reference import full_moments, loop_moments, topk_interval

ATOL = 1e-9


def check_full(x, kind="logits", temperature=1.0, ref_x=None):
    got = row_moments(x, kind, temperature=temperature)
    ref = full_moments(x if ref_x is None else ref_x, kind, temperature)
    np.testing.assert_allclose(got[:, 0], got[:, 1])
    np.testing.assert_allclose(got[:, 2], got[:, 3])
    np.testing.assert_allclose(got[:, 0], ref[:, 0], rtol=1e-10, atol=ATOL)
    np.testing.assert_allclose(got[:, 2], ref[:, 1], rtol=1e-10, atol=ATOL)
    return got


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64])
def test_random_rows_all_dtypes(dtype):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(37, 503)) * 4).astype(dtype)
    check_full(x, ref_x=x.astype(np.float64))


def test_one_hot_rows():
    x = np.full((3, 50), -np.inf)
    x[0, 3] = 0.0
    x[1, 0] = 12.5
    x[2, 49] = -7.0
    got = check_full(x)
    np.testing.assert_array_equal(got, 0.0)


def test_near_one_hot_large_gap():
    x = np.zeros((2, 100))
    x[0, 0] = 60.0  # e^60 leaves the unshifted range: slow path
    x[1, 0] = 30.0
    check_full(x)
    check_full(x.astype(np.float16), ref_x=x.astype(np.float16).astype(np.float64))


@pytest.mark.parametrize("v", [2, 10, 49152, 262144])
def test_uniform_rows_closed_form(v):
    x = np.full((2, v), 3.25, dtype=np.float32)
    got = row_moments(x, "logits")
    # v equal terms summed in float64 in some order (fastmath may reassociate; a bounds-checked build vectorises
    # differently): the rounding error is at most v * 2^-53 relative
    rtol = max(1e-12, v * 2.0**-53)
    np.testing.assert_allclose(got[:, 0], math.log(v), rtol=rtol)
    np.testing.assert_allclose(got[:, 2], math.log(v) ** 2, rtol=rtol)
    got16 = row_moments(x.astype(np.float16), "logits")
    np.testing.assert_allclose(got16[:, 0], math.log(v), rtol=rtol)


def test_neg_inf_entries():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 64))
    x[:, ::3] = -np.inf
    check_full(x)
    check_full(x.astype(np.float16), ref_x=x.astype(np.float16).astype(np.float64))


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_logits_of_magnitude_1e4(scale):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 200)) + scale
    x[:, 0] += 5.0
    check_full(x)
    x16 = (rng.normal(size=(6, 200)) * 20 + scale).astype(np.float16)
    check_full(x16, ref_x=x16.astype(np.float64))


def test_large_vocab_256k_float16():
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(3, 256000)) * 3).astype(np.float16)
    check_full(x, ref_x=x.astype(np.float64))


def test_matches_plain_python_loops():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 40)) * 6
    got = row_moments(x, "logits")
    for i in range(4):
        h, m2 = loop_moments(x[i].tolist())
        assert got[i, 0] == pytest.approx(h, rel=1e-12, abs=1e-12)
        assert got[i, 2] == pytest.approx(m2, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("t", [0.3, 0.7, 1.0, 2.5])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_temperature(t, dtype):
    rng = np.random.default_rng(6)
    x = (rng.normal(size=(8, 300)) * 3).astype(dtype)
    check_full(x, temperature=t, ref_x=x.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_logprobs_and_probs_kinds_agree_with_logits(dtype):
    rng = np.random.default_rng(7)
    z = rng.normal(size=(6, 120)) * 2
    lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    base = row_moments(z, "logits")
    got_lp = row_moments(lp.astype(dtype), "logprobs")
    got_p = row_moments(np.exp(lp).astype(dtype), "probs")
    tol = 2e-2 if dtype == np.float16 else 1e-5
    np.testing.assert_allclose(got_lp, base, rtol=tol, atol=tol)
    np.testing.assert_allclose(got_p, base, rtol=tol, atol=tol)
    # temperature applied to log-probabilities is exact (shift invariance)
    np.testing.assert_allclose(
        row_moments(lp, "logprobs", temperature=0.5), row_moments(z, "logits", temperature=0.5), rtol=1e-9
    )


def test_greedy_temperature_zero():
    x = np.random.default_rng(8).normal(size=(3, 30))
    np.testing.assert_array_equal(row_moments(x, "logits", temperature=0.0), 0.0)


def test_topk_interval_matches_token_by_token_reference():
    rng = np.random.default_rng(9)
    vocab = 500
    for _ in range(30):
        p = rng.dirichlet(np.full(vocab, 0.05))
        top = np.sort(p)[::-1][:10]
        got = row_moments(np.log(top)[None, :], "logprobs", vocab_size=vocab)[0]
        ref = topk_interval(top, vocab)
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
        # the true distribution lies inside the interval
        pp = p[p > 0]
        h, m2 = -(pp * np.log(pp)).sum(), (pp * np.log(pp) ** 2).sum()
        assert got[0] - 1e-9 <= h <= got[1] + 1e-9
        assert got[2] - 1e-9 <= m2 <= got[3] + 1e-9


def test_topk_with_missing_markers_and_padding():
    top = np.array([0.5, 0.2, 0.1])
    row = np.array([[*np.log(top), -9999.0, -np.inf]])
    got = row_moments(row, "logprobs", vocab_size=100)[0]
    np.testing.assert_allclose(got, topk_interval(top, 100), rtol=1e-12)


def test_topk_full_mass_has_no_width():
    top = np.array([0.5, 0.25, 0.25])
    got = row_moments(np.log(top)[None, :], "logprobs", vocab_size=1000)[0]
    assert got[0] == pytest.approx(got[1])
    assert got[2] == pytest.approx(got[3])
    assert got[0] == pytest.approx(-(top * np.log(top)).sum())


def test_topk_probs_kind():
    top = np.array([[0.4, 0.3, 0.1, 0.0]])
    got = row_moments(top, "probs", vocab_size=50)[0]
    np.testing.assert_allclose(got, topk_interval(top[0], 50), rtol=1e-12)


def test_topk_cap_override_widens_the_interval():
    lp = np.log(np.array([[0.3, 0.2, 0.01]]))  # 0.01: a sampled token outside the top 2
    narrow = row_moments(lp, "logprobs", vocab_size=1000)[0]
    wide = row_moments(lp, "logprobs", vocab_size=1000, caps=np.array([0.2]))[0]
    assert wide[0] <= narrow[0]
    assert wide[1] == pytest.approx(narrow[1])


def test_topk_refuses_temperature():
    with pytest.raises(InputError, match="temperature"):
        row_moments(np.log([[0.5, 0.2]]), "logprobs", vocab_size=10, temperature=0.5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 60)), elements=st.floats(-30, 30)),
    st.floats(-50, 50),
)
def test_invariants(x, shift):
    got = row_moments(x, "logits")
    v = x.shape[1]
    h, m2 = got[:, 0], got[:, 2]
    assert np.all(h >= 0)
    assert np.all(h <= math.log(v) + 1e-9)
    assert np.all(m2 >= h * h - 1e-12)
    np.testing.assert_allclose(row_moments(x + shift, "logits"), got, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got[:, 0], full_moments(x)[:, 0], rtol=1e-9, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 40), st.floats(0.01, 2.0))
def test_topk_interval_contains_truth(seed, k, alpha):
    rng = np.random.default_rng(seed)
    vocab = 200
    p = rng.dirichlet(np.full(vocab, alpha))
    top = np.sort(p)[::-1][:k]
    lo_hi = row_moments(np.log(top)[None, :], "logprobs", vocab_size=vocab)[0]
    pp = p[p > 0]
    h, m2 = -(pp * np.log(pp)).sum(), (pp * np.log(pp) ** 2).sum()
    assert lo_hi[0] - 1e-9 <= h <= lo_hi[1] + 1e-9
    assert lo_hi[2] - 1e-9 <= m2 <= lo_hi[3] + 1e-9
