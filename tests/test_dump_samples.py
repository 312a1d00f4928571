"""``dump --samples-per-prompt``: several continuations per prompt, and prompt-level uncertainty."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="dump needs torch (the [model] extra)")
pytest.importorskip("transformers", reason="dump needs transformers (the [model] extra)")

from speedoflight.cli.app import main
from speedoflight.theory.estimator import estimate
from speedoflight.theory.trajectory import trajectories_from_files

from .tinylm import save_tiny, tiny_llama


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("tiny") / "m", tiny_llama(scale=3.0))


def _dump(folder, tmp_path, name, samples):
    prompts = tmp_path / "p.txt"
    prompts.write_text("abc\nddb\n")
    out = tmp_path / name
    args = [
        "dump",
        "--model",
        str(folder),
        "--prompts",
        str(prompts),
        "--out",
        str(out),
        "--max-new-tokens",
        "12",
        "--top-k",
        "5",
        "--seed",
        "3",
        "--quiet",
        "--samples-per-prompt",
        str(samples),
    ]
    assert main(args) == 0
    return out


def test_samples_per_prompt(folder, tmp_path):
    out = _dump(folder, tmp_path, "d3.npz", 3)
    with np.load(out) as z:
        seq, prompt, nxt = z["seq"], z["prompt"], z["next_token"]
    assert sorted(set(seq.tolist())) == list(range(6))
    np.testing.assert_array_equal(prompt, seq // 3)
    conts = [tuple(nxt[seq == s]) for s in range(6)]
    assert len(set(conts[:3])) > 1
    assert len(set(conts[3:])) > 1
    one = _dump(folder, tmp_path, "d1.npz", 1)
    with np.load(one) as z:
        assert "prompt" not in z.files
        # the first continuation of each prompt is the one a one-sample dump makes (same seed)
        np.testing.assert_array_equal(z["next_token"][z["seq"] == 0], np.array(conts[0]))
        np.testing.assert_array_equal(z["next_token"][z["seq"] == 1], np.array(conts[3]))


def test_uncertainty_resamples_prompts(folder, tmp_path):
    out = _dump(folder, tmp_path, "d4.npz", 4)
    m = estimate(str(out))
    assert m.n_sequences == 8
    assert m.ci_method.startswith("prompt bootstrap")
    seqs, prompts = trajectories_from_files(str(out))
    assert len(seqs) == 8
    assert prompts.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


def test_bad_samples_per_prompt(folder, tmp_path, capsys):
    prompts = tmp_path / "p.txt"
    prompts.write_text("abc\n")
    assert (
        main(
            [
                "dump",
                "--model",
                str(folder),
                "--prompts",
                str(prompts),
                "--out",
                str(tmp_path / "x.npz"),
                "--samples-per-prompt",
                "0",
            ]
        )
        == 2
    )
    assert "--samples-per-prompt" in capsys.readouterr().err


def test_per_kind_keeps_file_indices(folder, tmp_path):
    prompts = tmp_path / "k.jsonl"
    lines = [("abc", "x"), ("bcd", "x"), ("dda", "y"), ("cab", "x"), ("ebb", "y")]
    prompts.write_text("".join(f'{{"prompt": "{p}", "kind": "{k}"}}\n' for p, k in lines))
    out = tmp_path / "pk.npz"
    assert (
        main(
            [
                "dump",
                "--model",
                str(folder),
                "--prompts",
                str(prompts),
                "--out",
                str(out),
                "--max-new-tokens",
                "4",
                "--top-k",
                "3",
                "--per-kind",
                "1",
                "--samples-per-prompt",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    with np.load(out) as z:
        assert sorted(set(z["prompt"].tolist())) == [0, 2]  # the first prompt of each kind, by file line
        assert sorted(set(z["seq"].tolist())) == [0, 1, 4, 5]
    full = tmp_path / "full.npz"
    assert (
        main(
            [
                "dump",
                "--model",
                str(folder),
                "--prompts",
                str(prompts),
                "--out",
                str(full),
                "--max-new-tokens",
                "4",
                "--top-k",
                "3",
                "--samples-per-prompt",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    with np.load(out) as a, np.load(full) as b:  # the same sequences, whatever the selection
        for s in (0, 1, 4, 5):
            np.testing.assert_array_equal(a["next_token"][a["seq"] == s], b["next_token"][b["seq"] == s])
