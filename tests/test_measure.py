"""Measured acceptance of real drafters against a brute-force speculative loop on a tiny random Llama."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="measure needs torch (the [model] extra)")
pytest.importorskip("transformers", reason="measure needs transformers (the [model] extra)")

from speedoflight.cli.app import main  # noqa: E402
from speedoflight.models.measure import (  # noqa: E402
    Trie,
    accepted_length,
    early_exit_model,
    iterate,
    measure_sequence,
    ngram_tree,
)

from .tinylm import char_tokenizer, save_tiny, tiny_llama  # noqa: E402

PS = (1, 2, 4, 8)


@pytest.fixture(scope="module")
def tiny():
    return tiny_llama(scale=4.0, layers=3)


def _paths(tree: Trie) -> set[tuple[int, ...]]:
    out, stack = set(), [(0, ())]
    while stack:
        node, path = stack.pop()
        for tok, child in tree.children[node].items():
            out.add((*path, tok))
            stack.append((child, (*path, tok)))
    return out


def test_trie_accept_and_iterate():
    t = Trie.chain([3, 1, 4])
    t.add(0, 2)
    assert t.size == 4
    assert _paths(t) == {(3,), (3, 1), (3, 1, 4), (2,)}
    assert accepted_length(t, [3, 1, 4, 1]) == 3
    assert accepted_length(t, [3, 0]) == 1
    assert accepted_length(t, [0]) == 0
    xs, starts = iterate(lambda t: {0: 2, 3: 0, 4: 5}[t], 8)
    assert xs == [2, 0, 3]
    assert starts == [0, 3, 4]


def test_ngram_lookup():
    ctx = [1, 2, 3, 9, 1, 2, 3, 7, 5, 1, 2, 3]
    # latest earlier occurrence of (1, 2, 3) is at 4, followed by 7, 5, 1
    assert _paths(ngram_tree(ctx, 3, shape="chain")) == {(7,), (7, 5), (7, 5, 1)}
    tree = ngram_tree(ctx, 3, shape="tree")  # matches at 4 and 0: (7, 5, 1) and (9, 1, 2)
    assert tree.size == 3
    assert (7,) in _paths(tree)
    assert (9,) in _paths(tree)
    assert ngram_tree([1, 2, 3], 4, shape="chain").size == 0  # no earlier match


def test_early_exit_at_the_last_layer_is_the_verifier(tiny):
    ids = torch.tensor([[1, 2, 0, 4, 3]])
    with torch.inference_mode():
        full = tiny(input_ids=ids).logits
        same = early_exit_model(tiny, 3)(input_ids=ids).logits
        short = early_exit_model(tiny, 1)(input_ids=ids).logits
        # independently: hidden state after layer 1 through the final norm and head
        hs = tiny(input_ids=ids, output_hidden_states=True).hidden_states[1]
        ref = tiny.lm_head(tiny.model.norm(hs))
    torch.testing.assert_close(same, full, rtol=0, atol=0)
    torch.testing.assert_close(short, ref, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(short, full)
    assert len(tiny.model.layers) == 3  # the verifier is untouched


def _draft_logprobs(model, layer, ids):
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    h = out.hidden_states[layer]
    z = out.logits[0, -1] if layer == len(model.model.layers) else model.lm_head(model.model.norm(h))[0, -1]
    return torch.log_softmax(z.double(), -1)


def _eagle2_reference(model, layer, ctx, p, topk, depth):
    """EAGLE-2 style tree by full forward passes of every path (no cache, no batching)."""
    lp = _draft_logprobs(model, layer, ctx)
    top = torch.topk(lp, topk)
    nodes = [(v, (tok,)) for v, tok in zip(top.values.tolist(), top.indices.tolist(), strict=True)]
    layer_ids = list(range(len(nodes)))
    for _ in range(depth - 1):
        frontier = sorted(layer_ids, key=lambda i: -nodes[i][0])[:topk]
        layer_ids = []
        for i in frontier:
            conf, path = nodes[i]
            lp = _draft_logprobs(model, layer, ctx + list(path))
            top = torch.topk(lp, topk)
            for v, tok in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                nodes.append((conf + v, (*path, tok)))
                layer_ids.append(len(nodes) - 1)
    keep = sorted(range(len(nodes)), key=lambda i: -nodes[i][0])[:p]
    return {nodes[i][1] for i in keep}


def _brute_force(model, prompt, n, temperature, seed, draft_paths):
    """Speculative iterations step by step: the verifier samples one token at a time and walks the tree."""
    g = torch.Generator().manual_seed(seed)
    seq = list(prompt)
    xs, sizes = [], []
    while len(seq) - len(prompt) < n:
        paths = draft_paths(seq)
        x = 0
        while True:
            with torch.inference_mode():
                z = model(input_ids=torch.tensor([seq])).logits[0, -1].double()
            tok = int(torch.multinomial(torch.log_softmax(z / temperature, -1).exp(), 1, generator=g))
            seq.append(tok)
            if len(seq) - len(prompt) >= n:
                break
            if tuple(seq[len(seq) - x - 1 :]) in paths:
                x += 1
            else:
                break
        xs.append(x)
        sizes.append(len(paths))
    return xs, sizes, seq[len(prompt) :]


@pytest.mark.parametrize("p", [1, 3, 8])
def test_measure_matches_brute_force(tiny, p):
    prompt = [0, 1, 2, 1, 0, 3]
    n, seed, topk, depth = 20, 11, 3, 3

    def eagle(seq):
        return _eagle2_reference(tiny, 2, seq, p, topk, depth)

    xs_ref, sizes_ref, cont = _brute_force(tiny, prompt, n, 1.0, seed, eagle)
    recs = measure_sequence(
        tiny, prompt, cont, drafters=["early-exit:2"], ps=[p], topk=topk, depth=depth, shapes=["tree"]
    )
    assert recs[0]["accepted"] == xs_ref[: len(recs[0]["accepted"])]
    assert len(recs[0]["accepted"]) == len(xs_ref)
    assert recs[0]["tree_size"] == sizes_ref

    def chain(seq):
        path, out = [], set()
        for _ in range(p):
            path.append(int(torch.argmax(_draft_logprobs(tiny, 1, seq + path))))
            out.add(tuple(path))
        return out

    xs_ref, _, cont = _brute_force(tiny, prompt, n, 1.0, seed + 1, chain)
    recs = measure_sequence(tiny, prompt, cont, drafters=["early-exit:1"], ps=[p], shapes=["chain"])
    assert recs[0]["accepted"] == xs_ref

    def lookup(seq):
        return _paths(ngram_tree(seq, p, shape="tree"))

    xs_ref, _, cont = _brute_force(tiny, prompt, n, 1.0, seed + 2, lookup)
    recs = measure_sequence(tiny, prompt, cont, drafters=["ngram"], ps=[p], shapes=["tree"])
    assert recs[0]["accepted"] == xs_ref


def test_last_layer_drafter_at_temperature_zero_accepts_everything(tiny):
    """At T -> 0 the verifier is greedy: its own greedy chain is always accepted (up to P), and its
    EAGLE-2 style tree always holds the greedy first token."""
    prompt = [4, 2, 2]
    _, _, cont = _brute_force(tiny, prompt, 12, 1e-6, 0, lambda seq: set())
    chain, tree = measure_sequence(tiny, prompt, cont, drafters=["early-exit:3"], ps=[4], shapes=["chain", "tree"])
    assert chain["accepted"][:-1] == [4] * (len(chain["accepted"]) - 1)
    assert all(x >= 1 for x in tree["accepted"][:-1])


def test_cli_measure_writes_the_documented_jsonl(tiny, tmp_path):
    folder = save_tiny(tmp_path / "m", tiny)
    prompts = tmp_path / "p.txt"
    prompts.write_text("abcab\ndcb\n")
    out = tmp_path / "m.jsonl"
    args = [
        "measure",
        "--model",
        str(folder),
        "--prompts",
        str(prompts),
        "--drafters",
        "ngram,early-exit:2",
        "--p",
        "1,2,4",
        "--tokens",
        "10",
        "--samples-per-prompt",
        "2",
        "--seed",
        "4",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    head, recs = lines[0], lines[1:]
    assert head["format"] == "speedoflight-measured"
    assert head["version"] == 1
    assert head["P"] == [1, 2, 4]
    assert head["samples_per_prompt"] == 2
    assert len(recs) == 2 * 2 * 2 * 2 * 3  # prompts x samples x drafters x shapes x P
    for r in recs:
        assert sum(r["accepted"]) + len(r["accepted"]) == 10  # every token of the continuation is produced once
        assert all(0 <= x <= r["P"] for x in r["accepted"])
        assert all(s <= r["P"] for s in r["tree_size"])
    # the verifier's continuation is the one `dump --samples-per-prompt` samples with the same seed
    tok = char_tokenizer()
    assert tok("abcab").input_ids == [0, 1, 2, 0, 1]
    assert (
        main(
            [
                "dump",
                "--model",
                str(folder),
                "--prompts",
                str(prompts),
                "--out",
                str(tmp_path / "d.npz"),
                "--max-new-tokens",
                "10",
                "--seed",
                "4",
                "--samples-per-prompt",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    with np.load(tmp_path / "d.npz") as z:
        cont = z["next_token"][z["seq"] == 1]  # prompt 0, sample 1
    r = next(
        r
        for r in recs
        if r["prompt"] == 0
        and r["sample"] == 1
        and r["drafter"] == "early-exit:2"
        and r["shape"] == "chain"
        and r["P"] == 4
    )
    assert r["start"][0] == 0
    assert len(cont) == 10


def test_cli_measure_errors(tiny, tmp_path, capsys):
    folder = save_tiny(tmp_path / "m", tiny)
    prompts = tmp_path / "p.txt"
    prompts.write_text("abc\n")
    base = ["measure", "--model", str(folder), "--prompts", str(prompts), "--out", str(tmp_path / "o.jsonl")]
    assert main([*base, "--drafters", "medusa"]) == 2
    assert "unknown drafter" in capsys.readouterr().err
    assert main([*base, "--drafters", "early-exit:9"]) == 2
    assert "layers 1..3" in capsys.readouterr().err
    assert main([*base, "--p", "0,2"]) == 2
    assert main([*base, "--drafters", "early-exit:-3"]) == 2  # layer 0 of 3
    assert main([*base, "--drafters", "early-exit:0"]) == 2
    assert not (tmp_path / "o.jsonl").exists()


def test_negative_layers_count_from_the_top():
    from speedoflight.models.measure import parse_drafters

    assert parse_drafters("ngram,early-exit:-1", 30) == ["ngram", "early-exit:29"]
    assert parse_drafters("early-exit:24", 30) == ["early-exit:24"]
