"""Figures, checked by their artists: every drawn thing in the legend, legends inside the figure, one style each."""

from __future__ import annotations

import numpy as np
import pytest

from speedoflight.analysis.compare import compare
from speedoflight.analysis.figures import offsets, position_figure
from speedoflight.analysis.plots import pyplot
from speedoflight.analysis.styles import drafter_styles
from speedoflight.logs.acceptance import read_many
from speedoflight.logs.result import Measured
from speedoflight.timing import Timing

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def comp():
    measured = read_many(["data/measured-smollm2-t1.jsonl"])
    return compare(["data/smollm2-t1.npz"], measured, timing=Timing.preset("h100", 1.35e8), replicates=4, n_boot=20)


def _drawn(ax):
    """Labels of everything drawn with data on the axes: lines, bands, spans and error-bar containers."""
    in_containers = {id(a) for c in ax.containers for a in (c.lines[0], *c.lines[1], *c.lines[2]) if a is not None}
    labels = [c.get_label() for c in ax.containers]
    labels += [ln.get_label() for ln in ax.lines if id(ln) not in in_containers]
    labels += [c.get_label() for c in ax.collections if id(c) not in in_containers]
    labels += [p.get_label() for p in ax.patches]  # spans
    return labels


def _legends(fig):
    """Every legend of the figure: the panels' own and the figure's (below or beside the panels)."""
    return [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)


def _named(fig):
    """The labels the legends name (a band and its line share one entry)."""
    return {t.get_text() for leg in _legends(fig) for t in leg.get_texts()}


#: A legend a reader can take in (15 a panel before): bands share their line's entry, the drafters have their own.
MOST_ENTRIES = 12


def _inside(fig, artist):
    fig.canvas.draw()
    box = artist.get_window_extent(fig.canvas.get_renderer())
    f = fig.bbox
    return box.x0 >= f.x0 - 1 and box.y0 >= f.y0 - 1 and box.x1 <= f.x1 + 1 and box.y1 <= f.y1 + 1


def test_every_drawn_thing_has_a_legend_entry_and_legends_are_not_clipped(comp):
    fig = comp.figure()
    try:
        assert len(fig.axes) == 2
        drawn = [x for ax in fig.axes for x in _drawn(ax)]
        assert drawn, "nothing drawn"
        assert not [x for x in drawn if x.startswith("_")], f"unlabelled artists: {drawn}"
        assert _named(fig) == set(drawn)
        for legend in _legends(fig):
            assert len(legend.get_texts()) <= MOST_ENTRIES
            assert _inside(fig, legend), "legend clipped"
        # the drafters are named once, in their own legend, not in every panel's
        names = [t.get_text() for leg in _legends(fig) for t in leg.get_texts()]
        assert sum(x.startswith("measured:") for x in names) == 4
    finally:
        pyplot().close(fig)


def test_units_and_the_published_form_is_clipped_and_annotated(comp):
    fig = comp.figure()
    try:
        left = fig.axes[0]
        assert "nats" in left.get_title()
        assert "nats²" in left.get_title()
        top = left.get_ylim()[1]
        assert float(np.max(comp.curve.columns["published"])) > top  # it would stretch the axis
        notes = [t for t in left.texts if "leaves the frame" in t.get_text()]
        assert notes
        assert all(_inside(fig, t) for t in notes)  # the note does not run past the edge
        assert "speedup" in fig.axes[1].get_ylabel()
    finally:
        pyplot().close(fig)


def test_one_colour_and_marker_per_drafter(comp):
    fig = comp.figure()
    try:
        for ax in fig.axes:
            seen = {}
            for c in ax.containers:  # error bars: one per measured drafter
                ln = c.lines[0]
                seen[c.get_label()] = (ln.get_color(), ln.get_marker(), ln.get_fillstyle())
            for ln in ax.lines:
                if ln.get_label().startswith("measured:"):
                    seen[ln.get_label()] = (ln.get_color(), ln.get_marker(), ln.get_fillstyle())
            styles = [v for k, v in seen.items() if k.startswith("measured:")]
            assert len(styles) == 4
            assert len(set(styles)) == len(styles)
    finally:
        pyplot().close(fig)


def test_drafter_styles_never_share_a_colour():
    names = [f"drafter {i}" for i in range(8)]
    styles = drafter_styles(names)
    assert len({s["color"] for s in styles.values()}) == 8
    assert drafter_styles(names) == styles  # the same set looks the same every time


def test_offsets_are_centred_and_distinct():
    o = offsets(4)
    assert np.prod(o) == pytest.approx(1.0)
    assert len(set(np.round(o, 9))) == 4


def test_position_figure():
    dist = np.array([0.4, 0.3, 0.2, 0.1])  # P(X = 0..3)
    m = Measured("f", "vllm-metrics", "vllm", 1.0, 100, None, None, "", "", P=3, distribution=dist)
    fig = position_figure([m], {"optimal chain": np.array([0.7, 0.5, 0.3]), "ceiling": np.array([0.8, 0.6, 0.5])})
    try:
        ax = fig.axes[0]
        drawn = _drawn(ax)
        assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == sorted(drawn)
        meas = next(ln for ln in ax.lines if ln.get_label().startswith("measured"))
        np.testing.assert_allclose(meas.get_ydata(), [0.6, 0.3, 0.1])  # P(X >= 1..3)
        assert _inside(fig, ax.get_legend())
        assert not ax.get_ylabel().startswith("P(")  # P is the tree size everywhere else
    finally:
        pyplot().close(fig)


def test_position_figure_ends_where_the_data_ends():
    """Profiles of 16 positions that fall below 1% after position 3: the x axis ends at 4, not 16."""
    prof = np.array([0.5, 0.1, 0.02] + [0.001] * 13)
    fig = position_figure([], {"optimal chain": prof})
    try:
        assert fig.axes[0].get_xlim()[1] == pytest.approx(4.5)
    finally:
        pyplot().close(fig)


def _figures():
    """Every other figure the package draws, from small inputs."""
    from speedoflight.analysis.evidence import compare_real, figure
    from speedoflight.analysis.plots import law_figure, tradeoff_figure
    from speedoflight.beyond.scaling import fit_law

    ev = compare_real(
        "data/oracle-smollm2-t1.npz", "data/smollm2-t1-x8.npz", ["data/measured-smollm2-t1.jsonl"], replicates=10
    )
    yield "evidence", figure([ev])
    eps = np.linspace(0, 0.2, 5)
    yield "tradeoff", tradeoff_figure({"epsilon": eps, "rejections": 3 - 10 * eps, "acceptance": 0.6 + eps})
    x = np.array([[1.0], [2.0], [4.0], [8.0]])
    yield "law", law_figure(fit_law(x, np.array([0.1, 0.25, 0.41, 0.55]), x_names=["x"], y_name="y"), extend_to=32)


def test_every_figure_labels_everything_it_draws():
    for name, fig in _figures():
        try:
            drawn = [x for ax in fig.axes for x in _drawn(ax)]
            assert not [x for x in drawn if x.startswith("_")], (name, drawn)
            assert _legends(fig), name
            assert _named(fig) == set(drawn), name
            for legend in _legends(fig):
                assert len(legend.get_texts()) <= MOST_ENTRIES, name
                assert _inside(fig, legend), name
            if name == "evidence":  # the published form is clipped, not stretching the axis, and says so
                notes = [t for t in fig.axes[0].texts if "leaves the frame" in t.get_text()]
                assert notes
                assert all(_inside(fig, t) for t in notes)
        finally:
            pyplot().close(fig)


def test_a_drafter_has_one_colour_across_the_figures(comp):
    """positions.png labels a drafter with its P, but draws it in the colour compare.png gives it."""
    main, pos = comp.figure(), position_figure(comp.measured, comp.profiles)
    try:
        colours = {c.get_label()[len("measured: ") :]: c.lines[0].get_color() for c in main.axes[0].containers}
        seen = 0
        for ln in pos.axes[0].lines:
            if ln.get_label().startswith("measured: "):
                name = ln.get_label()[len("measured: ") :].rsplit(" (P = ", 1)[0]
                assert ln.get_color() == colours[name], name
                seen += 1
        assert seen == 4
    finally:
        pyplot().close(main)
        pyplot().close(pos)


def test_a_law_figure_clips_its_bands_to_the_range_of_y_and_labels_plain_x_values():
    from speedoflight.analysis.plots import law_figure
    from speedoflight.beyond.scaling import fit_law

    # noisy acceptances whose prediction interval runs below zero when unclipped
    x = np.array([4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 27.0])
    y = np.array([0.066, 0.070, 0.084, 0.096, 0.127, 0.242, 0.359])
    fit = fit_law(x, y, x_names=["early-exit layers kept"])
    assert fit.predict(np.array([4.0]))["pi_low"][0] < 0
    for limits in (None, (0.0, 1.0)):
        fig = law_figure(fit, extend_to=30, y_limits=limits)
        try:
            ax = fig.axes[0]
            lows = [c.get_paths()[0].vertices[:, 1].min() for c in ax.collections if "interval" in c.get_label()]
            assert (lows[0] >= 0.0) == (limits is not None)
            labels = [t.get_text() for t in ax.get_xticklabels()]
            assert {"4", "30"} <= set(labels)
            assert ax.get_xlabel() == "early-exit layers kept"
            if limits is not None:
                assert any("clipped to 0..1" in t.get_text() for t in ax.get_legend().get_texts())
        finally:
            pyplot().close(fig)


def test_evidence_panels_share_one_y_range():
    """Two models side by side: one y range, set by the measurements, with a loose bound clipped, not stretching it."""
    from speedoflight.analysis.evidence import compare_real, figure

    small = compare_real("data/oracle-smollm2-t1.npz", "data/smollm2-t1-x8.npz", [], replicates=10)
    big = compare_real("data/oracle-gemma3-270m-t1.npz", "data/gemma3-270m-t1-x8.npz", [], replicates=10)
    fig = figure([small, big])
    try:
        left, right = fig.axes
        assert left.get_ylim() == right.get_ylim()
        top = right.get_ylim()[1]
        assert top >= float(np.max(big.oracle["p90"]))  # every prompt band inside the frame
        loose = big.theory["trajectory_conservative"]
        if np.max(loose) > top:  # a loose bound leaves the frame: said where, inside the figure
            notes = [t for t in right.texts if "leaves the frame" in t.get_text()]
            assert any(f"{np.max(loose):.1f}" in t.get_text() for t in notes)
            assert all(_inside(fig, t) for t in notes)
    finally:
        pyplot().close(fig)


def test_pyplot_preloaded_in_a_thread_is_agg_and_says_a_bad_backend_once():
    """The report starts pyplot's import in a thread; drawing then waits for it and gets the same Agg pyplot."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "from speedoflight.analysis.plots import preload_pyplot, pyplot\n"
        "preload_pyplot(); preload_pyplot()\n"  # a second call starts nothing
        "import threading\n"
        "plt = pyplot()\n"
        "import matplotlib\n"
        "print(matplotlib.get_backend().lower(), plt.__name__, "
        "sum(t.name == 'speedoflight-pyplot' and t.is_alive() for t in threading.enumerate()))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "MPLBACKEND": "bogus"}
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr
    assert got.stdout.split() == ["agg", "matplotlib.pyplot", "0"]
    assert got.stderr.count("ignoring MPLBACKEND='bogus'") == 1
