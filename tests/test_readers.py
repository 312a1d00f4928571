"""Round trips for every reader: write a file, read it back, compare with the reference."""

from __future__ import annotations

import json
import math
import zipfile

import ml_dtypes
import numpy as np
import pytest

from speedoflight.options import ReadOptions
from speedoflight.readers import open_source
from speedoflight.readers.dumpfile import write_dump
from speedoflight.theory.estimator import estimate

from .reference import full_moments, topk_interval

RNG = np.random.default_rng(11)
LOGITS = RNG.normal(size=(40, 97)) * 3


def all_rows(src, chunk_bytes=1 << 20):
    return np.concatenate([np.asarray(c.values, dtype=np.float64) for c in src.chunks(chunk_bytes)])


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64])
def test_npy_round_trip(tmp_path, dtype):
    x = LOGITS.astype(dtype)
    np.save(tmp_path / "a.npy", x)
    src = open_source(tmp_path / "a.npy", kind="logits")
    assert (src.format, src.n_rows, src.width, src.dtype) == ("npy", 40, 97, np.dtype(dtype).name)
    np.testing.assert_array_equal(all_rows(src, chunk_bytes=97 * 7), x.astype(np.float64))


def test_npy_fortran_order(tmp_path):
    np.save(tmp_path / "f.npy", np.asfortranarray(LOGITS))
    np.testing.assert_array_equal(all_rows(open_source(tmp_path / "f.npy", kind="logits"), 97 * 8 * 3), LOGITS)


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_round_trip(tmp_path, compressed):
    save = np.savez_compressed if compressed else np.savez
    save(tmp_path / "a.npz", logits=LOGITS.astype(np.float32), other=np.zeros((2, 2)))
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        assert (zf.getinfo("logits.npy").compress_type == zipfile.ZIP_STORED) != compressed
    src = open_source(tmp_path / "a.npz", kind="logits")
    np.testing.assert_array_equal(all_rows(src, 97 * 4 * 5), LOGITS.astype(np.float32))
    np.testing.assert_array_equal(all_rows(open_source(tmp_path / "a.npz", tensor="other", kind="logits")), 0.0)


def test_safetensors_round_trip_written_by_the_library(tmp_path):
    from safetensors.numpy import save_file

    save_file({"logits": LOGITS.astype(np.float16), "b": np.ones((3, 3), np.float32)}, str(tmp_path / "a.safetensors"))
    src = open_source(tmp_path / "a.safetensors", kind="logits")
    np.testing.assert_array_equal(all_rows(src, 97 * 2 * 3), LOGITS.astype(np.float16).astype(np.float64))
    assert all_rows(open_source(tmp_path / "a.safetensors", tensor="b", kind="logits")).shape == (3, 3)


def test_safetensors_bfloat16_and_pt(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is in the [model] extra")
    from safetensors.torch import save_file

    t = torch.tensor(LOGITS, dtype=torch.bfloat16)
    save_file({"logits": t}, str(tmp_path / "b.safetensors"))
    want = t.float().numpy().astype(np.float64)
    np.testing.assert_array_equal(all_rows(open_source(tmp_path / "b.safetensors", kind="logits")), want)
    torch.save({"logits": t, "step": torch.tensor(3)}, tmp_path / "b.pt")
    np.testing.assert_array_equal(all_rows(open_source(tmp_path / "b.pt", kind="logits"), 97 * 2 * 4), want)
    torch.save(torch.tensor(LOGITS, dtype=torch.float32), tmp_path / "c.pt")
    got = estimate(tmp_path / "c.pt", read=ReadOptions(kind="logits"))
    assert got.mu == pytest.approx(full_moments(LOGITS.astype(np.float32))[:, 0].mean(), rel=1e-6)


def test_kind_detection(tmp_path):
    lp = LOGITS - np.log(np.exp(LOGITS).sum(axis=1, keepdims=True))
    for name, arr, kind in (("z", LOGITS, "logits"), ("lp", lp, "logprobs"), ("p", np.exp(lp), "probs")):
        np.save(tmp_path / f"{name}.npy", arr)
        src = open_source(tmp_path / f"{name}.npy")
        assert (src.kind, src.kind_how) == (kind, "detected")


# --- JSONL API formats -------------------------------------------------------------------------

TOPS = [[0.5, 0.2, 0.1], [0.6, 0.3, 0.05], [0.9, 0.05, 0.01]]
SAMPLED = [0, 1, 0]
VOCAB = 1000


def expected_rows():
    return [topk_interval(np.array(t), VOCAB) for t in TOPS]


def openai_chat_line():
    content = [
        {
            "token": f"t{i}",
            "logprob": math.log(t[s]),
            "top_logprobs": [{"token": f"a{j}", "logprob": math.log(p)} for j, p in enumerate(t)]
            + [{"token": "zz", "logprob": -9999.0}],
        }
        for i, (t, s) in enumerate(zip(TOPS, SAMPLED, strict=True))
    ]
    return {"id": "x", "choices": [{"index": 0, "logprobs": {"content": content}}]}


def openai_completions_line():
    return {
        "choices": [
            {
                "text": "abc",
                "logprobs": {
                    "tokens": ["a", "b", "c"],
                    "token_logprobs": [math.log(t[s]) for t, s in zip(TOPS, SAMPLED, strict=True)],
                    "top_logprobs": [{f"w{j}": math.log(p) for j, p in enumerate(t)} for t in TOPS],
                },
            }
        ]
    }


def vllm_line():
    return {
        "token_ids": [10, 21, 30],
        "logprobs": [
            {str(10 * i + j): {"logprob": math.log(p), "rank": j + 1} for j, p in enumerate(t)}
            for i, t in enumerate(TOPS)
        ],
    }


def sglang_line():
    return {
        "text": "abc",
        "meta_info": {
            "output_token_logprobs": [[math.log(t[s]), 7, None] for t, s in zip(TOPS, SAMPLED, strict=True)],
            "output_top_logprobs": [[[math.log(p), j, None] for j, p in enumerate(t)] for t in TOPS],
        },
    }


@pytest.mark.parametrize(
    ("maker", "layout"),
    [
        (openai_chat_line, "openai-chat"),
        (openai_completions_line, "openai-completions"),
        (vllm_line, "vllm"),
        (sglang_line, "sglang"),
    ],
)
def test_jsonl_layouts(tmp_path, maker, layout):
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps(maker()) + "\n\n" + json.dumps(maker()) + "\n")
    src = open_source(path, vocab_size=VOCAB)
    assert src.format == f"{layout}-jsonl"
    assert src.kind == "logprobs"
    m = estimate(path, per_row=True, read=ReadOptions(vocab_size=VOCAB))
    want = np.array(expected_rows() * 2)
    got = np.stack([m.per_row.h_lo, m.per_row.h_hi, m.per_row.m2_lo, m.per_row.m2_hi], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert m.truncated
    assert m.n_sequences == 2
    assert m.n_rows == 6
    np.testing.assert_array_equal(m.per_row.seq, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(m.per_row.pos, [0, 1, 2, 0, 1, 2])
    if layout != "vllm":
        sampled = [-math.log(t[s]) for t, s in zip(TOPS, SAMPLED, strict=True)] * 2
        np.testing.assert_allclose(m.per_row.surprisal, sampled)
    assert m.mu_interval[0] <= m.mu <= m.mu_interval[1]


def test_vllm_sampled_token_outside_top_k_does_not_set_the_cap(tmp_path):
    pos = {
        "1": {"logprob": math.log(0.5), "rank": 1},
        "2": {"logprob": math.log(0.3), "rank": 2},
        "99": {"logprob": math.log(0.001), "rank": 400},
    }
    path = tmp_path / "v.jsonl"
    path.write_text(json.dumps({"token_ids": [99], "logprobs": [pos]}) + "\n")
    m = estimate(path, per_row=True, read=ReadOptions(vocab_size=VOCAB))
    listed = np.array([0.5, 0.3, 0.001])
    r = 1 - listed.sum()
    # packed tail under cap 0.3 (not 0.001): one token of 0.199
    h_lo = -(listed * np.log(listed)).sum() - r * math.log(r)
    assert m.per_row.h_lo[0] == pytest.approx(h_lo, rel=1e-12)
    assert m.per_row.surprisal[0] == pytest.approx(-math.log(0.001))


def test_jsonl_list_per_line_is_a_batch(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps([sglang_line(), sglang_line()]) + "\n")
    assert estimate(path, read=ReadOptions(vocab_size=VOCAB)).n_sequences == 2


# --- the project's dump format -------------------------------------------------------------------


def make_dump(path, n_seq=3, length=5, k=4, vocab=50, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n_seq * length, vocab)) * 2
    lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    order = np.argsort(-lp, axis=1)[:, :k]
    ref = full_moments(z)
    tok = order[:, 1]
    arrays = {
        "topk_ids": order,
        "topk_logprobs": np.take_along_axis(lp, order, axis=1),
        "entropy": ref[:, 0].copy(),
        "m2": ref[:, 1].copy(),
        "seq": np.repeat(np.arange(n_seq), length),
        "pos": np.tile(np.arange(length), n_seq),
        "next_token": tok,
        "next_surprisal": -lp[np.arange(len(tok)), tok],
    }
    meta = {
        "model": "test",
        "vocab_size": vocab,
        "temperature": 1.0,
        "seed": seed,
        "top_k": k,
        "prompt_source": "none",
        "versions": {},
    }
    write_dump(str(path), arrays, meta)
    return arrays, ref


def test_dump_round_trip(tmp_path):
    arrays, ref = make_dump(tmp_path / "d.npz")
    src = open_source(tmp_path / "d.npz")
    assert src.format == "speedoflight-dump-v1"
    assert src.vocab_size == 50
    assert src.truncated
    m = estimate(tmp_path / "d.npz", per_row=True, read=ReadOptions(chunk_bytes=4 * 4 * 2))
    np.testing.assert_allclose(m.per_row.h_lo, ref[:, 0])
    np.testing.assert_allclose(m.per_row.m2_hi, ref[:, 1])
    np.testing.assert_allclose(m.per_row.surprisal, arrays["next_surprisal"])
    assert m.n_exact_rows == 15
    assert not m.truncated
    assert m.n_sequences == 3
    assert m.mu == pytest.approx(ref[:, 0].mean())


def test_dump_without_full_moments_falls_back_to_interval(tmp_path):
    arrays, ref = make_dump(tmp_path / "d.npz")
    arrays["entropy"][:] = np.nan
    arrays["m2"][:] = np.nan
    write_dump(
        str(tmp_path / "e.npz"),
        arrays,
        {
            "model": "t",
            "vocab_size": 50,
            "temperature": 1.0,
            "seed": 0,
            "top_k": 4,
            "prompt_source": "none",
            "versions": {},
        },
    )
    m = estimate(tmp_path / "e.npz")
    assert m.truncated
    assert m.mu_interval[0] <= ref[:, 0].mean() <= m.mu_interval[1]


def test_several_files_and_globs_aggregate(tmp_path):
    np.save(tmp_path / "a1.npy", LOGITS[:25])
    np.save(tmp_path / "a2.npy", LOGITS[25:])
    np.save(tmp_path / "all.npy", LOGITS)
    one = estimate(tmp_path / "all.npy", read=ReadOptions(kind="logits"))
    two = estimate(str(tmp_path / "a?.npy"), read=ReadOptions(kind="logits"))
    assert two.n_rows == 40
    assert two.mu == pytest.approx(one.mu)
    assert two.mu2 == pytest.approx(one.mu2)
    assert one.mu == pytest.approx(full_moments(LOGITS)[:, 0].mean())


def test_chunk_size_does_not_change_the_result(tmp_path):
    big = RNG.normal(size=(300, 64)).astype(np.float16)
    np.save(tmp_path / "big.npy", big)
    a = estimate(tmp_path / "big.npy", read=ReadOptions(kind="logits", chunk_bytes=64 * 2 * 7))
    b = estimate(tmp_path / "big.npy", read=ReadOptions(kind="logits"))
    assert [a.mu, a.mu2, *a.mu_ci, *a.mu2_ci] == pytest.approx([b.mu, b.mu2, *b.mu_ci, *b.mu2_ci], rel=1e-12)
