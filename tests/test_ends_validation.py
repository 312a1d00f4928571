"""Prompts' ends (issue 31): the grafted prediction against the shipped exact optima at every P <= 128, per kind.

What is held is what the shipped data reach: within 2% where they do, the measured value with its cause where
not (``data/grafted_validation.py``, ``prompt_end_causes``; docs/theory.md section 8.8).
"""

from __future__ import annotations

import numpy as np
import pytest

from speedoflight.analysis.validation import against_oracle, thinned
from speedoflight.formats.oracle import load_oracle

pytestmark = pytest.mark.e2e

PS = (1, 2, 4, 8, 16, 32, 64, 128)
SMOL = ("data/smollm2-t1-x8.npz", "data/oracle-smollm2-t1.npz")
GEMMA = ("data/gemma3-270m-t1-x8.npz", "data/oracle-gemma3-270m-t1.npz")
MARKUP = ("data/smollm2-markup-x8.npz", "data/oracle-smollm2-markup.npz")


def _within(ratio, tol=0.02) -> np.ndarray:
    return np.abs(np.array(ratio) - 1) <= tol


@pytest.fixture(scope="module")
def shipped() -> dict[str, dict]:
    return {
        name: against_oracle(d, o, ps=PS) for name, (d, o) in {"smol": SMOL, "gemma": GEMMA, "markup": MARKUP}.items()
    }


def test_prose_and_markup_within_two_percent_at_every_p(shipped):
    """Prose on both models and the markup set: every P <= 128 within 2% of the exact optimum."""
    assert np.all(_within(shipped["smol"]["by_kind"]["prose"]))
    assert np.all(_within(shipped["gemma"]["by_kind"]["prose"]))
    assert np.all(_within(shipped["markup"]["by_kind"]["markup"]))


def test_code_within_two_percent_up_to_where_the_shipped_continuations_reach(shipped):
    """Code with 8 continuations: SmolLM2 within 2% up to P = 32 and 2.3% / 3.1% low at 64 / 128; Gemma 3 within
    2% up to P = 64 and 2.1% low at 128 (the causes: test_what_the_code_gap_is_not and the more-continuations test)."""
    smol, gemma = np.array(shipped["smol"]["by_kind"]["code"]), np.array(shipped["gemma"]["by_kind"]["code"])
    assert np.all(_within(smol[:6]))
    assert np.all(_within(gemma[:7]))
    assert np.all((smol[-2:] >= 0.96) & (smol[-2:] < 0.98))  # low, not high
    assert 0.97 <= gemma[-1] < 0.98


def test_what_the_code_gap_is_not(tmp_path):
    """Draws, depth and the pool draw do not account for the code gap at P = 128 (SmolLM2: 3.1%).

    The oracle's popped nodes say how deep the exact optimum goes: on SmolLM2 never past 26 tokens, so continuations
    cut from 32 to 16 tokens know every depth the optimum uses, and the ratio moves by at most 0.002. 256 draws
    instead of 64 move it by at most 0.001; the other draws of unknown rows (uniform, by entropy) read lower."""
    d, o = SMOL
    _, depths, _, _ = load_oracle(o)
    assert depths.max() <= 26
    ps = (64, 128)
    base = np.array(against_oracle(d, o, ps=ps)["by_kind"]["code"])
    assert np.all(base < 0.98)
    short = np.array(against_oracle(thinned(d, str(tmp_path / "short.npz"), length=16), o, ps=ps)["by_kind"]["code"])
    assert np.all(np.abs(short - base) <= 0.002)
    more = np.array(against_oracle(d, o, ps=ps, replicates=256)["by_kind"]["code"])
    assert np.all(np.abs(more - base) <= 0.001)
    for draw in ("uniform", "entropy"):
        assert np.all(np.array(against_oracle(d, o, ps=ps, draw=draw)["by_kind"]["code"]) < base)


def test_sixteen_continuations_bring_code_within_two_percent(tmp_path):
    """More continuations are the cause with a trend left: on the first 6 prose and 6 code prompts with 16
    continuations each (``data/smollm2-ends-x16.npz``), the first 8 of them leave SmolLM2 code 3.3% / 3.7% low at
    P = 64 / 128; all 16 bring code within 2% at every P <= 128 and the 12 prompts together too."""
    more, oracle = "data/smollm2-ends-x16.npz", SMOL[1]
    eight = against_oracle(thinned(more, str(tmp_path / "eight.npz"), continuations=8), oracle, ps=PS)
    sixteen = against_oracle(more, oracle, ps=PS)
    assert sixteen["roots"] == eight["roots"] == 12
    assert sixteen["continuations_per_prompt"] == 16
    assert not np.all(_within(eight["by_kind"]["code"]))
    assert np.all(_within(sixteen["by_kind"]["code"]))
    assert np.all(_within(sixteen["ratio"]))
    assert sixteen["correlation"][-1] > eight["correlation"][-1]


def test_sixteen_continuations_on_gemma_code_hold_to_p_64_and_still_climb(tmp_path):
    """Gemma 3 on the same 12 prompts: 16 continuations bring every kind within 2% up to P = 64; code at P = 128
    climbs by about 0.01 with each doubling (0.957, 0.967, 0.979 at 4, 8, 16) and stays 2.1% low (32, measured
    once and not shipped, read 0.977: docs/theory.md section 8.8 names what is left)."""
    more, oracle = "data/gemma3-270m-ends-x16.npz", GEMMA[1]
    runs = {
        n: against_oracle(thinned(more, str(tmp_path / f"{n}.npz"), continuations=n), oracle, ps=PS) for n in (4, 8, 16)
    }
    code = np.array([runs[n]["by_kind"]["code"][-1] for n in (4, 8, 16)])
    assert np.all(np.diff(code) > 0.008)
    assert 0.97 <= code[-1] < 0.98
    for kind in ("code", "prose"):
        assert np.all(_within(runs[16]["by_kind"][kind][:7]))
