"""``dump --device/--dtype/--chat-template/--batch-size/--batch-order`` on the tiny local Llama (CPU only)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("torch", reason="dump needs torch (the [model] extra)")
pytest.importorskip("transformers", reason="dump needs transformers (the [model] extra)")

import torch

from speedoflight.cli.app import main
from speedoflight.errors import InputError
from speedoflight.models import dump as md

from .tinylm import VOCAB, char_tokenizer, save_tiny, tiny_llama

#: bfloat16 keeps 8 significant bits: each rounding is off by at most u = 2**-8 relative.
BF16_U = 2.0**-8
#: A chat template written in the tiny tokenizer's own characters, so its text is visible in the token ids.
TEMPLATE = "{% for m in messages %}bb{{ m['content'] }}dd{% endfor %}{% if add_generation_prompt %}ce{% endif %}"
PROMPTS = "abc\nddbaacd\na\nbcdabcdabcdab\ncc\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("tiny") / "m", tiny_llama(scale=3.0))


@pytest.fixture(scope="module")
def templated(tmp_path_factory):
    """The same tiny model, its tokenizer given a chat template."""
    path = tmp_path_factory.mktemp("tiny") / "chat"
    tiny_llama(scale=3.0).save_pretrained(path)
    tok = char_tokenizer()
    tok.chat_template = TEMPLATE
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    path = tmp_path_factory.mktemp("prompts") / "p.txt"
    path.write_text(PROMPTS)
    return path


def _dump(model, prompts, out, *extra):
    argv = ["dump", "--model", str(model), "--prompts", str(prompts), "--out", str(out)]
    argv += ["--device", "cpu", "--max-new-tokens", "12", "--top-k", str(len(VOCAB)), "--seed", "3", "--quiet"]
    argv += extra
    assert main(argv) == 0
    with np.load(out) as z:
        arrays = {k: z[k] for k in z.files if k != "metadata"}
        meta = json.loads(str(z["metadata"]))
    return arrays, meta


def _one_error_line(capsys, argv, *words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("speedoflight: error:")
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def _up_to_divergence(a, b):
    """Rows of each sequence up to and including the first where the two dumps sample different tokens."""
    keep = np.zeros(len(a["seq"]), dtype=bool)
    for s in np.unique(a["seq"]):
        idx = np.flatnonzero(a["seq"] == s)
        differ = np.flatnonzero(a["next_token"][idx] != b["next_token"][idx])
        last = idx[differ[0]] if len(differ) else idx[-1]
        keep[idx[0] : last + 1] = True  # the diverging row's distribution still comes from a shared prefix
    return keep


def test_bfloat16_on_the_cpu_matches_float32(folder, prompts, tmp_path):
    f32, meta32 = _dump(folder, prompts, tmp_path / "f32.npz")
    bf, meta = _dump(folder, prompts, tmp_path / "bf16.npz", "--dtype", "bfloat16")
    assert (meta32["device"], meta32["dtype"], meta32["statistics_dtype"]) == ("cpu", "float32", "float64")
    assert (meta["device"], meta["dtype"], meta["statistics_dtype"]) == ("cpu", "bfloat16", "float64")
    assert meta["device_name"] is None
    np.testing.assert_array_equal(bf["seq"], f32["seq"])
    h, m2 = bf["entropy"], bf["m2"]
    assert np.isfinite(h).all()
    assert np.isfinite(m2).all()
    assert (h >= 0).all()
    assert (h <= math.log(len(VOCAB)) + 1e-12).all()
    assert (m2 >= h**2 - 1e-12).all()  # M2 - H^2 is a variance
    # the statistics are float64 from the upcast logits: with top_k = V the rows are whole, and H and M2
    # recomputed from the float32-rounded log-probs agree to float32 rounding (bfloat16 arithmetic would not)
    lp = bf["topk_logprobs"].astype(np.float64)
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(-(np.exp(lp) * lp).sum(axis=1), h, atol=1e-5)
    np.testing.assert_allclose((np.exp(lp) * lp**2).sum(axis=1), m2, atol=1e-5)
    # against float32, row by row while the two sample the same path. To first order a logit error dz moves
    # H by -sum_j p_j (log p_j + H) dz_j, so |dH| <= sd(log p) * max|dz - c| (any shift c), and M2 by
    # sum_j p_j (l_j^2 + 2 l_j - M2 + 2H) dz_j. bfloat16 logits carry a few roundings of u relative to
    # the row's logit range R: |dz - c| <= 2 u R.
    keep = _up_to_divergence(f32, bf)
    assert keep.sum() >= 20
    lp32 = f32["topk_logprobs"].astype(np.float64)[keep]
    p32 = np.exp(lp32)
    h32, m32 = f32["entropy"][keep], f32["m2"][keep]
    dz = 2 * BF16_U * -lp32.min(axis=1)
    sens_h = (p32 * np.abs(lp32 + h32[:, None])).sum(axis=1)
    sens_m2 = (p32 * np.abs(lp32**2 + 2 * lp32 - m32[:, None] + 2 * h32[:, None])).sum(axis=1)
    assert (np.abs(h[keep] - h32) <= sens_h * dz + 1e-9).all()
    assert (np.abs(m2[keep] - m32) <= sens_m2 * dz + 1e-9).all()
    assert np.abs(h[keep] - h32).max() > 0  # the weights really were bfloat16


def test_statistics_are_upcast_before_the_log_softmax():
    z = (torch.randn(4, 4099, generator=torch.Generator().manual_seed(1)) * 6).to(torch.bfloat16)
    lp = md._log_probs(z, 1.0, torch.float64)
    assert lp.dtype == torch.float64
    assert torch.equal(lp, torch.log_softmax(z.double(), dim=-1))
    row = {k: [] for k in md._LOGGED}
    nxt = torch.tensor([0, 1, 2, 3])
    md._log_step(row, lp, nxt, 8)
    ref = torch.log_softmax(z.double(), dim=-1).numpy()
    p = np.exp(ref)
    np.testing.assert_allclose(row["entropy"][0].numpy(), -(p * ref).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(row["m2"][0].numpy(), (p * ref**2).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(row["next_surprisal"][0].numpy(), -ref[np.arange(4), [0, 1, 2, 3]], rtol=1e-12)
    naive = torch.log_softmax(z, dim=-1).double()  # what skipping the upcast would log
    assert (naive - lp).abs().max() > 1e-3


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_one_line(folder, prompts, tmp_path, capsys):
    argv = ["dump", "--model", str(folder), "--prompts", str(prompts), "--out", str(tmp_path / "x.npz")]
    line = _one_error_line(capsys, [*argv, "--device", "cuda"], "--device cuda", "--device cpu")
    assert "torch.cuda.is_available() is False" in line
    assert not (tmp_path / "x.npz").exists()


def test_device_and_dtype_resolution(monkeypatch):
    assert md.resolve_dtype("auto", "cpu") == "float32"
    assert md.resolve_dtype("float16", "cpu") == "float16"
    with pytest.raises(InputError, match=r"^dtype float64: expected one of"):
        md.resolve_dtype("float64", "cpu")
    with pytest.raises(InputError, match=r"^device tpu: expected one of"):
        md.resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert md.resolve_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: not including_emulation)
    assert md.resolve_dtype("auto", "cuda") == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert md.resolve_dtype("auto", "cuda") == "float16"
    assert md.dtype_warning("cuda", "float16") is None
    assert md.dtype_warning("cpu", "float32") is None


def test_half_precision_warning_on_a_cpu_without_kernels(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_fp16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    warning = md.dtype_warning("cpu", "float16")
    assert warning is not None
    assert "--dtype float16" in warning
    assert "\n" not in warning
    assert md.dtype_warning("cpu", "bfloat16") is None


def test_chat_template_missing_is_one_line(folder, prompts, tmp_path, capsys):
    argv = ["dump", "--model", str(folder), "--prompts", str(prompts), "--out", str(tmp_path / "x.npz")]
    _one_error_line(capsys, [*argv, "--chat-template"], "--chat-template", "no chat template")


def test_chat_template_wraps_each_prompt(templated, prompts, tmp_path):
    tok = md.load_model(str(templated)).tokenizer
    ids = md.encode_prompts(tok, ["abc"], chat_template=True)
    assert ids == [[VOCAB.index(ch) for ch in "bbabcddce"]]
    assert md.encode_prompts(tok, ["abc"]) == [[0, 1, 2]]
    wrapped, meta = _dump(templated, prompts, tmp_path / "chat.npz", "--chat-template")
    assert meta["tokenization"].startswith("chat template")
    assert len(meta["chat_template_sha256"]) == 64
    # the same dump as plain prompts that spell the template out: the prompt tokens are the template's
    spelled = tmp_path / "spelled.txt"
    spelled.write_text("".join(f"bb{line}ddce\n" for line in PROMPTS.split()))
    plain, meta_plain = _dump(templated, spelled, tmp_path / "plain.npz")
    assert meta_plain["chat_template_sha256"] is None
    for k in wrapped:
        np.testing.assert_array_equal(wrapped[k], plain[k], err_msg=k)
    unwrapped, _ = _dump(templated, prompts, tmp_path / "raw.npz")
    assert not np.array_equal(unwrapped["entropy"], wrapped["entropy"])


def test_batching_order_and_size(folder, prompts, tmp_path):
    runs = {}
    for size in ("1", "3"):
        for order in ("length", "file"):
            runs[size, order] = _dump(
                folder, prompts, tmp_path / f"b{size}{order}.npz", "--batch-size", size, "--batch-order", order
            )
    base, meta = runs["1", "file"]
    assert (meta["batch_size"], meta["batch_order"]) == (1, "file")
    assert runs["3", "length"][1]["batch_size"] == 3
    np.testing.assert_array_equal(base["seq"], np.repeat(np.arange(5), 12))  # rows in prompt order
    # one sequence per batch: the order the batches run in changes nothing, bit for bit
    for k in base:
        np.testing.assert_array_equal(runs["1", "length"][0][k], base[k], err_msg=k)
    # shared batches: every sequence keeps its own generator, so the same tokens; the float statistics
    # agree to rounding only (a matrix product rounds differently with another number of rows)
    for key in (("3", "length"), ("3", "file")):
        got = runs[key][0]
        for k in ("seq", "pos", "next_token", "topk_ids"):
            np.testing.assert_array_equal(got[k], base[k], err_msg=f"{key} {k}")
        for k in ("entropy", "m2", "next_surprisal", "topk_logprobs"):
            np.testing.assert_allclose(got[k], base[k], rtol=0, atol=1e-5, err_msg=f"{key} {k}")
    again, _ = _dump(folder, prompts, tmp_path / "again.npz", "--batch-size", "3")  # the default order: length
    for k in again:
        np.testing.assert_array_equal(again[k], runs["3", "length"][0][k], err_msg=k)


def test_batch_size_auto_and_bad(folder, prompts, tmp_path, capsys):
    _, meta = _dump(folder, prompts, tmp_path / "auto.npz", "--batch-size", "auto", "--max-new-tokens", "2")
    assert meta["batch_size"] == md.CPU_BATCH
    argv = ["dump", "--model", str(folder), "--prompts", str(prompts), "--out", str(tmp_path / "x.npz")]
    _one_error_line(capsys, [*argv, "--batch-size", "0"], "--batch-size")


def test_auto_batch_size_arithmetic():
    import transformers

    cfg = transformers.LlamaConfig(  # SmolLM2-135M's shape
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
    )
    gib = 2**30
    small, large = md.auto_batch_size(cfg, 2, 600, 4 * gib), md.auto_batch_size(cfg, 2, 600, 40 * gib)
    assert 1 <= small < large <= md.MAX_AUTO_BATCH
    assert md.auto_batch_size(cfg, 2, 600, 1000 * gib) == md.MAX_AUTO_BATCH
    assert md.auto_batch_size(cfg, 2, 600, 1) == 1
    assert md.auto_batch_size(cfg, 4, 600, 4 * gib) < small  # float32 weights: a larger KV cache
    assert md.auto_batch_size(cfg, 2, 600, 4 * gib, views=3) < small
