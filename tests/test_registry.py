"""The one registry of curves (theory.registry) and how curves and drafters are drawn (analysis.styles)."""

from __future__ import annotations

from speedoflight.analysis.styles import (
    _PALETTE,
    CURVE_STYLES,
    POLICY_STYLES,
    curve_style,
    drafter_style,
    policy_style,
)
from speedoflight.theory.curve import LABELS, bound_curve
from speedoflight.theory.registry import CURVES, label


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


def test_every_curve_has_a_style_and_no_drafter_colour_is_a_curve_colour():
    assert set(CURVE_STYLES) == set(CURVES)
    assert not {s.color for s in CURVE_STYLES.values()} & set(_PALETTE)
    assert curve_style("lorden").color == "tab:red"


def test_practical_trees_have_colours_of_their_own():
    colours = {s.color for s in POLICY_STYLES.values()}
    assert not colours & {s.color for s in CURVE_STYLES.values()}
    assert not colours & set(_PALETTE)
    fixed = [policy_style(p).color for p in ("chain", "kary:2", "kary:4", "static")]
    assert len(set(fixed)) == 4
    # EAGLE-2: one colour, the drafter's noise in the line
    assert policy_style("dynamic:10:0").color == policy_style("dynamic:10:1").color
    assert policy_style("dynamic:10:0").linestyle != policy_style("dynamic:10:1.0:6").linestyle


def test_the_registry_names_curves_and_styles_draw_them():
    """Every registered curve has a style, and the registry (theory layer) holds no drawing."""
    from speedoflight.theory import registry

    assert set(CURVE_STYLES) >= set(CURVES)
    assert not hasattr(next(iter(CURVES.values())), "color")
    assert not hasattr(registry, "drafter_style")
