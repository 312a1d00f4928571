"""Per-root intervals on the shipped oracles (issue 31): fitted on SmolLM2's roots, held out on Gemma 3 and markup.

The constants of :mod:`speedoflight.analysis.intervals` are what :func:`fit_constants` gives on ``FIT_SET``; the
interval (90%) must then hold the exact optimum of roots it was not fitted on at about that rate. The thresholds
are the measured held-out coverage less a few roots' worth (docs/theory.md section 8.9).
"""

from __future__ import annotations

import numpy as np
import pytest

from speedoflight.analysis import intervals
from speedoflight.analysis.intervals import coverage, fit_constants

pytestmark = pytest.mark.e2e

PS = (8, 32, 64, 128)


def test_the_shipped_constants_are_the_fit_on_smollm2():
    a, b = fit_constants(intervals.FIT_SET, root="data")
    assert tuple(a) == intervals._LOW
    assert tuple(b) == intervals._HIGH
    assert {o for _, o, _, _ in intervals.FIT_SET} == {"oracle-smollm2-t1.npz", "oracle-smollm2-interior.npz"}


def test_the_fit_set_is_covered_at_the_rate():
    """Pooled over SmolLM2's 100 prompts' ends and 72 interior roots, at least 90% at every P the two share."""
    ends = coverage("data/smollm2-t1-x8.npz", "data/oracle-smollm2-t1.npz", ps=PS)
    inner = coverage("data/smollm2-t1.npz", "data/oracle-smollm2-interior.npz", ps=PS, positions=[8, 16, 24])
    assert ends["roots"] == 100
    assert inner["roots"] == 72
    pooled = (np.array(ends["coverage"][:3]) * 100 + np.array(inner["coverage"]) * 72) / 172
    assert np.all(pooled >= 0.9)


@pytest.mark.parametrize(
    ("dump", "oracle", "positions", "made_from", "least"),
    [
        # measured 1.00 / 0.91 / 0.89 / 0.88 (code 0.86 at P = 64, 128)
        ("gemma3-270m-t1-x8.npz", "oracle-gemma3-270m-t1.npz", "start", None, 0.85),
        # measured 0.96 / 0.94 / 0.96 / 0.92
        ("smollm2-markup-x8.npz", "oracle-smollm2-markup.npz", "start", None, 0.85),
        # measured 0.94 / 0.89 / 0.89 (code 0.81)
        (
            "gemma3-270m-interior-branched.npz",
            "oracle-gemma3-270m-interior.npz",
            [8, 16, 24],
            "gemma3-270m-t1-x8.npz",
            0.85,
        ),
    ],
)
def test_held_out_roots_are_covered_near_the_rate(dump, oracle, positions, made_from, least):
    r = coverage(
        f"data/{dump}", f"data/{oracle}", ps=PS, positions=positions, prefixes_from=made_from and f"data/{made_from}"
    )
    assert min(r["coverage"]) >= least, r["coverage"]
    assert max(r["coverage"]) <= 1.0
    # the drop..lump range alone holds far fewer: the interval is what makes the statement per root
    assert max(r["range_coverage"]) < 0.6
    assert min(r["coverage"]) > max(r["range_coverage"]) + 0.2


def test_gemmas_interior_code_without_branches_falls_short():
    """Where the prediction itself is biased (Gemma 3's code inside continuations, 0.79 of the optimum without
    branches), the interval misses more often than its rate: measured 0.64 at P = 64; the branches fix it."""
    r = coverage("data/gemma3-270m-t1-x8.npz", "data/oracle-gemma3-270m-interior.npz", ps=PS, positions=[8, 16, 24])
    assert r["by_kind"]["code"]["coverage"][-1] < 0.75
    assert r["above"][-1] > r["below"][-1]  # the prediction reads low: the exact optimum lies above the interval
