"""report: the main job on the shipped data, written all or nothing."""

from __future__ import annotations

import json

import pytest

from speedoflight.analysis.report import params_from_name
from speedoflight.cli.app import main


@pytest.mark.e2e
def test_report_on_shipped_data_round_trip(tmp_path, capsys, monkeypatch):
    from speedoflight.analysis import drawing

    made = []

    class Child(drawing.Drawer):  # a child draws, as from the command line (this test process has matplotlib)
        def __init__(self, child=None):
            super().__init__(child=True)
            made.append(self)

    monkeypatch.setattr(drawing, "Drawer", Child)
    out = tmp_path / "rep"
    assert main(["report", "--out", str(out), "--replicates", "8", "--quiet"]) == 0
    assert [p.rsplit("/", 1)[1] for p in made[0].by_child] == ["compare.png", "positions.png", "evidence.png"]
    printed = capsys.readouterr().out
    assert "report.md" in printed
    head = printed.splitlines()
    # the answer, on the terminal too, in plain text: the best setting first, then the same in each engine's flags
    assert head[0].startswith("best setting on NVIDIA H100 SXM5 80GB, batch 1:")
    assert [x.split(" (")[0] for x in head[1:5]] == ["  vLLM", "  SGLang", "  llama.cpp", "  TensorRT-LLM"]
    assert not any(mark in printed for mark in ("**", "| ", "`")), "Markdown on the terminal"
    assert sum(x.startswith("warning: broken drafter?") for x in head) <= 1  # one warning for every broken drafter
    assert any(x.startswith("verifier: SmolLM2-135M-Instruct") for x in head)
    names = ["compare.png", "evidence.png", "positions.png", "report.json", "report.md"]
    assert sorted(p.name for p in out.iterdir()) == names
    md = (out / "report.md").read_text()
    first = md.split("## Details")[0].strip().splitlines()
    # the answer first, in at most 18 lines: the best setting with its speedup, the drafter cost assumed and its
    # engine settings, what to change, the timing caveat, the verifier, the ceiling at P with its interval and each
    # drafter's fraction, the ceiling per kind of text
    assert len(first) <= 18
    assert "roofline estimate" in "\n".join(first)
    assert any(x.startswith("- by kind of text at P = ") or x.startswith("  - by kind") for x in first)
    assert first[0] == "# speedoflight report: SmolLM2-135M-Instruct"
    text = "\n".join(first)
    assert "ceiling at P = " in text
    assert "95% CI" in text
    assert "of it" in text
    assert "best setting on NVIDIA H100 SXM5 80GB, batch 1:" in text
    assert "n-gram lookup: no model pass (free)" in text  # the cost it assumed, said
    assert "Run " in text or "Turn speculative decoding off" in text
    for heading in (
        "### 1. The verifier",
        "### 2. Measured drafters",
        "### 3. Which P and depth",
        "### 4. Per-position",
    ):
        assert md.count(heading) == 1
    assert md.index("## Appendix: every bound per P") > md.index("### 5. The real optimum")
    notes = md.split("## Notes")[1].split("## Inputs")[0]
    for line in (x for x in notes.splitlines() if x.startswith("- ")):
        assert md.count(line[2:]) == 1, line  # every note once
    d = json.loads((out / "report.json").read_text())
    rows = d["compare"]["measured"]
    # the shipped measured run: 4 drafter/shape pairs x P in 1..64
    assert {r["label"] for r in rows} == {"ngram chain", "ngram tree", "early-exit:24 chain", "early-exit:24 tree"}
    for r in rows:
        assert 0 <= r["mean_accepted"] <= r["P"]
        assert r["fraction_of_optimum"] == pytest.approx(r["mean_accepted"] / r["optimum_at_P"])
        assert r["tokens_per_call"] == pytest.approx(r["mean_accepted"] + 1)
        if r["label"].startswith("early-exit:24"):
            # 24 of 30 layers per level, memory-bound at these widths: (X + 1) t0 / (0.8 D t0 + t0)
            depth = r["P"] if r["label"].endswith("chain") else min(6, r["P"])
            assert r["speedup_model"] == pytest.approx((r["mean_accepted"] + 1) / (1 + 0.8 * depth))
            assert r["speedup_model"] < 1
        else:
            assert r["speedup_model"] == pytest.approx(r["tokens_per_call"])  # free, memory-bound
    assert d["moments"]["mu"] == pytest.approx(d["compare"]["mu"])
    assert len(d["evidence"]) == 2
    assert [b["batch"] for b in d["compare"]["advice"]["batch_sensitivity"]] == [1, 4, 16, 64]
    assert d["warnings"] == d["compare"]["warnings"]
    assert set(d["positions"]) == set(d["compare"]["positions"])
    # the images are real PNGs
    for name in names[:3]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.e2e
def test_report_takes_the_timing_flags_of_compare(tmp_path, capsys):
    lat = tmp_path / "lat.csv"
    lat.write_text("P,ms\n0,20\n8,21\n64,30\n")
    out = tmp_path / "rep"
    argv = ["report", "--out", str(out), "--replicates", "4", "--quiet", "--oracle", "--oracle-dump"]
    argv += ["--latency", str(lat), "--draft-ms", "0.5", "--same-model", "--verifier-layers", "30"]
    assert main(argv) == 0
    capsys.readouterr()
    d = json.loads((out / "report.json").read_text())
    t = d["compare"]["advice"]["timing"]
    assert t["latency"]["P"] == [0.0, 8.0, 64.0]
    assert t["draft"]["per_level_s"] == pytest.approx(5e-4)
    assert d["compare"]["advice"]["batch_sensitivity"] == []  # a measured table holds for one batch
    assert all(x["best_measured"]["P"] <= 64 for x in d["compare"]["advice"]["drafters"])


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
