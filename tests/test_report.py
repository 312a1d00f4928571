"""report: the main job on the shipped data, written all or nothing."""

from __future__ import annotations

import json

import pytest

from speedoflight.analysis.report import params_from_name
from speedoflight.cli.app import main


def test_report_on_shipped_data_round_trip(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", "--out", str(out), "--replicates", "8", "--quiet"]) == 0
    assert "report.md" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["compare.png", "evidence.png", "report.json", "report.md"]
    md = (out / "report.md").read_text()
    # the answer first: the ceiling at the measured P, with its interval, then the best drafter's share of it
    assert md.splitlines()[2].startswith("**The ceiling of SmolLM2-135M-Instruct at P = ")
    assert "95% CI" in md.splitlines()[2]
    assert "of it." in md.splitlines()[2]
    for heading in ("## 1. The verifier", "## 2. Measured drafters", "## 3. The real optimum", "## 4. Choosing P"):
        assert heading in md
    d = json.loads((out / "report.json").read_text())
    rows = d["compare"]["measured"]
    # the shipped measured run: 4 drafter/shape pairs x P in 1..64
    assert {r["label"] for r in rows} == {"ngram chain", "ngram tree", "early-exit:24 chain", "early-exit:24 tree"}
    for r in rows:
        assert 0 <= r["mean_accepted"] <= r["P"]
        assert r["fraction_of_optimum"] == pytest.approx(r["mean_accepted"] / r["optimum_at_P"])
        assert r["tokens_per_call"] == pytest.approx(r["mean_accepted"] + 1)
    assert d["moments"]["mu"] == pytest.approx(d["compare"]["mu"])
    assert len(d["evidence"]) == 2
    # the images are real PNGs
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_failure_keeps_the_previous_report(tmp_path, capsys):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.md").write_text("previous")
    code = main(["report", "--out", str(out), "--dump", str(tmp_path / "missing.npz"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "missing.npz" in err
    assert err.count("\n") == 1
    assert (out / "report.md").read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


@pytest.mark.parametrize(
    ("name", "params"),
    [("SmolLM2-135M-Instruct", 135e6), ("Gemma-3-270M (Q4_K_M)", 270e6), ("Llama-3.1-8B", 8e9), ("gpt2", None)],
)
def test_params_from_name(name, params):
    assert params_from_name(name) == params
