"""The public API the notebooks use has numpydoc docstrings that document every parameter."""

from __future__ import annotations

import pytest

PUBLIC = [
    "speedoflight.theory.estimator.estimate",
    "speedoflight.logs.acceptance.read_acceptance",
    "speedoflight.analysis.compare.compare",
    "speedoflight.theory.curve.bound_curve",
    "speedoflight.analysis.report.run_report",
    "speedoflight.readers.pairs.read_pair",
    "speedoflight.beyond.classic.classic",
    "speedoflight.beyond.classic.simulate_chain",
    "speedoflight.beyond.markov.expected_rejections",
    "speedoflight.beyond.markov.multi_draft_rejection",
    "speedoflight.beyond.markov.simulate_rejections",
    "speedoflight.beyond.markov.batch_rejections",
    "speedoflight.beyond.classic.simulate_starts",
    "speedoflight.beyond.markov.lp_acceptance",
    "speedoflight.beyond.markov.tradeoff",
    "speedoflight.beyond.scaling.fit_law",
    "speedoflight.beyond.scaling.acceptance_by_layer",
    "speedoflight.beyond.hierarchy.hierarchical",
    "speedoflight.beyond.hierarchy.simulate_tokens",
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
