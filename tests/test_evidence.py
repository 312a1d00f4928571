"""The real-model comparison on synthetic files whose answers are known exactly."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from speedoflight.analysis.evidence import compare_real, figure, write_evidence
from speedoflight.cli.app import main
from speedoflight.errors import InputError
from speedoflight.formats.measured import MeasureRun, read_measured, write_measured
from speedoflight.formats.oracle import OracleResult, save_oracle
from speedoflight.readers.dumpfile import write_dump
from speedoflight.theory.registry import CURVES

LN2 = math.log(2)


def _binary_curve(pmax: int) -> np.ndarray:
    """Exact E[X*(P)] when every node has two tokens of probability 1/2: level d holds 2^d nodes of 2^-d."""
    out, total, p = [], 0.0, 0
    d = 1
    while p < pmax:
        for _ in range(2**d):
            if p == pmax:
                break
            total += 2.0**-d
            out.append(total)
            p += 1
        d += 1
    return np.array(out)


def _oracle_file(path, curves, name="Toy", prompt_index=None):
    n, pmax = curves.shape
    res = OracleResult(
        P=np.arange(1, pmax + 1),
        curves=curves,
        mean=curves.mean(0),
        se=curves.std(0),
        ci_low=curves.min(0),
        ci_high=curves.max(0),
        depths=np.ones_like(curves, dtype=np.int32),
        kinds=["prose", "code"] * (n // 2),
        temperature=1.0,
        confidence=0.95,
        lookahead=2,
        forwards=1,
        tokens_forwarded=1,
        nodes_forwarded=1,
        seconds=1.0,
        meta={"model": {"name": name}, "prompt_index": prompt_index or list(range(n))},
    )
    save_oracle(str(path), res)


def _binary_dump(path, name="Toy"):
    seqs, per = 12, 40
    n = seqs * per
    arrays = {
        "topk_ids": np.tile(np.array([0, 1], dtype=np.int32), (n, 1)),
        "topk_logprobs": np.full((n, 2), -LN2, dtype=np.float32),
        "entropy": np.full(n, LN2),
        "m2": np.full(n, LN2**2),
        "seq": np.repeat(np.arange(seqs), per),
        "pos": np.tile(np.arange(per), seqs),
        "next_token": np.zeros(n, dtype=np.int32),
        "next_surprisal": np.full(n, LN2),
        "prompt": np.repeat(np.arange(seqs) // 4, per),
    }
    meta = {
        "model": {"name": name},
        "vocab_size": 2,
        "temperature": 1.0,
        "seed": 0,
        "top_k": 2,
        "prompt_source": {},
        "versions": {},
        "samples_per_prompt": 4,
    }
    write_dump(str(path), arrays, meta)


def _measured(path, name="Toy"):
    recs = []
    for prompt in range(4):
        for p in (1, 2, 4):
            recs.append(
                {
                    "drafter": "ngram",
                    "shape": "chain",
                    "P": p,
                    "prompt": prompt,
                    "sample": 0,
                    "accepted": [min(p, prompt), 0],
                    "tree_size": [p, p],
                    "start": [0, 3],
                }
            )
    write_measured(
        str(path),
        MeasureRun(
            records=recs,
            meta={"format": "speedoflight-measured", "version": 1, "model": {"name": name}, "temperature": 1.0},
        ),
    )


@pytest.fixture
def files(tmp_path):
    exact = _binary_curve(30)
    _oracle_file(tmp_path / "o.npz", np.vstack([exact, exact]))
    _binary_dump(tmp_path / "d.npz")
    _measured(tmp_path / "m.jsonl")
    return tmp_path


def test_exact_iid_model_agrees_and_every_bound_holds(files):
    c = compare_real(str(files / "o.npz"), str(files / "d.npz"), [str(files / "m.jsonl")], replicates=20)
    assert c.P.tolist() == [1, 2, 4, 8, 16]
    np.testing.assert_allclose(c.oracle["mean"], _binary_curve(30)[c.P - 1])
    # the pool is the same i.i.d. binary tree: the simulation is exact (no randomness in the values)
    np.testing.assert_allclose(c.iid_sim["drop_mean"], c.oracle["mean"], rtol=1e-9)
    assert set(c.iid_verdicts()) == {"agrees"}
    held = c.bound_held()
    for k in ("lorden", "trajectory_conservative", "iid_bound"):
        assert all(held[k]), k
    assert c.mu == pytest.approx(LN2)
    # measured: mean over prompts of each prompt's mean X; at P = 2 the prompts give 0, 0.5, 1, 1
    ng = c.measured["ngram chain"]
    assert ng["mean"][1] == pytest.approx((0 + 0.5 + 1 + 1) / 4)
    assert np.isnan(ng["mean"][3])  # P = 8 was not measured
    md = c.markdown()
    assert md.count("\n") == 1 + len(c.P)
    assert "ngram chain" in md.splitlines()[0]


def test_a_real_optimum_far_above_iid_is_called_out(tmp_path):
    pmax = 16
    high = np.vstack([np.arange(1, pmax + 1) * 0.97, np.arange(1, pmax + 1) * 0.95])  # near-deterministic text
    _oracle_file(tmp_path / "o.npz", high)
    _binary_dump(tmp_path / "d.npz")
    c = compare_real(str(tmp_path / "o.npz"), str(tmp_path / "d.npz"), replicates=10)
    assert c.iid_verdicts()[-1] == "under-predicts"
    assert not all(c.bound_held()["lorden"])
    text = "\n".join(c.summary_lines())
    assert "under-predicts" in text
    assert "fell below the real optimum at P = " in text


def test_figure_and_written_directory(files, tmp_path):
    c = compare_real(str(files / "o.npz"), str(files / "d.npz"), [str(files / "m.jsonl")], replicates=10)
    fig = figure([c])
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert "P" in ax.get_xlabel()
    assert "E[X]" in ax.get_ylabel()
    labels = [line.get_label() for line in ax.get_lines()]
    for want in (
        "real optimum (oracle): mean, 95% CI (dark), prompts 10-90% (light)",
        CURVES["lorden"].label,
        "measured: ngram chain",
    ):
        assert want in labels
    out = tmp_path / "ev"
    write_evidence(str(out), [c], command="speedoflight evidence ...")
    assert sorted(p.name for p in out.iterdir()) == ["evidence.json", "evidence.md", "evidence.png"]
    assert "| P |" in (out / "evidence.md").read_text()
    assert json.loads((out / "evidence.json").read_text())[0]["P"] == [1, 2, 4, 8, 16]


def test_failed_write_leaves_the_old_directory(files, tmp_path, monkeypatch):
    c = compare_real(str(files / "o.npz"), str(files / "d.npz"), replicates=10)
    out = tmp_path / "ev"
    write_evidence(str(out), [c])
    before = (out / "evidence.md").read_text()
    import speedoflight.analysis.evidence as ev

    def boom(_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ev, "figure", boom)
    with pytest.raises(RuntimeError):
        write_evidence(str(out), [c])
    assert (out / "evidence.md").read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".evidence")] == []


def test_cli_evidence(files, capsys):
    args = [
        "evidence",
        "--oracle",
        str(files / "o.npz"),
        "--oracle-dump",
        str(files / "d.npz"),
        "--measured",
        str(files / "m.jsonl"),
        "--replicates",
        "10",
        "--quiet",
        "--json",
    ]
    assert main(args) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj[0]["model"] == "Toy"
    assert "ngram chain" in obj[0]["measured"]
    assert main(["evidence", "--oracle", str(files / "o.npz"), "--oracle-dump"]) == 2
    _measured(files / "other.jsonl", name="Other")
    assert (
        main(
            [
                "evidence",
                "--oracle",
                str(files / "o.npz"),
                "--oracle-dump",
                str(files / "d.npz"),
                "--measured",
                str(files / "other.jsonl"),
                "--quiet",
            ]
        )
        == 2
    )
    assert "no oracle file" in capsys.readouterr().err
    (files / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    assert main(["evidence", "--oracle", str(files / "bad.npz"), "--oracle-dump", str(files / "d.npz"), "--quiet"]) == 2
    assert "oracle" in capsys.readouterr().err
    text = files / "p.jsonl"
    text.write_text('{"prompt": "x"}\n')
    assert main(["evidence", "--oracle", str(files / "o.npz"), "--oracle-dump", str(text), "--quiet"]) == 2
    assert "not a speedoflight dump" in capsys.readouterr().err


def test_read_measured_rejects_bad_files(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"format": "other"}\n')
    with pytest.raises(InputError, match="header"):
        read_measured(str(p))
    p.write_text(
        '{"format": "speedoflight-measured", "version": 1}\n{"drafter": "x", "shape": "chain", "P": 2, '
        '"prompt": 0, "accepted": [3], "tree_size": [2]}\n'
    )
    with pytest.raises(InputError, match="line 2"):
        read_measured(str(p))
    p.write_text('{"format": "speedoflight-measured", "version": 1}\n{"drafter": "x", "sha')
    with pytest.raises(InputError, match="truncated"):
        read_measured(str(p))
    with pytest.raises(InputError, match="no such file"):
        read_measured(str(tmp_path / "none.jsonl"))


def test_measured_fraction_uses_the_oracle_on_the_same_prompts(tmp_path):
    exact = _binary_curve(16)
    curves = np.vstack([exact * f for f in (1.0, 1.0, 2.0, 2.0, 9.0)])  # prompt 9 is not measured
    _oracle_file(tmp_path / "o.npz", curves, prompt_index=[0, 1, 2, 3, 9])
    _binary_dump(tmp_path / "d.npz")
    _measured(tmp_path / "m.jsonl")  # prompts 0..3
    c = compare_real(str(tmp_path / "o.npz"), str(tmp_path / "d.npz"), [str(tmp_path / "m.jsonl")], replicates=5)
    col = c.measured["ngram chain"]
    np.testing.assert_allclose(col["oracle_same_prompts"], exact[c.P - 1] * 1.5)
    frac = 100 * col["mean"][1] / col["oracle_same_prompts"][1]
    assert f"({frac:.0f}%)" in c.markdown().splitlines()[3]


def test_compare_and_evidence_draw_a_bound_and_a_drafter_alike(files):
    """One registry: the Lorden curve and a drafter look the same in compare.png and evidence.png."""
    from matplotlib.colors import to_rgba

    from speedoflight.analysis.compare import compare
    from speedoflight.logs.acceptance import read_acceptance

    ev = figure([compare_real(str(files / "o.npz"), str(files / "d.npz"), [str(files / "m.jsonl")], replicates=10)])
    cmp_fig = compare([str(files / "d.npz")], read_acceptance(files / "m.jsonl"), replicates=4).figure()

    def style(fig, label):
        handles, labels = fig.axes[0].get_legend_handles_labels()
        if label not in labels:
            raise AssertionError(f"no line labelled {label!r}")
        line = handles[labels.index(label)]
        line = line.lines[0] if hasattr(line, "lines") else line  # an errorbar's data line
        return line.get_marker(), to_rgba(line.get_color()), line.get_linestyle(), line.get_fillstyle()

    for label in (CURVES["lorden"].label, "measured: ngram chain"):
        a, b = style(ev, label), style(cmp_fig, label)
        assert a[:2] == b[:2]  # marker and colour (compare joins a drafter's points with a line)
        if label.startswith("measured"):
            assert a[3] == b[3]
        else:
            assert a[2] == b[2]


def test_the_grafted_prediction_is_exact_on_a_binary_verifier(tmp_path):
    """Every row is (1/2, 1/2): the grafted tree is the binary tree whatever the pool, so it equals the oracle."""
    exact = _binary_curve(30)
    _oracle_file(tmp_path / "o.npz", np.vstack([exact] * 3))  # the dump's prompts 0, 1, 2
    _binary_dump(tmp_path / "d.npz")
    c = compare_real(str(tmp_path / "o.npz"), str(tmp_path / "d.npz"), replicates=10)
    # the dump's rows are float32 log-probabilities: -log 2 to float32 precision
    np.testing.assert_allclose(c.grafted["drop_mean"], exact[c.P - 1], rtol=1e-6)
    np.testing.assert_allclose(c.grafted["ratio"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(c.grafted["coverage"], 1.0)
    assert "grafted" in c.to_dict()
    assert "of the real optimum" in "\n".join(c.summary_lines())
