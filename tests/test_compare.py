"""compare: measured acceptance against the speed of light, on cases with exact answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speedoflight.analysis.compare import compare
from speedoflight.cli.app import main
from speedoflight.errors import InputError
from speedoflight.logs.acceptance import read_acceptance
from speedoflight.timing import Timing


@pytest.fixture
def binary_dump(tmp_path):
    """A verifier that always puts 1/2 on two tokens: the optimal tree fills whole binary levels."""
    p = tmp_path / "binary.npy"
    rows = np.zeros((64, 8))
    rows[:, :2] = 0.5
    np.save(p, rows)
    return str(p)


def csv(tmp_path, text, name="m.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_fraction_of_optimum_is_exact_on_a_binary_verifier(binary_dump, tmp_path):
    # E[X*(2)] = 2 * 1/2 = 1; E[X*(4)] = 1 + 2 * 1/4 = 1.5; E[X*(8)] = 1 + 4 / 4 + 2 / 8 = 2.25
    m = read_acceptance(csv(tmp_path, "accepted\n0\n1\n1\n0\n"))  # X = 0.5
    comp = compare([binary_dump], m, tree_size=2, pmax=8, replicates=4, n_boot=50)
    lo, hi, _ = comp.optimum_at(2)
    assert lo == pytest.approx(1.0)
    assert hi == pytest.approx(1.0)
    assert comp.optimum_at(4)[0] == pytest.approx(1.5)
    assert comp.optimum_at(8)[0] == pytest.approx(2.25)
    d = comp.to_dict()["measured"][0]
    assert d["fraction_of_optimum"] == pytest.approx(0.5)
    assert d["P"] == 2
    assert d["mean_accepted"] == pytest.approx(0.5)
    assert d["tokens_per_call"] == pytest.approx(1.5)
    assert d["format"] == "csv"
    assert d["source"].endswith("m.csv")
    # the simulated optimum never exceeds the Lorden bound on the same verifier
    j = np.searchsorted(comp.curve.P, comp.optimum.P)
    assert np.all(comp.optimum.mean <= comp.curve.columns["lorden"][j] + 1e-9)


def test_best_p_uses_the_timing_model(binary_dump, tmp_path):
    m = read_acceptance(csv(tmp_path, "accepted,tree_size\n1,4\n2,4\n"))
    t = Timing.preset("l4", 8e9)
    comp = compare([binary_dump], m, timing=t, replicates=4, n_boot=50)
    best = comp.best()
    # binary verifier: E[X*] = floor-level sums; speedup (E+1) t0 / t(P); check against a brute-force search
    from speedoflight.timing import speedup

    s = speedup(comp.optimum.mean, comp.optimum.P, t)
    assert best["optimum"]["P"] == comp.optimum.P[int(np.argmax(s))]
    assert comp.optimum.P[-1] >= 4 * t.knee()  # the grid reaches past the compute-bound knee
    d = comp.to_dict()["measured"][0]
    assert d["speedup_model"] == pytest.approx(float(speedup(np.array([1.5]), np.array([4]), t)[0]))


def test_figure_has_labelled_log_axes_and_every_series(binary_dump, tmp_path):
    m = read_acceptance(csv(tmp_path, "drafter,accepted,tree_size\na,1,4\nb,0,2\n"))
    m += read_acceptance(csv(tmp_path, "tokens_per_call\n2\n", name="nop.csv"))
    comp = compare([binary_dump], m, timing=Timing.preset("h100-sxm", 1e9), replicates=4, n_boot=50)
    fig = comp.figure()
    ax, ax2 = fig.axes[:2]
    assert ax.get_xscale() == "log"
    assert ax2.get_xscale() == "log"
    assert "P" in ax.get_xlabel()
    assert "accepted" in ax.get_ylabel()
    assert "speedup" in ax2.get_ylabel()
    labels = ax.get_legend_handles_labels()[1]
    assert any("simulated optimum" in x for x in labels)
    assert any("Lorden" in x for x in labels)
    assert any("published" in x for x in labels)
    assert any(x.startswith("measured: a") for x in labels)
    assert any("P unknown" in x for x in labels)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_cli_compare_json_and_out(binary_dump, tmp_path, capsys):
    meas = csv(tmp_path, "accepted\n0\n1\n1\n0\n")
    out = tmp_path / "cmp"
    code = main(["compare", "--dump", binary_dump, "--measured", meas, "--tree-size", "2", "--pmax", "16",
                 "--replicates", "4", "--json", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    d = json.loads(capsys.readouterr().out)
    assert d["measured"][0]["fraction_of_optimum"] == pytest.approx(0.5)
    assert sorted(p.name for p in out.iterdir()) == ["compare.json", "compare.md", "compare.png"]
    assert "fraction of optimum" in (out / "compare.md").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tree-size", "1"], "exceeds its P"),
        (["--tree-size", "64", "--pmax", "16"], "exceeds --pmax"),
        (["--gpu", "h100-sxm"], "needs --params"),
    ],
)
def test_cli_compare_user_errors(binary_dump, tmp_path, capsys, extra, message):
    meas = csv(tmp_path, "accepted\n2\n2\n")
    code = main(["compare", "--dump", binary_dump, "--measured", meas, "--replicates", "4", "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_failed_out_leaves_nothing_half_written(binary_dump, tmp_path, monkeypatch):
    from speedoflight.analysis import compare as C

    out = tmp_path / "cmp"
    out.mkdir()
    (out / "old.md").write_text("previous report")
    m = read_acceptance(csv(tmp_path, "accepted,tree_size\n1,2\n"))
    comp = compare([binary_dump], m, replicates=4, n_boot=50)
    monkeypatch.setattr(C.Comparison, "figure", lambda self: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        C.write_comparison(str(out), comp)
    assert [p.name for p in out.iterdir()] == ["old.md"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_compare_needs_a_dump_but_no_measured_file(binary_dump):
    with pytest.raises(InputError, match=r"\(dumps\)"):
        compare([], [])
    comp = compare([binary_dump], [], replicates=4, n_boot=50)
    assert comp.measured == []
    assert "No measured drafter" in comp.measured_markdown()
    # an .npy of rows holds no continuations: the weaker ceiling is named, with the reason, first among the warnings
    assert comp.ceiling is None
    assert comp.warnings[0].startswith("no grafted ceiling: ")
    assert "binary.npy" in comp.warnings[0]
    assert "13-31% low" in comp.warnings[0]
    answer = comp.answer_lines()
    assert [x.split(":")[0] for x in answer if x.startswith("ceiling at P")] == [
        f"ceiling at P = {p} (simulated, i.i.d. model)" for p in (4, 16, 64)
    ]
    assert answer[-1] == "warning: " + comp.warnings[0]


@pytest.mark.e2e
@pytest.mark.parametrize("command", ["compare", "bound"])
def test_the_dump_is_opened_and_read_once(tmp_path, monkeypatch, command):
    """One pass gives the moments, the i.i.d. pool, the trajectories and both simulator pools."""
    import builtins

    from speedoflight.readers._base import Source

    dump = "data/smollm2-t1.npz"
    opens, rows = [], []
    real_open, real_chunks = builtins.open, Source.chunks

    def counting_open(file, *args, **kwargs):
        if str(file).endswith("smollm2-t1.npz"):
            opens.append(file)
        return real_open(file, *args, **kwargs)

    def counting_chunks(self, chunk_bytes, with_ids=False):
        for chunk in real_chunks(self, chunk_bytes, with_ids):
            rows.append(chunk.n)
            yield chunk

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(Source, "chunks", counting_chunks)
    if command == "compare":
        measured = read_acceptance(csv(tmp_path, "accepted\n1\n2\n0\n"))
        comp = compare([dump], measured, replicates=4, n_boot=20)
        assert "trajectory" in comp.curve.columns
    else:
        from speedoflight.theory.curve import bound_curve

        assert "trajectory" in bound_curve([1, 8, 64], sources=[dump], n_boot=20).columns
    assert len(opens) == 1
    assert sum(rows) == 15360  # every row once


@pytest.mark.e2e
def test_the_ceiling_comes_from_the_dumps_continuations(tmp_path):
    """With a dump that holds continuations, every measured system is held against the grafted ceiling too."""
    measured = read_acceptance(csv(tmp_path, "accepted,tree_size\n1,8\n2,8\n0,8\n"))
    comp = compare(["data/smollm2-t1.npz"], measured, replicates=4, n_boot=20)
    assert comp.ceiling is not None
    d = comp.to_dict()
    row = d["measured"][0]
    lo, hi = row["ceiling_at_P"]
    assert 0 < lo <= hi <= 8
    assert row["fraction_of_ceiling"] == pytest.approx(1.0 / lo)
    assert d["ceiling"]["positions"] == "all"
    assert comp.summary_lines()[0].startswith("m.csv: X = 1.00 at P = 8 is ")
    assert "ceiling at P (grafted)" in comp.markdown()
    # the dump's rows list 64 tokens: at P = 8 the low end is the full rows' value, so the answer gives one number,
    # the tails-dropped mean with its own interval (the lumped end is an artefact of the truncation there)
    assert comp.truncation["exact_up_to"] >= 8
    line = next(x for x in comp.answer_lines(8) if x.startswith("ceiling at P = 8:"))
    c = comp.ceiling
    assert line.startswith(f"ceiling at P = 8: {c.lower.mean[7]:.2f} accepted tokens per call (95% CI ")
    assert f"95% CI {c.lower.ci_low[7]:.2f}..{c.lower.ci_high[7]:.2f}" in line
    assert "m.csv " + f"{100 / c.lower.mean[7]:.0f}% of it" in line
    # an array file has no continuations: no ceiling, the rest unchanged
    np.save(tmp_path / "rows.npy", np.log(np.full((40, 4), 0.25)))
    assert compare([str(tmp_path / "rows.npy")], measured, replicates=4, n_boot=20).ceiling is None


def test_the_best_p_search_runs_once_and_hands_out_copies():
    from speedoflight.theory import curve as TC

    c = TC.bound_curve([1, 2, 4, 8, 64], mu=1.5, mu2=4.0, timing=Timing.preset("h100-sxm", 8e9))
    calls = []
    search = TC._evaluate

    def counted(*args):
        calls.append(1)
        return search(*args)

    TC._evaluate = counted
    try:
        first = c.best()
        first["lorden"]["P"] = -1.0  # a caller's change stays its own
        assert c.best() != first
        assert c.best(grid_max=128) != c.best()
        assert c.best(grid_max=64) == c.best()  # the same grid as the default's (P up to 64): no new search
    finally:
        TC._evaluate = search
    assert len(calls) == 2  # once per grid
    assert c.best()["lorden"]["P"] == 64.0
