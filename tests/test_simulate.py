"""The branching-random-walk simulator: kernel against a heapq reference, exact cases, statistics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from speedoflight.cli.app import main
from speedoflight.errors import InputError
from speedoflight.kernels import heap as heap_kernels
from speedoflight.kernels import tree as KT
from speedoflight.simulation.simulate import default_at, family, growth_rate, optimal_tree, pool, simulate
from speedoflight.theory import bounds as B
from speedoflight.theory.iid import atom_pool_from_rows, iid_curve

from .helpers import assert_user_error, run
from .reference import seeded_reference, top_p_reference


def kernel_curve(neglogp, draws, pmax):
    at = np.arange(1, pmax + 1, dtype=np.int64)
    out = np.zeros(pmax)
    hist = np.zeros(65, dtype=np.int64)
    empty = np.empty(0, dtype=np.int64)
    KT.top_p_one(neglogp, draws.astype(np.int64), pmax, at, out, hist, empty, empty, empty)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_kernel_matches_heapq_reference_on_the_same_draws(seed):
    rng = np.random.default_rng(seed)
    rows = rng.dirichlet(np.full(12, 0.4), size=30)
    rows[:, -3:] = 0.0  # zero-probability tokens must never be drafted
    rows /= rows.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        neglogp = np.ascontiguousarray(-np.log(-np.sort(-rows, axis=1)))
    pmax = 300
    draws = rng.integers(0, 30, pmax + 1)
    np.testing.assert_allclose(kernel_curve(neglogp, draws, pmax), top_p_reference(neglogp, draws, pmax), rtol=1e-12)


def test_two_token_distribution_by_enumeration():
    # p = (0.7, 0.3): the six most likely paths are 1, 11, 111, 2, 1111, 12/21 (0.7, .49, .343, .3, .2401, .21)
    neglogp = -np.log(np.array([[0.7, 0.3]]))
    paths = {}
    for n in range(1, 12):
        for bits in range(2**n):
            p = 1.0
            for k in range(n):
                p *= 0.3 if (bits >> k) & 1 else 0.7
            paths[(n, bits)] = p
    best = np.cumsum(sorted(paths.values(), reverse=True))[:50]
    np.testing.assert_allclose(kernel_curve(neglogp, np.zeros(51), 50), best, rtol=1e-12)


@pytest.mark.parametrize("k", [2, 5])
def test_uniform_k_whole_levels(k):
    levels = [sum(k**i for i in range(1, m + 1)) for m in (1, 2, 3, 4)]
    res = simulate(family(f"uniform:{k}"), levels[-1], replicates=3, at=levels)
    np.testing.assert_allclose(res.mean, [1, 2, 3, 4], atol=1e-12)
    np.testing.assert_array_equal(res.se, 0.0)
    assert res.nodes_per_depth[1:5].tolist() == [k, k**2, k**3, k**4]


def test_deterministic_gives_p():
    res = simulate(family("deterministic"), 1000, replicates=2, at=[1, 10, 1000])
    np.testing.assert_array_equal(res.mean, [1, 10, 1000])


def test_bit_identical_for_the_same_seed():
    d = family("dirichlet:0.3:40")
    a = simulate(d, 500, replicates=6, seed=42)
    b = simulate(d, 500, replicates=6, seed=42)
    c = simulate(d, 500, replicates=6, seed=43)
    np.testing.assert_array_equal(a.per_replicate, b.per_replicate)
    assert not np.array_equal(a.per_replicate, c.per_replicate)


def test_replicates_do_not_depend_on_batching():
    d = family("dirichlet:0.3:20")
    many = simulate(d, 200, replicates=70, seed=5)  # runs as batches of 64 + 6
    np.testing.assert_array_equal(many.per_replicate[:6], simulate(d, 200, replicates=6, seed=5).per_replicate)


def test_simulated_optimum_below_the_iid_bounds():
    rng = np.random.default_rng(3)
    rows = rng.dirichlet(np.full(25, 0.3), size=200)
    with np.errstate(divide="ignore"):
        lp = np.log(rows)
    p = rows
    mu = float(np.mean(-(p * np.where(p > 0, lp, 0)).sum(axis=1)))
    mu2 = float(np.mean((p * np.where(p > 0, lp, 0) ** 2).sum(axis=1)))
    dist = family("uniform:2")
    dist = type(dist)("test pool", neglogp=np.ascontiguousarray(np.sort(-lp, axis=1)))
    at = np.array([1, 3, 10, 50, 300, 2000])
    res = simulate(dist, 2000, replicates=400, seed=0, at=at)
    lorden = B.lorden(mu, mu2, at)
    iid = iid_curve(atom_pool_from_rows(lp), at)
    assert np.all(res.ci_low <= lorden)
    assert np.all(res.ci_low <= iid.bound + 1e-6)


def test_pool_from_the_shipped_dump_tail_modes():
    drop = pool("data/smollm2-t1.npz", tail="drop")
    lump = pool("data/smollm2-t1.npz", tail="lump")
    assert drop.neglogp.shape == (15360, 64)
    assert lump.neglogp.shape == (15360, 65)
    at = [1, 16, 128]
    a = simulate(drop, 128, replicates=50, seed=1, at=at)
    b = simulate(lump, 128, replicates=50, seed=1, at=at)
    assert np.all(a.mean <= b.mean + 1e-12)


def test_optimal_tree_export_is_a_valid_tree():
    tree = optimal_tree(family("zipf:1.2:50"), 200, seed=3)
    parent, rank, depth = tree["parent"], tree["rank"], tree["depth"]
    assert len(parent) == 200
    for i, (p, d) in enumerate(zip(parent, depth, strict=True)):
        assert p < i  # parents come before children (ancestor-closed)
        assert d == (1 if p == -1 else depth[p] + 1)
    siblings: dict[int, list[int]] = {}
    for p, r in zip(parent, rank, strict=True):
        siblings.setdefault(p, []).append(r)
    assert all(sorted(v) == list(range(len(v))) for v in siblings.values())


def test_default_at():
    assert default_at(10).tolist() == list(range(1, 11))
    at = default_at(10**7)
    assert at[999] == 1000
    assert at[-1] == 10**7
    assert len(at) < 1100


def test_family_errors():
    for bad in ("uniform:0", "geometric:1.5", "zipf:-1:10", "dirichlet:0:5", "poisson:3", "uniform"):
        with pytest.raises(InputError):
            family(bad)


def test_cli_simulate_json(capsys, tmp_path):
    out_tree = tmp_path / "tree.json"
    code, out, _ = run(
        capsys,
        "simulate",
        "--family",
        "uniform:3",
        "--pmax",
        "39",
        "--replicates",
        "4",
        "--seed",
        "7",
        "-P",
        "3,12,39",
        "--json",
        "--export-tree",
        str(out_tree),
    )
    assert code == 0
    d = json.loads(out)
    for key in ("P", "mean", "se", "ci_low", "ci_high", "replicates", "seed", "policy"):
        assert key in d
    assert d["P"] == [3, 12, 39]
    assert d["mean"] == pytest.approx([1, 2, 3])
    assert d["policy"] == "optimal"
    assert d["seed"] == 7
    tree = json.loads(out_tree.read_text())
    assert len(tree["parent"]) == 39


def test_cli_simulate_table(capsys):
    code, out, _ = run(capsys, "simulate", "--family", "geometric:0.5", "--pmax", "3", "--replicates", "2")
    assert code == 0
    assert "tokens per verifier call" in out
    assert math.isclose(float(out.split("\n")[5].split()[1]), 0.5)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--family", "uniform:0", "--pmax", "5"], ["--family"]),
        (["--family", "uniform:2", "--pmax", "5", "--replicates", "1"], ["at least 2"]),
        (["--family", "uniform:2", "--pmax", "5", "-P", "9"], ["-P"]),
        (["--family", "uniform:2", "--pmax", "5", "-P", "x"], ["-P"]),
        (["--family", "uniform:2", "--pmax", "5", "--vocab-size", "9"], ["--pool"]),
        (["--pool", "nope.npz", "--pmax", "5"], ["no such file"]),
        (["--family", "uniform:2", "--pmax", "0"], ["positive integer"]),
    ],
)
def test_cli_simulate_bad_input(capsys, argv, words):
    assert_user_error(capsys, ["simulate", *argv], *words)


def test_cli_simulate_requires_a_source(capsys):
    assert main(["simulate", "--pmax", "5"]) == 2


def test_pool_from_a_float64_topk_array_on_disk(tmp_path):
    # memory-mapped float64 chunks are read-only views: the reader must not write into them
    rng = np.random.default_rng(0)
    z = rng.normal(size=(30, 50))
    lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    top = -np.sort(-lp, axis=1)[:, :6]
    top[0, -1] = -9999.0
    np.save(tmp_path / "top.npy", top)
    d = pool(str(tmp_path / "top.npy"), kind="logprobs", vocab_size=50)
    assert d.neglogp.shape == (30, 6)
    assert d.neglogp[0, -1] == np.inf


def _fast(neglogp, draws, pmax, tmax=None):
    from speedoflight.simulation.simulate import packed_layout

    first, gap, bd, bw = packed_layout(neglogp, pmax)
    at = np.arange(1, pmax + 1, dtype=np.int64)
    out = np.zeros(pmax)
    hist = np.zeros(4097, dtype=np.int64)
    if tmax is None:
        n = KT.top_p_fast(first, gap, draws.astype(np.int64), pmax, at, out, hist, bd, bw)
        return out, hist, n
    got = heap_kernels._top_p_packed(first, gap, draws.astype(np.int64), pmax, at, out, hist, tmax, bd, bw, 0)
    return out, hist, got


@pytest.mark.parametrize(("seed", "pmax"), [(0, 300), (1, 5000), (2, 20_000), (3, 70_000)])
def test_packed_pruned_kernel_pops_exactly_like_the_slot_kernel(seed, pmax):
    """Pruning above a per-replicate threshold and packing the heap change nothing, pop for pop."""
    rng = np.random.default_rng(seed)
    rows = rng.dirichlet(np.full(16, 0.3), size=200)
    rows[:, -4:] = 0.0
    rows /= rows.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        neglogp = np.ascontiguousarray(-np.log(-np.sort(-rows, axis=1)))
    draws = rng.integers(0, 200, pmax + 1)
    at = np.arange(1, pmax + 1, dtype=np.int64)
    out = np.zeros(pmax)
    hist = np.zeros(4097, dtype=np.int64)
    empty = np.empty(0, dtype=np.int64)
    KT.top_p_one(neglogp, draws.astype(np.int64), pmax, at, out, hist, empty, empty, empty)
    fast, fast_hist, n = _fast(neglogp, draws, pmax)
    assert n == pmax
    np.testing.assert_allclose(fast, out, rtol=1e-12)  # fastmath may reassociate k + gap differently
    np.testing.assert_array_equal(fast_hist, hist)  # the same nodes, depth for depth
    if pmax <= 5000:
        np.testing.assert_allclose(fast, top_p_reference(neglogp, draws, pmax), rtol=1e-12)


def test_a_threshold_too_low_is_detected_and_retried():
    rng = np.random.default_rng(7)
    neglogp = np.ascontiguousarray(np.sort(-np.log(rng.dirichlet(np.full(8, 0.5), size=50)), axis=1))
    draws = rng.integers(0, 50, 10_001)
    full, _, _ = _fast(neglogp, draws, 10_000, tmax=np.inf)
    low, _, (got, pruned, _, _) = _fast(neglogp, draws, 10_000, tmax=float(full[0] * 0 + 6.0))
    assert got < 10_000
    assert pruned > 0
    np.testing.assert_array_equal(low[:got], full[:got])  # what it did pop is exact
    again, _, n = _fast(neglogp, draws, 10_000)
    assert n == 10_000
    np.testing.assert_array_equal(again, full)


def _dirichlet_pool(seed, rows=200, width=16, zeros=4, alpha=0.3):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(width, alpha), size=rows)
    if zeros:
        p[:, -zeros:] = 0.0  # zero-probability tokens must never be drafted
        p /= p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        return np.ascontiguousarray(-np.log(-np.sort(-p, axis=1)))


def _seeded(neglogp, seed, pmax, at=None, heap=False, growth=None):
    at = np.arange(1, pmax + 1, dtype=np.int64) if at is None else np.asarray(at, dtype=np.int64)
    out = np.zeros(len(at))
    hist = np.zeros(4097, dtype=np.int64)
    root = np.uint64(KT.root_id(seed))
    if heap:
        empty = np.empty(0, dtype=np.int64)
        KT.top_p_seeded_heap(neglogp, root, pmax, at, out, hist, empty, empty, empty, pmax)
        return out, hist, pmax
    cap = KT.level_cap(pmax)
    keys, ids, depths = np.empty(cap), np.empty(cap, dtype=np.uint64), np.empty(cap, dtype=np.uint16)
    growth = growth_rate(neglogp) if growth is None else growth
    n = KT.top_p_seeded(neglogp, root, pmax, at, out, hist, keys, ids, depths, growth)
    return out, hist, n


@pytest.mark.parametrize(("seed", "pmax"), [(0, 1), (1, 300), (2, 5000), (3, 20_000)])
def test_threshold_listing_and_heap_match_the_heapq_reference_on_the_seeded_tree(seed, pmax):
    """The breadth-first listing below a threshold finds the reference's top-P set, node for node."""
    neglogp = _dirichlet_pool(seed)
    ref, ref_depths = seeded_reference(neglogp, seed, pmax)
    ref_hist = np.bincount(ref_depths, minlength=4097)
    for heap, growth in ((False, None), (False, 0.0), (True, None)):  # the measured rate (0.0) as well
        curve, hist, n = _seeded(neglogp, seed, pmax, heap=heap, growth=growth)
        assert n >= pmax  # the listing answered (no fallback to the heap)
        np.testing.assert_allclose(curve, ref, rtol=1e-12)
        np.testing.assert_array_equal(hist, ref_hist)
    # on the default P values as simulate reports them
    at = default_at(pmax)
    curve, _, _ = _seeded(neglogp, seed, pmax, at=at)
    np.testing.assert_allclose(curve, np.asarray(ref)[at - 1], rtol=1e-12)


def test_the_seeded_tree_does_not_depend_on_the_threshold():
    neglogp = _dirichlet_pool(9, rows=50, width=8, zeros=0)
    root = np.uint64(KT.root_id(11))
    lo = float(neglogp[KT.row_of(root, 50), 0])
    listed = []
    for t in (6.0, 9.0):
        keys, ids, depths = np.empty(10**6), np.empty(10**6, dtype=np.uint64), np.empty(10**6, dtype=np.uint16)
        counts = np.zeros(64, dtype=np.int64)
        n = KT.below_threshold(neglogp, root, t, keys, ids, depths, lo, 64 / (t - lo), counts)
        assert 0 < n < 10**6
        assert counts.sum() == n
        assert np.all(keys[:n] <= t)
        listed.append(dict(zip(ids[:n].tolist(), keys[:n].tolist(), strict=True)))
    small, big = listed
    assert len(small) < len(big)
    assert {u: k for u, k in big.items() if k <= 6.0} == small  # the same nodes, ids and keys


def test_the_listing_reports_a_full_cap():
    neglogp = _dirichlet_pool(4, rows=20, width=6, zeros=0)
    root = np.uint64(KT.root_id(0))
    keys, ids, depths = np.empty(50), np.empty(50, dtype=np.uint64), np.empty(50, dtype=np.uint16)
    counts = np.zeros(8, dtype=np.int64)
    assert KT.below_threshold(neglogp, root, 30.0, keys, ids, depths, 0.0, 8 / 30, counts) == -1


@pytest.mark.parametrize("k", [2, 4])
def test_tied_pools_fall_back_to_the_heap_and_stay_exact(k):
    """A pool of identical uniform rows ties keys level by level; whole levels are exact."""
    neglogp = np.full((3, k), math.log(k))
    levels = [sum(k**i for i in range(1, m + 1)) for m in (1, 2, 3, 4, 5)]
    pmax = levels[-1] + 7  # part of level 6: any 7 of its nodes
    curve, hist, n = _seeded(neglogp, 1, pmax, at=[*levels, pmax])
    assert (n == 0) == (k == 4)  # k = 2: level 6 fits under the cap and is listed; k = 4: the heap answers
    np.testing.assert_allclose(curve, [1, 2, 3, 4, 5, 5 + 7 / k**6], rtol=1e-12)
    assert hist[1:7].tolist() == [k, k**2, k**3, k**4, k**5, 7]


def test_pools_with_certain_rows():
    """Rows with p = 1 add zero surprisal: chains of equal keys, still exact."""
    neglogp = _dirichlet_pool(5, rows=40, width=6, zeros=0)
    neglogp[::4] = np.inf
    neglogp[::4, 0] = 0.0
    ref, _ = seeded_reference(neglogp, 2, 3000)
    curve, _, _ = _seeded(neglogp, 2, 3000)
    np.testing.assert_allclose(curve, ref, rtol=1e-12)


def test_tree_export_is_replicate_zero_of_the_simulation():
    dist = pool("data/smollm2-t1.npz")
    res = simulate(dist, 500, replicates=2, seed=8, at=[500])
    tree = optimal_tree(dist, 500, seed=8)
    assert tree["expected_accepted"] == pytest.approx(res.per_replicate[0, -1], rel=1e-12)


def test_seeded_rows_are_uniform_over_the_pool():
    """The rows of a node's children: a chi-square test of uniformity over 97 rows (fixed seed: deterministic)."""
    n_rows = 97
    root = np.uint64(KT.root_id(7))
    rows = [KT.row_of(np.uint64(KT.child_id(root, r)), n_rows) for r in range(n_rows * 200)]
    counts = np.bincount(rows, minlength=n_rows)
    assert counts.sum() == n_rows * 200
    stat = ((counts - 200) ** 2 / 200).sum()
    assert stat < stats.chi2.ppf(0.999, n_rows - 1)


def test_pool_results_do_not_depend_on_threads_or_batching():
    import numba

    dist = pool("data/smollm2-t1.npz")
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate(dist, 3000, replicates=5, seed=21)
    finally:
        numba.set_num_threads(threads)
    many = simulate(dist, 3000, replicates=70, seed=21)  # batches of 64 + 6 on every thread
    np.testing.assert_array_equal(one.per_replicate, many.per_replicate[:5])
    np.testing.assert_array_equal(one.per_replicate, simulate(dist, 3000, replicates=5, seed=21).per_replicate)


def test_growth_rate_is_the_malthusian_parameter():
    with np.errstate(divide="ignore"):
        full = -np.log(np.array([[0.5, 0.3, 0.2], [0.9, 0.1, 0.0]]))
    assert growth_rate(full) == 1.0  # rows that sum to one
    half = -np.log(np.array([[0.5, 0.25]]))  # 0.5^l + 0.25^l = 1: 0.5^l = 1 / golden ratio
    golden = (1 + math.sqrt(5)) / 2
    assert growth_rate(half) == pytest.approx(math.log(golden) / math.log(2), rel=1e-6)
    assert growth_rate(np.zeros((3, 1))) == 0.0  # certain tokens only: no exponential growth
    neglogp = _dirichlet_pool(2, zeros=0)
    neglogp[:, 8:] = np.inf  # tails dropped: mass below one, rate below one
    lam = growth_rate(neglogp)
    assert 0 < lam < 1
    assert np.exp(-lam * neglogp).sum() / len(neglogp) == pytest.approx(1.0, rel=1e-6)


def _reservoir_reference(rows: list[np.ndarray], m: int, seed: int) -> np.ndarray:
    """Algorithm R one row at a time, from its definition: row i >= m replaces slot j ~ U{0..i} when j < m."""
    rng = np.random.default_rng(seed)
    res: list[np.ndarray] = []
    i = 0
    for chunk in rows:
        for r in chunk:
            if i < m:
                res.append(r)
            else:
                j = int(rng.integers(0, i + 1))
                if j < m:
                    res[j] = r
            i += 1
    return np.stack(res)


@pytest.mark.parametrize(("m", "chunks"), [(7, [5, 1, 40, 3]), (20, [20, 20, 1]), (64, [10, 10])])
def test_the_pool_past_its_cap_is_algorithm_r(m, chunks):
    """PoolScan's chunked reservoir keeps exactly the rows Algorithm R keeps, one row at a time (same draws)."""
    from speedoflight.simulation.simulate import PoolScan, _rows_from_probs

    rng = np.random.default_rng(11)
    blocks = [rng.dirichlet(np.ones(6), size=n) for n in chunks]
    acc = PoolScan(tail="drop", keep=6, max_rows=m, seed=3)
    for b in blocks:
        acc.add(0, None, None, np.log(b), True)
    got = acc.finish(1).neglogp
    same_rows = [_rows_from_probs(np.exp(-np.sort(-np.log(b), axis=1))) for b in blocks]  # as PoolScan makes them
    want = _reservoir_reference(same_rows, m, seed=3)
    np.testing.assert_array_equal(got, want)


def test_a_capped_pool_is_a_uniform_sample():
    """Each of 200 rows lands in a 10-row pool with probability 1/20: chi-square over 2,000 seeds."""
    from scipy import stats

    from speedoflight.simulation.simulate import PoolScan

    n, m = 200, 10
    probs = np.full((n, 4), 1e-9)
    probs[np.arange(n), 0] = 1.0
    probs[:, 1] = np.arange(1, n + 1) / (10 * n)  # row i identified by its second token's probability
    counts = np.zeros(n)
    for seed in range(2000):
        acc = PoolScan(tail="drop", keep=4, max_rows=m, seed=seed)
        for lo in range(0, n, 37):
            acc.add(0, None, None, np.log(probs[lo : lo + 37]), True)
        ids = np.rint(np.exp(-acc.finish(1).neglogp[:, 1]) * 10 * n).astype(int) - 1
        counts[ids] += 1
    assert counts.sum() == 2000 * m
    assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("max_depth", [1, 2, 3, 7])
def test_depth_capped_simulation_matches_the_heapq_twin(max_depth):
    """simulate(max_depth=D): each replicate is the twin's best tree of depth <= D on the same seeded tree."""
    from speedoflight.simulation.simulate import Distribution, _seeds

    neglogp = _dirichlet_pool(5)
    dist = Distribution("pool", neglogp=neglogp)
    res = simulate(dist, 60, replicates=3, seed=9, at=np.arange(1, 61), max_depth=max_depth)
    free = simulate(dist, 60, replicates=3, seed=9, at=np.arange(1, 61))
    for r, s in enumerate(_seeds(9, 3)):
        ref, depths = seeded_reference(neglogp, int(s), 60, max_depth=max_depth)
        np.testing.assert_allclose(res.per_replicate[r], ref, rtol=1e-12)
        assert max(depths) <= max_depth
    assert np.all(res.mean <= free.mean + 1e-12)


def test_depth_one_simulation_is_the_top_p_of_the_root_row():
    """D = 1 on one row: the tree is the row's P most likely tokens (a closed form)."""
    from speedoflight.simulation.simulate import Distribution

    p = np.array([[0.5, 0.3, 0.15, 0.05]])
    dist = Distribution("pool", neglogp=-np.log(np.vstack([p, p])))  # two equal rows: the seeded path runs
    res = simulate(dist, 6, replicates=2, seed=0, at=np.arange(1, 7), max_depth=1)
    np.testing.assert_allclose(res.mean, [0.5, 0.8, 0.95, 1.0, 1.0, 1.0], rtol=1e-12)
    with pytest.raises(InputError, match="max_depth"):
        simulate(family("uniform:4"), 6, replicates=2, max_depth=1)
