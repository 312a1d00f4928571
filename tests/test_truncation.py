"""Truncation of the rows the simulations use (issue 30): --top-k, the default rule, the range, bound crossings.

Expected values come from the rule as stated (a loop over each row's tokens), from mathematics (a best tree of P
nodes uses no token past its parent's P-th, so dropping tokens past the P-th changes nothing at that P; the Lorden
bound holds for i.i.d. rows with their own moments) and from the shipped dump.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from speedoflight._config import KEEP_CAP, KEEP_FLOOR, TAIL_MASS
from speedoflight.analysis import truncation as T
from speedoflight.analysis.ceiling import grafted_ceiling
from speedoflight.analysis.stages import read_dumps
from speedoflight.simulation import pools
from speedoflight.simulation import simulate as S
from tests.helpers import run

X8 = "data/smollm2-t1-x8.npz"


def _rule(p: np.ndarray) -> int:
    """The stated rule, row by row: the fewest leading tokens leaving out < TAIL_MASS, within [floor, cap]."""
    total, n = 0.0, 0
    for q in p:
        total += q
        n += 1
        if 1.0 - total < TAIL_MASS:
            break
    else:
        n = len(p) + 1
    return max(KEEP_FLOOR, min(n, KEEP_CAP, len(p)))


def _rows(seed: int, n: int, v: int, alpha: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(v, alpha), size=n)
    with np.errstate(divide="ignore"):
        return np.log(-np.sort(-p, axis=1))


def test_keep_counts_follow_the_stated_rule():
    head = np.array([0.9] + [0.1 / 299] * 299)  # left out < 1% after 1 + 270 tokens: above the floor
    floor = np.array([0.995] + [0.005 / 399] * 399)  # 1 token suffices: the floor of 256 holds
    flat = np.full(10_000, 1e-4)  # never below 1% within the cap: 4,096
    for p in (head, floor, flat):
        with np.errstate(divide="ignore"):
            x = np.log(p)[None, :]
        assert S.keep_counts(x)[0] == _rule(p)
    assert _rule(head) == 271
    assert _rule(floor) == KEEP_FLOOR
    assert _rule(flat) == KEEP_CAP
    x = np.log(flat)[None, :]
    assert S.keep_counts(x, 64)[0] == 64
    assert S.keep_counts(x[:, :10], 64)[0] == 10


def test_narrow_rows_are_kept_as_before_bit_for_bit():
    # the shipped dumps list 32 tokens a row: the default keeps them all, as --top-k 256 did
    for tail in ("drop", "lump"):
        np.testing.assert_array_equal(S.pool(X8, tail=tail).neglogp, S.pool(X8, tail=tail, keep=256).neglogp)


def test_the_pool_stays_within_its_entry_budget(monkeypatch):
    monkeypatch.setattr(pools, "MAX_POOL_ENTRIES", 1000)
    narrow, wide = _rows(1, 200, 10, 1.0), _rows(2, 50, 100, 1.0)

    def build(seed):
        acc = S.PoolScan(tail="drop", keep=100, seed=seed)
        acc.add(0, None, None, narrow, True)
        acc.add(0, None, None, wide, True)
        return acc.finish(1)

    a, b = build(0), build(0)
    np.testing.assert_array_equal(a.neglogp, b.neglogp)  # reproducible from the seed
    assert a.neglogp.size <= 1000
    assert a.neglogp.shape == (10, 100)
    with np.errstate(divide="ignore"):
        every = np.vstack([np.pad(-narrow, ((0, 0), (0, 90)), constant_values=np.inf), -wide])
    for row in a.neglogp:  # a sample of the rows read, each as read
        assert any(np.array_equal(row, r) for r in every)
    assert "uniform sample of 10 of the 250 rows" in a.note


@pytest.mark.parametrize("k", [4, 16])
def test_dropping_tokens_past_the_p_th_changes_nothing_at_p(tmp_path, k):
    f = tmp_path / "rows.npy"
    np.save(f, _rows(3, 300, 600, 0.5).astype(np.float64))
    full = S.simulate(S.pool(str(f), kind="logprobs", keep=600), k, replicates=64, seed=0)
    cut = S.simulate(S.pool(str(f), kind="logprobs", keep=k), k, replicates=64, seed=0)
    np.testing.assert_allclose(cut.mean, full.mean, rtol=1e-12)  # exact, to the rounding of the sums
    lumped = S.simulate(S.pool(str(f), kind="logprobs", keep=k, tail="lump"), k, replicates=64, seed=0)
    assert lumped.mean[0] > full.mean[0] + 0.05  # the lumped token outweighs a flat row's top one: over-counted


def test_the_grafted_ceiling_is_unchanged_at_p_up_to_the_tokens_kept():
    whole, cut = read_dumps([X8]), read_dumps([X8], keep=8)
    assert (whole.truncation.listed_min, whole.truncation.kept_min, whole.truncation.cut) == (32, 32, 0)
    assert cut.truncation.kept_min == 8
    assert cut.truncation.cut == 25_600
    a = grafted_ceiling([X8], 8, inputs=whole.inputs, parts=whole.parts)
    b = grafted_ceiling([X8], 8, inputs=cut.inputs, parts=cut.parts)
    np.testing.assert_array_equal(a.lower.curves, b.lower.curves)
    assert np.all(b.upper.mean > a.upper.mean)  # more mass lumped: the high end rises, the truth does not


def _sim(p, mean, ci_low=None):
    mean = np.asarray(mean, dtype=float)
    return SimpleNamespace(P=np.asarray(p), mean=mean, ci_low=mean if ci_low is None else np.asarray(ci_low))


def test_the_range_is_stated_with_its_cause_and_fix_when_wide():
    lower, upper = _sim([4, 8, 64], [1.0, 2.0, 3.0]), _sim([4, 8, 64], [1.05, 2.5, 3.1])
    ours = SimpleNamespace(truncation=SimpleNamespace(keep=None, listed_min=49152, kept_min=256, cut=100))
    got = T.truncation_range(ours, None, lower, upper, [4, 8, 64])
    assert got["P"] == 8
    assert got["relative"] == pytest.approx(0.25)
    assert "2.00..2.50 (25% wide)" in got["warning"]
    assert "--top-k 1024" in got["warning"]
    assert "At P <= 256 the truncation costs nothing" in got["warning"]
    theirs = SimpleNamespace(truncation=SimpleNamespace(keep=None, listed_min=32, kept_min=32, cut=0))
    got = T.truncation_range(theirs, None, lower, upper, [64])
    assert got["warning"] == ""
    assert got["relative"] == pytest.approx(0.1 / 3)
    got = T.truncation_range(theirs, None, lower, _sim([4, 8, 64], [1, 2, 3.5]), [64])
    assert "speedoflight dump --top-k N" in got["warning"]
    assert "costs nothing" not in got["warning"]


def test_an_estimate_above_a_bound_is_noted_with_its_cause():
    curve = SimpleNamespace(P=np.array([1.0, 8.0]), mu=2.0, columns={"lorden": np.array([1.0, 2.0])})
    pool = SimpleNamespace(neglogp=np.array([[0.1, 3.0], [0.2, 2.0]]))
    lower = _sim([1, 8], [0.5, 2.01], ci_low=[0.4, 1.9])
    upper = _sim([1, 8], [0.6, 2.5])
    got = T.bound_crossings(curve, lower, upper, None, pool)
    assert [(c["estimate"].split(", ")[1], c["P"]) for c in got] == [("tails dropped", 8), ("tails lumped", 8)]
    assert "Monte Carlo noise" in got[0]["cause"]
    assert "more concentrated" in got[1]["cause"]
    lower = _sim([1, 8], [0.5, 2.2], ci_low=[0.4, 2.1])
    assert "please report it" in T.bound_crossings(curve, lower, upper, None, pool)[0]["cause"]
    assert T.bound_crossings(curve, _sim([1, 8], [0.5, 1.9]), _sim([1, 8], [0.6, 1.95]), None, pool) == []


@pytest.fixture(scope="module")
def wide():
    from speedoflight.analysis.compare import compare
    from speedoflight.timing import Timing

    return compare([X8], timing=Timing.preset("h100-sxm", 135e6), pmax=4096)


def test_the_lumped_line_above_lorden_is_explained_and_its_own_bound_holds(wide):
    crossed = [c for c in wide.crossings if c["bound"] == "lorden" and "simulated" in c["estimate"]]
    assert [c["estimate"] for c in crossed] == ["simulated optimum (i.i.d.), tails lumped"]
    assert crossed[0]["note"] in wide.notes
    assert wide.to_dict()["bound_crossings"] == wide.crossings
    # the cause, checked: the lumped rows' own moments (each row's sum p (-log p), sum p (log p)^2) give a Lorden
    # bound the lumped line stays under at every P, and they are far more concentrated than the inputs' rows
    x = wide.curve  # the inputs' mu
    rows = []
    for r in S.pool(X8, tail="lump").neglogp:
        v = r[np.isfinite(r)]
        rows.append((float(np.sum(np.exp(-v) * v)), float(np.sum(np.exp(-v) * v * v))))
    mu, mu2 = np.mean(rows, axis=0)
    assert mu < x.mu - 0.5
    u = wide.optimum_upper
    own = [math.log(mu * p) / mu + mu2 / mu**2 + 1 / mu - 1 if mu * p >= 1 else p for p in u.P]
    assert np.all(u.mean <= np.minimum(own, u.P) + 1e-9)
    lorden = x.columns["lorden"][np.searchsorted(x.P, wide.optimum.P)]
    assert np.all(wide.optimum.ci_low <= lorden)  # the dropped line: under the bound, to its interval


def test_the_figure_marks_the_crossing(wide):
    fig = wide.figure()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("above the Lorden bound") and "tails lumped" in t for t in texts)


def test_top_k_on_compare_and_report(capsys):
    import json

    code, out, _ = run(capsys, "compare", "--dump", X8, "--top-k", "16", "--replicates", "8", "--json")
    got = json.loads(out)
    assert code == 0
    assert got["truncation"]["keep"] == 16
    assert got["truncation"]["kept_min"] == 16
    assert "rerun with a larger --top-k N (e.g. --top-k 32)" in got["warnings"][0]  # what the rows list, no more
    for command in ("compare", "report", "simulate"):
        code, _, err = run(capsys, command, "--top-k", "0")
        assert code == 2
        assert "--top-k" in err
        assert "Traceback" not in err
