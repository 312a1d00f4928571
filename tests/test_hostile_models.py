"""Hostile model folders and prompts (issue 32): every load error one line, and runs checked before any forward.

Tiny models built here (tests/tinylm.py), nothing downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest

from .helpers import assert_user_error, run

missing = [m for m in ("torch", "transformers", "tokenizers") if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(bool(missing), reason=f"needs the [model] extra (missing: {', '.join(missing)})"),
]


def _llama(folder, vocab=5, context=256):
    import torch
    import transformers

    from .tinylm import char_tokenizer

    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context,
    )
    transformers.LlamaForCausalLM(cfg).save_pretrained(folder)
    char_tokenizer().save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return _llama(tmp_path_factory.mktemp("models") / "good")


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("abcabc\nbad\n")
    return str(path)


def _dump(model, prompts, tmp_path, *more):
    return ["dump", "--model", model, "--prompts", prompts, "--out", str(tmp_path / "o.npz"), "--quiet", *more]


def test_the_tiny_model_dumps(good, prompts, tmp_path, capsys):
    code, _out, err = run(capsys, *_dump(good, prompts, tmp_path, "--max-new-tokens", "4", "--top-k", "3"))
    assert code == 0, err


def test_a_truncated_safetensors_file_is_one_line(good, prompts, tmp_path, capsys):
    folder = tmp_path / "cut"
    shutil.copytree(good, folder)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    assert_user_error(capsys, _dump(str(folder), prompts, tmp_path), "model.safetensors", "truncated")


def test_pickle_weights_are_refused_unopened(good, prompts, tmp_path, capsys):
    """A pickle can run code when loaded: the folder is refused before transformers opens it."""
    import pickle

    folder = tmp_path / "pickled"
    shutil.copytree(good, folder)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    line = assert_user_error(capsys, _dump(str(folder), prompts, tmp_path), "pickle", "pytorch_model.bin", "refuses")
    assert "weights_only" not in line
    assert not marker.exists()


def test_a_config_vocabulary_of_1e10_is_one_line(good, prompts, tmp_path, capsys):
    folder = tmp_path / "huge"
    shutil.copytree(good, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["vocab_size"] = 10**10
    (folder / "config.json").write_text(json.dumps(cfg))
    assert_user_error(capsys, _dump(str(folder), prompts, tmp_path), "config.json", "vocab_size 1e+10")


def test_a_tokenizer_larger_than_the_vocabulary_is_refused(prompts, tmp_path, capsys):
    """5 characters, 3 embeddings: ids 3 and 4 would index past the embedding (an IndexError deep in torch)."""
    folder = _llama(tmp_path / "small", vocab=3)
    capsys.readouterr()  # transformers' saving bar
    assert_user_error(capsys, _dump(folder, prompts, tmp_path), "tokenizer has 5 tokens", "embeds 3")


def test_prompt_and_new_tokens_past_the_context_are_refused(tmp_path, capsys):
    """A RoPE model runs on past its context, silently wrong: 16 + 8 positions in a context of 16 is refused."""
    folder = _llama(tmp_path / "short", context=16)
    capsys.readouterr()  # transformers' saving bar
    path = tmp_path / "p.txt"
    path.write_text("abc\n" + "abcd" * 4 + "\n")
    argv = _dump(folder, str(path), tmp_path, "--max-new-tokens", "8")
    assert_user_error(capsys, argv, "prompt 1 has 16 tokens", "context of 16", "shorten prompt 1")
    path.write_text("abcdab\n")
    argv = _dump(folder, str(path), tmp_path, "--max-new-tokens", "12")
    assert_user_error(capsys, argv, "context of 16", "lower --max-new-tokens to 10")
    assert not (tmp_path / "o.npz").exists()
    out = str(tmp_path / "m.jsonl")
    argv = ["measure", "--model", folder, "--prompts", str(path), "--drafters", "ngram", "--out", out, "--quiet"]
    assert_user_error(capsys, [*argv, "--tokens", "12"], "context of 16", "lower --tokens to 10")


def test_oracle_pmax_past_the_context_or_the_memory_is_refused(tmp_path, capsys):
    folder = _llama(tmp_path / "long", context=10**9)
    capsys.readouterr()  # transformers' saving bar
    path = tmp_path / "p.txt"
    path.write_text("abcabc\n")
    argv = ["oracle", "--model", folder, "--prompts", str(path), "--quiet", "--pmax"]
    assert_user_error(capsys, [*argv, str(10**7)], "--pmax 10000000", "GiB", "lower --pmax")
    short = _llama(tmp_path / "short", context=16)
    capsys.readouterr()  # transformers' saving bar
    argv[2] = short
    assert_user_error(capsys, [*argv, "12"], "prefix 0 has 6 tokens", "context of 16", "lower --pmax to 10")


def test_samples_per_prompt_past_the_memory_is_refused(good, prompts, tmp_path, capsys):
    argv = _dump(good, prompts, tmp_path, "--samples-per-prompt", str(10**11), "--max-new-tokens", "8")
    assert_user_error(capsys, argv, "--samples-per-prompt 100000000000", "GiB", "lower --samples-per-prompt")


def test_a_chat_template_that_never_ends_is_stopped(good, prompts, tmp_path, capsys, monkeypatch):
    """Jinja's sandbox caps one range at 100,000, not two nested ones: 10^10 steps, stopped at the time limit."""
    import speedoflight.models.prompts as P

    monkeypatch.setattr(P, "TEMPLATE_SECONDS", 0.5)
    folder = tmp_path / "chat"
    shutil.copytree(good, folder)
    conf = json.loads((folder / "tokenizer_config.json").read_text())
    conf["chat_template"] = (
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}{{ messages[0]['content'] }}"
    )
    (folder / "tokenizer_config.json").write_text(json.dumps(conf))
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    argv = _dump(str(folder), prompts, tmp_path, "--chat-template")
    assert_user_error(capsys, argv, "chat template took more than 0.5 s", "prompt 0")
