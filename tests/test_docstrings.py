"""The public API the notebooks use has numpydoc docstrings that document every parameter."""

from __future__ import annotations

import pytest

PUBLIC = [
    "speedoflight.estimator.estimate",
    "speedoflight.acceptance.read_acceptance",
    "speedoflight.compare.compare",
    "speedoflight.curve.bound_curve",
    "speedoflight.report.run_report",
    "speedoflight.classic.read_pair",
    "speedoflight.classic.classic",
    "speedoflight.classic.simulate_chain",
    "speedoflight.markov.expected_rejections",
    "speedoflight.markov.multi_draft_rejection",
    "speedoflight.markov.simulate_rejections",
    "speedoflight.markov.batch_rejections",
    "speedoflight.classic.simulate_starts",
    "speedoflight.markov.lp_acceptance",
    "speedoflight.markov.tradeoff",
    "speedoflight.scaling.fit_law",
    "speedoflight.scaling.acceptance_by_layer",
    "speedoflight.hierarchy.hierarchical",
    "speedoflight.hierarchy.simulate_tokens",
]
#: numpydoc checks enforced: a docstring exists, every parameter is documented and none is invented.
CHECKS = {"GL08", "PR01", "PR02", "SS01"}


@pytest.mark.parametrize("name", PUBLIC)
def test_public_function_docstrings(name):
    validate = pytest.importorskip("numpydoc.validate", reason="needs the [test] extra (numpydoc)")
    result = validate.validate(name)
    problems = [f"{code}: {msg}" for code, msg in result["errors"] if code in CHECKS]
    assert problems == []


def test_public_names_resolve():
    import speedoflight

    for name in speedoflight.__all__:
        assert getattr(speedoflight, name) is not None
