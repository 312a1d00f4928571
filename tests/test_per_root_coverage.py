"""Per-root intervals on the shipped oracles (issue 31): fitted on one half of the prompts of both models and the
markup set, checked on the other half (docs/theory.md section 8.9).

The constants of :mod:`speedoflight.analysis.intervals` are what :func:`fit_constants` gives on the fit half of
``FIT_SET``; the interval (90%) must then hold the exact optimum of the check half's roots, which the fit never saw
on either model, at that rate. A share of n roots is a binomial count: a cell passes where its count is at least
the 1% quantile of Binomial(n, 0.9), i.e. where it is consistent with 90% (of 36 roots that is 28, 0.78).
"""

from __future__ import annotations

import glob
import os
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
from scipy import stats

from speedoflight.analysis import intervals
from speedoflight.analysis.interval_fit import (
    FIT_SET,
    Matched,
    _subset,
    calibrate,
    cover,
    coverage,
    fit_constants,
    matched,
)
from speedoflight.analysis.interval_fit import matched_set as _matched_set
from speedoflight.errors import InputError

pytestmark = pytest.mark.e2e

PS = (8, 32, 64, 128)
CASES = [c for group in FIT_SET.values() for c in group]


@cache
def matched_set() -> list[Matched]:
    return _matched_set(root="data")


def _least(n: int, rate: float = 0.9) -> float:
    """The share of n roots below which a rate of ``rate`` is rejected at the 1% level (binomial)."""
    return float(stats.binom.ppf(0.01, n, rate)) / n


def test_the_shipped_constants_are_the_fit_on_the_fit_half():
    c = fit_constants(root="data")
    assert sorted(c) == ["one", "several"]
    for group, (a, b) in c.items():
        assert len(a) == 128
        assert tuple(a) == intervals._LOW[group]
        assert tuple(b) == intervals._HIGH[group]
    # every shipped oracle is in the fit set, but those of large P: their prompts' ends repeat oracle-*-t1.npz's
    # roots up to P = 128 (where the constants stop), on 8 of its prompts (tests/test_largep_validation.py)
    shipped = {os.path.basename(p) for p in glob.glob("data/oracle-*.npz")}
    assert {o for _, o, _, _ in CASES} == shipped - {"oracle-smollm2-largep.npz", "oracle-gemma3-270m-largep.npz"}


def test_a_prompts_roots_are_all_on_one_side_and_each_kind_is_halved():
    got = matched_set()
    for family in FIT_SET:
        mine = [m for m in got if m.family == family]
        fit = set().union(*(m.spread.root_prompt[m.fit].tolist() for m in mine))
        check = set().union(*(m.spread.root_prompt[~m.fit].tolist() for m in mine))
        assert fit
        assert check
        assert not fit & check  # the interior roots and branches of a prompt go with its end, on both models
        ends = next(m for m in mine if m.case[2] == "start")
        for kind in set(ends.kinds.tolist()):
            n_fit = int((ends.fit & (ends.kinds == kind)).sum())
            n_check = int((~ends.fit & (ends.kinds == kind)).sum())
            assert abs(n_fit - n_check) <= 2, (family, kind, n_fit, n_check)
    inner = next(m for m in got if m.case[1] == "oracle-smollm2-interior.npz" and m.case[3] is None)
    assert len(set(inner.spread.root_prompt[inner.fit].tolist())) == 12  # of 24 prompts with interior roots


def test_the_fit_half_is_covered_at_the_rate_in_each_group():
    """Split-conformal: at each P at most n - ceil(0.95 (n + 1)) of a group's n fit roots fall out on each side, so
    90% or more of them are covered; each group has enough roots for that quantile not to be its largest score."""
    held = {g: np.zeros(len(PS)) for g in intervals.GROUPS}
    roots = {g: np.zeros(len(PS)) for g in intervals.GROUPS}
    for m in matched_set():
        s, exact, kinds = m.part("fit")
        for group in intervals.GROUPS:
            mine = s.group == group
            if mine.any():
                r = cover(_subset(s, mine), exact[mine], np.array(kinds)[mine].tolist(), ps=PS)
                k = len(r["coverage"])
                held[group][:k] += np.array(r["coverage"]) * r["roots"]
                roots[group][:k] += r["roots"]
    for group in intervals.GROUPS:
        assert roots[group][-1] >= 50, roots  # at P = 128: SmolLM2's one-continuation ends / all 8-continuation ends
        assert roots[group][0] >= 100, roots
        assert np.all(held[group] / roots[group] >= 0.9), (group, held[group] / roots[group])


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_the_check_half_is_covered_at_the_rate(case):
    m = next(x for x in matched_set() if x.case == case)
    s, exact, kinds = m.part("check")
    r = cover(s, exact, kinds, ps=PS)
    assert r["roots"] >= 24
    for c in r["coverage"]:
        assert c >= _least(r["roots"]), (r["roots"], r["coverage"])
    # the drop..lump range alone holds fewer: the interval is what makes the statement per root
    assert max(r["range_coverage"]) < min(r["coverage"])


def test_all_check_roots_together_are_covered_at_the_rate():
    held = np.zeros(len(PS))
    roots = np.zeros(len(PS))
    for m in matched_set():
        r = cover(*m.part("check"), ps=PS)
        k = len(r["coverage"])
        held[:k] += np.array(r["coverage"]) * r["roots"]
        roots[:k] += r["roots"]
    share = held / roots
    assert roots[0] > 300
    for c, n in zip(share, roots, strict=True):
        assert c >= _least(int(n)), share  # measured 0.92 / 0.94 / 0.94 / 0.94


def test_on_a_model_the_constants_never_saw_the_rate_is_not_promised():
    """Fitted on SmolLM2's roots (with markup) only, Gemma 3's are covered at 0.86-1.00 by kind of root (0.75 for
    its branched code roots); the docs state it as the caveat."""
    got = matched_set()
    smol = [m for m in got if not m.case[0].startswith("gemma")]
    constants = calibrate([m.part("all")[:2] for m in smol])
    shares = []
    for m in got:
        if m.case[0].startswith("gemma"):
            shares += cover(*m.part("all"), ps=PS, constants=constants)["coverage"]
    assert 0.8 <= min(shares) < 0.9 <= max(shares)


def test_one_path_roots_need_constants_of_their_own():
    """SmolLM2's prompts' ends from one continuation each, check half: with the one-path group's own constants they
    are covered at 0.82-0.90; one set of constants fitted on all fit roots alike covers them at 0.76-0.82 (it is set
    by the many roots on several paths)."""
    got = matched_set()
    fit = [m.part("fit") for m in got]
    merged = calibrate([(replace(s, root_paths=np.full_like(s.root_paths, 2)), y) for s, y, _ in fit])
    lone = next(m for m in got if m.case[:2] == ("smollm2-t1.npz", "oracle-smollm2-t1.npz"))
    s, exact, kinds = lone.part("check")
    assert set(s.group.tolist()) == {"one"}
    grouped = np.array(cover(s, exact, kinds, ps=PS)["coverage"])
    pooled = np.array(
        cover(replace(s, root_paths=np.full_like(s.root_paths, 2)), exact, kinds, ps=PS, constants=merged)["coverage"]
    )
    assert np.all(grouped >= 0.82)
    assert np.all(pooled <= 0.82)
    assert np.all(grouped > pooled)


def test_an_interior_oracle_of_another_dump_is_refused():
    with pytest.raises(InputError, match=r"smollm2-t1\.npz"):
        matched("data/gemma3-270m-t1-x8.npz", "data/oracle-smollm2-interior.npz", positions=[8, 16, 24])


def test_coverage_of_a_files_check_prompts_is_the_check_half():
    m = next(x for x in matched_set() if x.case[1] == "oracle-gemma3-270m-t1.npz")
    check = sorted(set(m.spread.root_prompt[~m.fit].tolist()))
    r = coverage("data/gemma3-270m-t1-x8.npz", "data/oracle-gemma3-270m-t1.npz", ps=PS, prompts=check)
    assert r == cover(*m.part("check"), ps=PS)
    assert r["roots"] == len(check) == 50
    with pytest.raises(InputError, match="none of the given prompts"):
        coverage("data/gemma3-270m-t1-x8.npz", "data/oracle-gemma3-270m-t1.npz", prompts=[10_000])
