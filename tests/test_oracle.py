"""The real-model oracle against brute-force enumeration on a tiny random Llama built here."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the oracle needs torch (the [model] extra)")
transformers = pytest.importorskip("transformers", reason="the oracle needs transformers (the [model] extra)")

from speedoflight.cli.app import main  # noqa: E402
from speedoflight.formats.oracle import load_oracle  # noqa: E402
from speedoflight.models.oracle import oracle, oracle_batch, oracle_curve, prefixes_from_dump  # noqa: E402
from speedoflight.models.treelm import TreeBatch  # noqa: E402

from .tinylm import VOCAB, char_tokenizer, save_tiny, tiny_llama  # noqa: E402

V = len(VOCAB)


@pytest.fixture(scope="module")
def tiny():
    return tiny_llama()


def _next_logprobs(model, ids, temperature):
    """Full forward pass of one sequence without any cache: the reference."""
    with torch.inference_mode():
        z = model(input_ids=torch.tensor([ids])).logits[0, -1].to(torch.float64)
    return torch.log_softmax(z / temperature, dim=-1).numpy()


_BRUTE: dict[tuple[tuple[int, ...], float, int], list[tuple[float, int]]] = {}


def _brute_force(model, prefix, temperature, depth):
    """Every path up to ``depth``: (log-probability, depth), from full forward passes without any cache.

    The paths of one length go through the model together (equal lengths: no padding, no mask), one batch per
    depth; the result is kept per (prefix, temperature, depth), as the lookahead does not change it.
    """
    key = (tuple(prefix), temperature, depth)
    if key in _BRUTE:
        return list(_BRUTE[key])
    logp: dict[tuple[int, ...], float] = {(): 0.0}
    nodes = []
    for d in range(1, depth + 1):
        parents = list(itertools.product(range(V), repeat=d - 1))
        with torch.inference_mode():
            ids = torch.tensor([prefix + list(path) for path in parents])
            z = model(input_ids=ids).logits[:, -1].to(torch.float64)
        rows = torch.log_softmax(z / temperature, dim=-1).numpy()
        for path, row in zip(parents, rows, strict=True):
            for t in range(V):
                logp[(*path, t)] = logp[path] + float(row[t])
                nodes.append((logp[(*path, t)], d))
    _BRUTE[key] = nodes
    return list(nodes)


def test_tree_batch_matches_full_forward(tiny):
    prefixes = [[1, 4, 2], [3], [0, 0, 1, 2]]  # unequal lengths: left padding
    tb = TreeBatch(tiny, prefixes, 0.8)
    for b, p in enumerate(prefixes):
        np.testing.assert_allclose(tb.root_logprobs()[b], _next_logprobs(tiny, p, 0.8), atol=1e-5)
    first = tb.extend_logprobs([[(-1, 3), (-1, 0), (0, 2)], [(-1, 1)], []])
    # a second call, attending to nodes of the first; prefix 2 only now
    second = tb.extend_logprobs([[(2, 1), (1, 1)], [(0, 4), (1, 0), (0, 2)], [(-1, 2), (0, 3)]])
    for b, p in enumerate(prefixes):
        got = [*first[b], *second[b]]
        assert len(got) == tb.size(b)
        for node, row in enumerate(got):
            np.testing.assert_allclose(row, _next_logprobs(tiny, p + tb.path(b, node), 0.8), atol=1e-5)
    assert tb.depth[0] == [1, 1, 2, 3, 2]
    assert tb.depth[1] == [1, 2, 3, 2]
    assert tb.depth[2] == [1, 2]
    assert tb.forwards == 3
    assert tb.tokens_forwarded == 8 + 11
    top = tb.extend_top([[(-1, 4)], [], []], 3)
    ref = _next_logprobs(tiny, prefixes[0] + [4], 0.8)
    np.testing.assert_allclose(top[0][0][0], np.sort(-ref)[:3], atol=1e-5)
    np.testing.assert_array_equal(top[0][0][1], np.argsort(-ref)[:3])
    assert top[1] == []
    assert top[2] == []


def test_batched_search_equals_one_at_a_time(tiny):
    prefixes = [[1, 2], [3], [4, 4, 0, 1]]
    curves, depths, work = oracle_batch(tiny, prefixes, 30, 1.0, 4)
    for b, p in enumerate(prefixes):
        c, d, _ = oracle_curve(tiny, p, 30, 1.0, 4)
        np.testing.assert_allclose(curves[b], c, rtol=1e-6)
        np.testing.assert_array_equal(depths[b], d)
    assert work["nodes_forwarded"] >= 3 * 29


@pytest.mark.parametrize(("temperature", "lookahead"), [(1.0, 1), (1.0, 6), (0.8, 3), (1.7, 1)])
def test_oracle_equals_enumeration(tiny, temperature, lookahead):
    prefix = [2, 0, 3]
    depth = 5
    nodes = _brute_force(tiny, prefix, temperature, depth)
    nodes.sort(key=lambda t: -t[0])
    pmax = 40
    curve, depths, work = oracle_curve(tiny, prefix, pmax, temperature, lookahead)
    checked = 0
    for p in range(1, pmax + 1):
        top = nodes[:p]
        if max(d for _, d in top) >= depth:
            break  # beyond here a deeper node could belong to the top P; not enumerated
        expected = sum(math.exp(lp) for lp, _ in top)
        assert curve[p - 1] == pytest.approx(expected, rel=1e-6, abs=1e-9)
        assert sorted(depths[:p]) == sorted(d for _, d in top)
        checked += 1
    assert checked >= 5
    assert work["nodes_forwarded"] >= pmax - 1
    assert np.all(np.diff(curve) > 0)


def test_lookahead_changes_only_the_work(tiny):
    a = oracle_curve(tiny, [1, 2], 60, 1.0, 1)
    b = oracle_curve(tiny, [1, 2], 60, 1.0, 16)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6)  # float32 rounding differs by batch
    np.testing.assert_array_equal(a[1], b[1])
    assert b[2]["forwards"] < a[2]["forwards"]


def test_oracle_mean_and_interval(tiny):
    res = oracle(tiny, [[1, 2], [3], [4, 4, 0]], 12, 1.0)
    assert res.curves.shape == (3, 12)
    np.testing.assert_allclose(res.mean, res.curves.mean(axis=0))
    assert np.all(res.ci_low <= res.mean)
    assert np.all(res.mean <= res.ci_high)
    # E[X*(P)] <= P, and >= the greedy chain's first step
    assert np.all(res.curves <= res.P + 1e-12)
    assert res.forwards_per_s > 0


def test_oracle_rejects_bad_settings(tiny):
    from speedoflight.errors import InputError

    with pytest.raises(InputError, match="temperature"):
        oracle(tiny, [[1]], 4, 0.0)
    with pytest.raises(InputError, match="pmax"):
        oracle_curve(tiny, [1], 0, 1.0)
    with pytest.raises(InputError, match="no tokens"):
        oracle_curve(tiny, [], 4, 1.0)


def test_prefixes_from_dump(tmp_path):
    from speedoflight.errors import InputError
    from speedoflight.readers.dumpfile import write_dump

    n = 6
    arrays = {
        "topk_ids": np.zeros((n, 2), dtype=np.int32),
        "topk_logprobs": np.full((n, 2), math.log(0.5), dtype=np.float32),
        "entropy": np.full(n, math.log(2)),
        "m2": np.full(n, math.log(2) ** 2),
        "seq": np.array([0, 0, 0, 1, 1, 1]),
        "pos": np.array([0, 1, 2, 0, 1, 2]),
        "next_token": np.array([7, 8, 9, 17, 18, 19]),
        "next_surprisal": np.full(n, math.log(2)),
    }
    meta = {
        "model": {},
        "vocab_size": 2,
        "temperature": 1.0,
        "seed": 0,
        "top_k": 2,
        "prompt_source": {},
        "versions": {},
    }
    write_dump(str(tmp_path / "d.npz"), arrays, meta)
    pre, prompts, seqs, pos = prefixes_from_dump(str(tmp_path / "d.npz"), [[1], [2, 3]], [0, 2, 3])
    assert pre == [[1], [1, 7, 8], [1, 7, 8, 9], [2, 3], [2, 3, 17, 18], [2, 3, 17, 18, 19]]
    assert prompts == seqs == [0, 0, 0, 1, 1, 1]
    assert pos == [0, 2, 3, 0, 2, 3]
    with pytest.raises(InputError, match="positions 5 is beyond the continuations"):
        prefixes_from_dump(str(tmp_path / "d.npz"), [[1], [2, 3]], [0, 2, 5])
    # two continuations of one prompt
    write_dump(
        str(tmp_path / "d2.npz"), {**arrays, "prompt": np.zeros(n, dtype=np.int64)}, {**meta, "samples_per_prompt": 2}
    )
    pre, prompts, seqs, pos = prefixes_from_dump(str(tmp_path / "d2.npz"), [[5]], [1])
    assert pre == [[5, 7], [5, 17]]
    assert prompts == [0, 0]
    assert seqs == [0, 1]


def test_cli_oracle_on_a_local_model_folder(tiny, tmp_path, capsys):
    """The CLI end to end on a local folder holding the tiny model and a character tokenizer."""
    folder = save_tiny(tmp_path / "tiny", tiny)
    tok = char_tokenizer()
    prompts = tmp_path / "p.txt"
    prompts.write_text("ab\nbca\n")
    rc = main(["oracle", "--model", str(folder), "--prompts", str(prompts), "--pmax", "8", "--json", "--quiet"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["P"] == list(range(1, 9))
    assert len(out["curves"]) == 2
    assert len(out["curves"][0]) == 8
    assert out["mean"][0] == pytest.approx((out["curves"][0][0] + out["curves"][1][0]) / 2)
    assert out["ci_low"][3] <= out["mean"][3] <= out["ci_high"][3]
    assert (
        main(
            [
                "oracle",
                "--model",
                str(folder),
                "--prompts",
                str(prompts),
                "--pmax",
                "8",
                "--quiet",
                "--out",
                str(tmp_path / "o.npz"),
            ]
        )
        == 0
    )
    curves, depths, kinds, meta = load_oracle(str(tmp_path / "o.npz"))
    np.testing.assert_allclose(curves, out["curves"], rtol=1e-6)
    assert kinds == ["text", "text"]
    assert meta["temperature"] == 1.0
    assert depths.shape == (2, 8)
    # the first prompt's curve equals the API's on the same tokens
    ids = tok("ab").input_ids
    curve, _, _ = oracle_curve(tiny, ids, 8, 1.0)
    np.testing.assert_allclose(out["curves"][0], curve, rtol=1e-6)


def test_cli_oracle_errors(tmp_path, capsys):
    prompts = tmp_path / "p.txt"
    prompts.write_text("x\n")
    assert main(["oracle", "--model", str(tmp_path / "nope"), "--prompts", str(prompts), "--pmax", "4"]) == 2
    assert "not one of" in capsys.readouterr().err
    assert main(["oracle", "--model", "smollm2", "--prompts", str(prompts), "--pmax", "-3"]) == 2
    assert main(["oracle", "--model", "smollm2", "--prompts", str(tmp_path / "missing.txt"), "--pmax", "4"]) == 2
    assert "no such prompt file" in capsys.readouterr().err


def test_prefixes_follow_the_dumps_own_prompts(tmp_path):
    """A dump of prompts 3 and 5 of a file (--per-kind, say): prefixes start with those prompts, not 0 and 1."""
    from speedoflight.readers.dumpfile import write_dump

    n, per = 4, 2  # two prompts x two continuations of two tokens
    arrays = {
        "topk_ids": np.zeros((n * 2, 1), dtype=np.int32),
        "topk_logprobs": np.zeros((n * 2, 1), dtype=np.float32),
        "entropy": np.zeros(n * 2),
        "m2": np.zeros(n * 2),
        "seq": np.repeat(np.arange(n), 2),
        "pos": np.tile(np.arange(2), n),
        "next_token": np.arange(n * 2, dtype=np.int32) % 5,
        "next_surprisal": np.zeros(n * 2),
        "prompt": np.repeat([3, 3, 5, 5], 2),
    }
    meta = {"model": {"name": "Toy"}, "vocab_size": 5, "temperature": 1.0, "seed": 0, "top_k": 1}
    meta.update({"prompt_source": {}, "versions": {}, "samples_per_prompt": per, "prompt_index": [3, 5]})
    write_dump(str(tmp_path / "d.npz"), arrays, meta)
    ids = [[10 + i] for i in range(6)]
    pre, prompts, seqs, poss = prefixes_from_dump(str(tmp_path / "d.npz"), ids, [1])
    assert poss == [1, 1, 1, 1]
    assert seqs == [0, 1, 2, 3]
    assert prompts == [3, 3, 5, 5]
    assert [p[0] for p in pre] == [13, 13, 15, 15]
    assert pre[2] == [15, 4]  # prompt 5's first continuation, its first sampled token
    pre, prompts, seqs, _ = prefixes_from_dump(str(tmp_path / "d.npz"), ids, [1], continuations=1)
    assert (prompts, seqs) == ([3, 5], [0, 2])
