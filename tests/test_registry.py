"""The one registry of curves and drafter styles."""

from __future__ import annotations

from speedoflight.theory.curve import LABELS, bound_curve
from speedoflight.theory.registry import CURVES, drafter_style, label


def test_every_bound_column_is_registered_with_a_short_header():
    curve = bound_curve([1, 8, 64], mu=2.0, mu2=8.0)
    assert set(curve.columns) <= set(CURVES)
    assert set(LABELS) == set(CURVES)
    for c in CURVES.values():
        assert len(c.short) <= 12
        assert c.label
        assert c.description
    assert label("lorden") == CURVES["lorden"].label
    assert label("no-such-curve") == "no-such-curve"


def test_a_drafter_has_one_style_whatever_else_is_drawn():
    a = drafter_style("early-exit:24 tree")
    assert a == drafter_style("early-exit:24 tree")
    assert a["marker"] == drafter_style("early-exit:8 chain")["marker"] == "^"  # one family, one marker
    assert a["fillstyle"] == "none"
    assert drafter_style("early-exit:24 chain")["fillstyle"] == "full"
    assert drafter_style("ngram chain")["marker"] == "s"
    assert drafter_style("")["marker"]  # no crash on an empty label
