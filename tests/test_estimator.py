"""Aggregation and uncertainty of the estimator."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from speedoflight.options import ReadOptions, RunOptions
from speedoflight.readers.dumpfile import write_dump
from speedoflight.theory.estimator import _MicroBatches, estimate

META = {
    "model": "synthetic",
    "vocab_size": 256,  # the exact entropies given below stay inside [0, log 256]
    "temperature": 1.0,
    "seed": 0,
    "top_k": 8,
    "prompt_source": "synthetic",
    "versions": {},
}


def synthetic_dump(path, h_per_row, seq):
    """A dump whose rows carry given exact entropies (M2 = H^2 + 1)."""
    n = len(h_per_row)
    lp = np.log(np.full((n, 8), 1 / 8))
    write_dump(
        str(path),
        {
            "topk_ids": np.tile(np.arange(8), (n, 1)),
            "topk_logprobs": lp,
            "entropy": h_per_row,
            "m2": h_per_row**2 + 1.0,
            "seq": seq,
            "pos": np.zeros(n, dtype=int),
            "next_token": np.zeros(n, dtype=int),
            "next_surprisal": np.full(n, math.log(8)),
        },
        META,
    )


def cluster_se(values, seq):
    """Independent cluster-robust standard error of the ratio estimator."""
    ids = np.unique(seq)
    n_g = np.array([np.sum(seq == g) for g in ids], dtype=float)
    s_g = np.array([values[seq == g].sum() for g in ids])
    mu = s_g.sum() / n_g.sum()
    g = len(ids)
    return math.sqrt(g / (g - 1) * ((s_g - mu * n_g) ** 2).sum()) / n_g.sum()


def test_sequence_bootstrap_matches_cluster_formula(tmp_path):
    rng = np.random.default_rng(0)
    n_seq, length = 300, 20
    seq = np.repeat(np.arange(n_seq), length)
    h = 2.5 + np.repeat(rng.normal(size=n_seq) * 0.5, length) + rng.normal(size=n_seq * length) * 0.2  # in (0, 5.5)
    synthetic_dump(tmp_path / "d.npz", h, seq)
    m = estimate(tmp_path / "d.npz", n_boot=4000, run=RunOptions(seed=3))
    assert m.ci_method.startswith("sequence bootstrap")
    assert m.n_sequences == n_seq
    assert m.mu == pytest.approx(h.mean(), rel=1e-12)
    assert m.mu2 == pytest.approx((h**2 + 1).mean(), rel=1e-12)
    want = cluster_se(h, seq)
    assert m.mu_se == pytest.approx(want, rel=0.08)
    # ignoring the clustering would understate the error by a factor of about 2.5 here
    assert m.mu_se > 2 * h.std(ddof=1) / math.sqrt(len(h))
    assert m.mu_ci[0] < m.mu < m.mu_ci[1]
    assert m.mu_ci[1] - m.mu_ci[0] == pytest.approx(2 * 1.96 * want, rel=0.1)


def test_bootstrap_is_reproducible_from_the_seed(tmp_path):
    rng = np.random.default_rng(1)
    seq = np.repeat(np.arange(40), 5)
    synthetic_dump(tmp_path / "d.npz", rng.random(200), seq)
    a = estimate(tmp_path / "d.npz", run=RunOptions(seed=7))
    b = estimate(tmp_path / "d.npz", run=RunOptions(seed=7))
    c = estimate(tmp_path / "d.npz", run=RunOptions(seed=8))
    assert (a.mu_se, a.mu_ci) == (b.mu_se, b.mu_ci)
    assert a.mu_ci != c.mu_ci


def test_batch_means_for_iid_rows(tmp_path):
    rng = np.random.default_rng(2)
    z = rng.normal(size=(2500, 16)) * rng.uniform(0.2, 3, size=(2500, 1))
    np.save(tmp_path / "z.npy", z)
    m = estimate(tmp_path / "z.npy", per_row=True, read=ReadOptions(kind="logits"))
    assert m.ci_method.startswith("batch means (50 batches")
    h = m.per_row.h_lo
    assert m.mu == pytest.approx(h.mean())
    assert m.mu_se == pytest.approx(h.std(ddof=1) / math.sqrt(len(h)), rel=0.3)
    q = stats.t.ppf(0.975, 49)
    assert m.mu_ci[1] - m.mu == pytest.approx(q * m.mu_se, rel=1e-9)


@pytest.mark.parametrize("n", [1, 7, 64, 5000, 20001])
def test_micro_batches_keep_every_row_once(n):
    mb = _MicroBatches(cap=64)
    vals = np.arange(4 * n, dtype=float).reshape(n, 4)
    for lo in range(0, n, 333):
        mb.add(lo, vals[lo : lo + 333])
    assert mb.sums[:, 0].sum() == n
    np.testing.assert_allclose(mb.sums[:, 1:].sum(axis=0), vals.sum(axis=0))
    assert len(mb.sums) <= 64
    # blocks are consecutive rows of equal length (but the last)
    assert np.all(mb.sums[:-1, 0] == mb.size) or len(mb.sums) == 1


def test_single_row_has_no_interval(tmp_path):
    np.save(tmp_path / "one.npy", np.array([[0.0, 1.0, 2.0]]))
    m = estimate(tmp_path / "one.npy", read=ReadOptions(kind="logits"))
    assert m.n_rows == 1
    assert math.isnan(m.mu_se)


def test_surprisal_variance_property(tmp_path):
    np.save(tmp_path / "z.npy", np.random.default_rng(3).normal(size=(50, 9)))
    m = estimate(tmp_path / "z.npy", read=ReadOptions(kind="logits"))
    assert m.surprisal_variance == pytest.approx(m.mu2 - m.mu**2)
    assert m.surprisal_variance >= 0
    assert m.to_dict()["surprisal_variance"] == m.surprisal_variance


def test_sampled_surprisal_is_an_unbiased_check_of_mu(tmp_path):
    # sample tokens from the rows' own distributions: E[surprisal] = E[H]
    rng = np.random.default_rng(4)
    n, v = 4000, 30
    z = rng.normal(size=(n, v)) * 2
    lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    tok = np.array([rng.choice(v, p=np.exp(r)) for r in lp])
    order = np.argsort(-lp, axis=1)
    h = -(np.exp(lp) * lp).sum(axis=1)
    write_dump(
        str(tmp_path / "s.npz"),
        {
            "topk_ids": order,
            "topk_logprobs": np.take_along_axis(lp, order, axis=1),
            "entropy": h,
            "m2": (np.exp(lp) * lp**2).sum(axis=1),
            "seq": np.arange(n) // 10,
            "pos": np.arange(n) % 10,
            "next_token": tok,
            "next_surprisal": -lp[np.arange(n), tok],
        },
        {**META, "vocab_size": v, "top_k": v},
    )
    m = estimate(tmp_path / "s.npz")
    s = -lp[np.arange(n), tok]
    assert abs(m.sampled_surprisal_mean - m.mu) < 4 * s.std() / math.sqrt(n)
