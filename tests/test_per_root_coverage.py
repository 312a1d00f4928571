"""Per-root intervals on the shipped oracles (issue 31): fitted on SmolLM2's roots, held out on Gemma 3 and markup.

The constants of :mod:`speedoflight.analysis.intervals` are what :func:`fit_constants` gives on ``FIT_SET``; the
interval (90%) must then hold the exact optimum of roots it was not fitted on at about that rate. The thresholds
are the measured held-out coverage less a few roots' worth (docs/theory.md section 8.9).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from speedoflight.analysis import intervals
from speedoflight.analysis.intervals import TOLERANCE, calibrate, coverage, fit_constants, matched, root_intervals
from speedoflight.errors import InputError

pytestmark = pytest.mark.e2e

PS = (8, 32, 64, 128)


def test_the_shipped_constants_are_the_fit_on_smollm2():
    c = fit_constants(intervals.FIT_SET, root="data")
    assert sorted(c) == ["one", "several"]
    for group, (a, b) in c.items():
        assert tuple(a) == intervals._LOW[group]
        assert tuple(b) == intervals._HIGH[group]
    assert {o for _, o, _, _ in intervals.FIT_SET} == {"oracle-smollm2-t1.npz", "oracle-smollm2-interior.npz"}


def test_the_fit_set_is_covered_at_the_rate():
    """Each group of fit roots at least 90% at every P: SmolLM2's 100 prompts' ends (8 continuations: several
    paths) and its 72 interior roots (one continuation: one path)."""
    ends = coverage("data/smollm2-t1-x8.npz", "data/oracle-smollm2-t1.npz", ps=PS)
    inner = coverage("data/smollm2-t1.npz", "data/oracle-smollm2-interior.npz", ps=PS, positions=[8, 16, 24])
    assert ends["roots"] == 100
    assert inner["roots"] == 72
    assert list(ends["by_group"]) == ["several"]
    assert list(inner["by_group"]) == ["one"]
    assert min(ends["coverage"]) >= 0.9
    assert min(inner["coverage"]) >= 0.9


@pytest.mark.parametrize(
    ("dump", "oracle", "positions", "made_from", "least"),
    [
        # measured 0.95 / 0.83 / 0.88 / 0.85 (code 0.80 at P = 32)
        ("gemma3-270m-t1-x8.npz", "oracle-gemma3-270m-t1.npz", "start", None, 0.8),
        # measured 0.94 / 0.90 / 0.92 / 0.85
        ("smollm2-markup-x8.npz", "oracle-smollm2-markup.npz", "start", None, 0.8),
        # measured 0.97 / 0.93 / 0.90 (one path, 68 of the 72 roots)
        ("gemma3-270m-t1-x8.npz", "oracle-gemma3-270m-interior.npz", [8, 16, 24], None, 0.85),
        # measured 0.89 / 0.82 / 0.86 (code 0.72 at P = 32)
        (
            "gemma3-270m-interior-branched.npz",
            "oracle-gemma3-270m-interior.npz",
            [8, 16, 24],
            "gemma3-270m-t1-x8.npz",
            0.8,
        ),
    ],
)
def test_held_out_roots_are_covered_near_the_rate(dump, oracle, positions, made_from, least):
    r = coverage(
        f"data/{dump}", f"data/{oracle}", ps=PS, positions=positions, prefixes_from=made_from and f"data/{made_from}"
    )
    assert min(r["coverage"]) >= least, r["coverage"]
    # the drop..lump range alone holds far fewer: the interval is what makes the statement per root
    assert max(r["range_coverage"]) < 0.6
    assert min(r["coverage"]) > max(r["range_coverage"]) + 0.2


def test_one_path_roots_need_constants_of_their_own():
    """SmolLM2's prompts' ends from one continuation each (another dump of the fit prompts): with its own constants
    the one-path group is covered at 0.84-0.89; one set of constants fitted on all the fit roots covers it at
    about 0.75 (it is set by the many roots on several paths)."""
    fit = [
        matched("data/smollm2-t1-x8.npz", "data/oracle-smollm2-t1.npz"),
        matched("data/smollm2-t1.npz", "data/oracle-smollm2-interior.npz", positions=[8, 16, 24]),
    ]
    lone, exact, _ = matched("data/smollm2-t1.npz", "data/oracle-smollm2-t1.npz")
    assert set(lone.group.tolist()) == {"one"}
    grouped = root_intervals(lone)
    merged = calibrate([(replace(s, root_paths=np.full_like(s.root_paths, 2)), y) for s, y, _ in fit])
    pooled = root_intervals(replace(lone, root_paths=np.full_like(lone.root_paths, 2)), merged)
    cols = [p - 1 for p in PS]

    def cov(iv):
        y = exact[:, cols]
        return ((iv.low[:, cols] <= y * (1 + TOLERANCE)) & (y * (1 - TOLERANCE) <= iv.high[:, cols])).mean(axis=0)

    assert np.all(cov(grouped) >= 0.82)
    assert np.all(cov(pooled) <= 0.8)


def test_an_interior_oracle_of_another_dump_is_refused():
    with pytest.raises(InputError, match=r"smollm2-t1\.npz"):
        matched("data/gemma3-270m-t1-x8.npz", "data/oracle-smollm2-interior.npz", positions=[8, 16, 24])
