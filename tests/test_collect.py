"""speedoflight collect against a fake OpenAI-compatible server: modes, retries, resumption, every user error."""

from __future__ import annotations

import fcntl
import json
import os

import numpy as np
import pytest

from speedoflight.errors import InputError
from speedoflight.readers import open_source, responses
from speedoflight.readers.continuations import grafted_input
from speedoflight.readers.contscan import api_log_parts
from speedoflight.serving.collect import CollectOptions, collect
from speedoflight.simulation.grafted import optimum

from .fakeserver import MODEL, VOCAB, Faults, context_distribution, distribution, fake_server, sample, toy_tokenize
from .helpers import assert_user_error, run

PROMPTS = ["alpha beta", "gamma delta", "epsilon", "zeta eta theta"]


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    kinds = ["prose", "code", "prose", "code"]
    path.write_text("".join(json.dumps({"prompt": p, "kind": k}) + "\n" for p, k in zip(PROMPTS, kinds, strict=True)))
    return str(path)


def records(path):
    with open(path, encoding="utf-8") as fh:
        lines = [json.loads(x) for x in fh if x.strip()]
    return [x for x in lines if responses.is_header(x)], [x for x in lines if not responses.is_header(x)]


def fast(**kw):
    return CollectOptions(**{"n": 3, "max_tokens": 6, "top_logprobs": 5, "backoff": 0.01, **kw})


def test_continuations_through_n_are_the_servers_own_and_group_by_prompt(prompts, tmp_path):
    out = str(tmp_path / "c.jsonl")
    with fake_server() as (url, faults):
        res = collect(url, prompts, out, fast())
    assert res.mode == "n"
    assert res.requests == 4
    assert res.continuations == 12
    assert res.ids
    assert res.server.model == MODEL
    assert res.server.vocab_size == VOCAB
    assert res.server.engine == "llama.cpp"
    headers, recs = records(out)
    assert len(headers) == 1
    assert headers[0]["sampling"]["mode"] == "n"
    assert headers[0]["server"]["vocab_size"] == VOCAB
    # truncation and penalties switched off the llama.cpp way
    sent = faults.requests[0]
    assert (sent["top_k"], sent["min_p"], sent["top_p"], sent["repeat_penalty"], sent["dry_multiplier"]) == (
        0,
        0.0,
        1.0,
        1.0,
        0.0,
    )
    assert [r["kind"] for r in sorted(recs, key=lambda r: r["prompt_index"])] == ["prose", "code", "prose", "code"]
    # the rows are the toy model's own log-probabilities, at the sampled tokens, in order
    first = recs[0]["response"]["choices"][1]["logprobs"]["content"]
    cont = sample(PROMPTS[0], 1, 6)  # the fake seeds choice i with seed * 1000 + i
    assert [e["id"] for e in first] == [t for t, _ in cont]
    np.testing.assert_allclose([e["logprob"] for e in first], [lp[t] for t, lp in cont], rtol=1e-12)
    # read back: the vocabulary and model from the header, the continuations grouped by prompt
    with open_source(out) as src:
        assert src.vocab_size == VOCAB
        assert src.metadata["model"] == MODEL
        assert src.metadata["temperature"] == 1.0
    res_opt = optimum(out, pmax=4, replicates=2)
    assert res_opt.continuations_per_prompt == 3
    assert len(set(res_opt.root_prompt.tolist())) == 4


def test_a_server_that_refuses_n_is_asked_once_per_continuation(prompts, tmp_path):
    out = str(tmp_path / "c.jsonl")
    said = []
    with fake_server(Faults(n_max=1)) as (url, _faults):
        res = collect(url, prompts, out, fast(seed=7), say=said.append)
    assert res.mode == "requests"
    assert res.requests == 12
    assert "refused n > 1" in said[0]
    assert "separate requests, seeds 7..9" in res.notes[0]
    _, recs = records(out)
    seeds = sorted((r["prompt_index"], r["request"]["seed"]) for r in recs)
    assert seeds == [(i, 7 + j) for i in range(4) for j in range(3)]
    assert all("n" not in r["request"] for r in recs)
    assert optimum(out, pmax=4, replicates=2).continuations_per_prompt == 3


def test_a_server_that_ignores_n_is_asked_once_per_continuation(prompts, tmp_path):
    out = str(tmp_path / "c.jsonl")
    with fake_server(Faults(ignore_n=True)) as (url, _):
        res = collect(url, prompts, out, fast())
    assert res.mode == "requests"
    assert res.continuations == 12
    _, recs = records(out)
    assert len(recs) == 12  # the first (n = 3, one answered) counts as continuation 0


def test_rate_limits_and_server_errors_are_retried(prompts, tmp_path):
    out = str(tmp_path / "c.jsonl")
    for status in (429, 503):
        with fake_server(Faults(fail_first=2, status_first=status)) as (url, _):
            res = collect(url, prompts, out + f".{status}.jsonl", fast(concurrency=1))
        assert res.retried == 2
        assert res.continuations == 12


def test_optional_fields_the_server_refuses_are_dropped_and_said(prompts, tmp_path):
    out = str(tmp_path / "c.jsonl")
    with fake_server(Faults(refuse_fields=("min_p",))) as (url, _faults):
        res = collect(url, prompts, out, fast())
    assert res.dropped == ("min_p",)
    _, recs = records(out)
    assert all("min_p" not in r["request"] for r in recs)
    assert "top_k" in recs[0]["request"]


def test_a_refused_top_k_is_tried_with_the_other_spelling_of_off(prompts, tmp_path):
    """vLLM takes top_k -1 or 0 as off (older releases -1 only): a server refusing -1 is asked with 0."""
    out = str(tmp_path / "c.jsonl")
    with fake_server(Faults(owned_by="vllm", refuse_values={"top_k": -1})) as (url, faults):
        res = collect(url, prompts, out, fast(n=1))
    assert res.server.engine == "vllm"
    assert faults.requests[0]["top_k"] == -1
    assert faults.requests[0]["return_tokens_as_token_ids"] is True
    assert {r["top_k"] for r in faults.requests[1:]} == {0}
    assert res.dropped == ()
    _, recs = records(out)
    assert {r["request"]["top_k"] for r in recs} == {0}


def test_completions_layout_without_ids_is_read_by_strings_and_said(prompts, tmp_path):
    out = str(tmp_path / "c.jsonl")
    with fake_server(Faults(layout="completions", owned_by="openai", n_vocab=None)) as (url, _):
        res = collect(url, prompts, out, fast())
    assert not res.ids
    assert any("token strings, not ids" in n for n in res.notes)
    assert any("vocabulary size" in n for n in res.notes)
    with pytest.raises(InputError, match="vocab_size"):
        open_source(out)
    with open_source(out, vocab_size=VOCAB) as src:
        assert src.vocab_size == VOCAB
    assert optimum(out, pmax=4, replicates=2).continuations_per_prompt == 3


def test_resuming_skips_complete_prompts_and_asks_only_what_is_missing(prompts, tmp_path):
    out = str(tmp_path / "c.jsonl")
    with fake_server(Faults(n_max=1)) as (url, faults):
        first = collect(url, prompts, out, fast(limit=2))
        assert first.requests == 6
        again = collect(url, prompts, out, fast())
        assert again.complete_before == 2
        assert again.requests == 6
        assert again.continuations == 12
        third = collect(url, prompts, out, fast())
        assert (third.requests, third.complete_before) == (0, 4)
        asked = [(r["prompt"], r["seed"]) for r in faults.requests]
    assert len(asked) == len(set(asked)) + 2  # only the two first requests (n = 3 refused, then n = 1) repeat
    headers, recs = records(out)
    assert len(headers) == 1
    assert len(recs) == 12


def test_an_interrupted_last_line_is_dropped_on_resume(prompts, tmp_path):
    out = tmp_path / "c.jsonl"
    with fake_server() as (url, _):
        collect(url, prompts, str(out), fast(limit=2))
        whole = out.read_bytes()
        out.write_bytes(whole + b'{"prompt_index": 2, "request": {"prompt": "eps')  # a write cut short
        res = collect(url, prompts, str(out), fast())
    assert any("incomplete last line" in n for n in res.notes)
    assert out.read_bytes().startswith(whole)
    _, recs = records(out)
    assert [r["prompt_index"] for r in recs] == [0, 1, 2, 3]


def test_resuming_with_other_settings_or_model_is_refused(prompts, tmp_path, capsys):
    out = str(tmp_path / "c.jsonl")
    with fake_server() as (url, _):
        collect(url, prompts, out, fast(limit=1))
        with open(out, "rb") as fh:
            before = fh.read()
        assert_user_error(
            capsys,
            ["collect", "--url", url, "--prompts", prompts, "--out", out, "-n", "3", "--max-tokens", "7"],
            "max_tokens 6",
            "--max-tokens 6",
        )
        assert_user_error(
            capsys,
            ["collect", "--url", url, "--prompts", prompts, "--out", out, "--max-tokens", "6", "--top-logprobs", "9"],
            "--top-logprobs 5",
        )
    with open(out, "rb") as fh:
        assert fh.read() == before


def test_a_file_that_is_not_a_collect_log_is_never_touched(prompts, tmp_path, capsys):
    out = tmp_path / "mine.jsonl"
    out.write_text('{"prompt": "mine", "choices": []}\n')
    with fake_server() as (url, _):
        assert_user_error(
            capsys, ["collect", "--url", url, "--prompts", prompts, "--out", str(out)], "not a speedoflight collect log"
        )
    assert out.read_text() == '{"prompt": "mine", "choices": []}\n'


def test_a_second_writer_is_refused(prompts, tmp_path, capsys):
    out = tmp_path / "c.jsonl"
    with fake_server() as (url, _):
        collect(url, prompts, str(out), fast(limit=1))
        with open(out, "rb") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            assert_user_error(
                capsys,
                ["collect", "--url", url, "--prompts", prompts, "--out", str(out)],
                "another speedoflight collect",
            )


@pytest.mark.parametrize(
    ("faults", "extra", "words"),
    [
        (Faults(api_key="s3cret"), [], ["401", "--api-key-env"]),
        (Faults(no_logprobs=True), [], ["ignores 'logprobs'"]),
        (Faults(context=12), ["--max-tokens", "8"], ["prompt 1", "context", "--max-tokens"]),
        (Faults(cap=5), ["--top-logprobs", "20"], ["caps top_logprobs at 5", "--top-logprobs 5"]),
        (Faults(cap=5, owned_by="vllm"), [], ["--max-logprobs"]),
        (Faults(spec_empty=True), [], ["speculative decoding", "without speculation"]),
        (Faults(n_vocab=None, owned_by="sglang"), ["--model", "other"], ["does not serve --model 'other'"]),
        (Faults(), ["--temperature", "1e-300", "--max-tokens", "0"], ["--max-tokens"]),
        (Faults(owned_by="openai"), ["--branch-at", "4", "--branches", "2"], ["--branch-at", "openai", "dump"]),
        (
            Faults(owned_by="vllm", tokenize_paths=()),
            ["--branch-at", "4", "--branches", "2"],
            ["/tokenize", "not served", "--branch-at"],
        ),
        (
            Faults(owned_by="sglang", tokenize_answer={"count": 3, "tokens": "abc"}),
            ["--branch-at", "4", "--branches", "2"],
            ["/v1/tokenize", "list of token ids", "--branch-at"],
        ),
        (
            Faults(owned_by="vllm", tokenize_answer={"error": "no"}),
            ["--branch-at", "4", "--branches", "2"],
            ["/tokenize", "list of token ids"],
        ),
        (Faults(), ["--branch-at", "4", "--branches", "2", "--chat"], ["--branch-at", "/v1/completions", "--chat"]),
        (Faults(), ["--branches", "2"], ["--branches", "--branch-at"]),
        (Faults(), ["--branch-at", "4"], ["--branch-at", "--branches"]),
        (Faults(), ["--branch-at", "64", "--branches", "1", "--max-tokens", "64"], ["--branch-at 64", "1..63"]),
    ],
)
def test_user_errors_are_one_line_and_leave_no_file(prompts, tmp_path, capsys, faults, extra, words):
    out = tmp_path / "c.jsonl"
    with fake_server(faults) as (url, _):
        assert_user_error(capsys, ["collect", "--url", url, "--prompts", prompts, "--out", str(out), *extra], *words)
    assert not out.exists()
    if faults.tokenize_paths is not None or faults.tokenize_answer is not None:
        assert faults.requests == []  # the prompt's tokenization is checked before any completion is asked


def test_an_api_key_from_the_environment_is_sent_and_never_written(prompts, tmp_path, capsys, monkeypatch):
    out = tmp_path / "c.jsonl"
    monkeypatch.setenv("TOY_KEY", "s3cret")
    with fake_server(Faults(api_key="s3cret")) as (url, _):
        code, stdout, err = run(
            capsys, "collect", "--url", url, "--prompts", prompts, "--out", str(out), "--api-key-env", "TOY_KEY"
        )
    assert code == 0, err
    assert "s3cret" not in out.read_text()
    assert stdout.startswith("collected 16 continuations of 4 prompts")
    assert_user_error(
        capsys, ["collect", "--url", url, "--prompts", prompts, "--out", str(out), "--api-key-env", "NOPE_X"], "NOPE_X"
    )


def test_an_unreachable_server_and_bad_addresses(prompts, tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "c.jsonl"
    assert_user_error(
        capsys,
        ["collect", "--url", f"http://127.0.0.1:{port}", "--prompts", prompts, "--out", str(out)],
        "cannot reach",
    )
    assert_user_error(capsys, ["collect", "--url", "ftp://x", "--prompts", prompts, "--out", str(out)], "http(s)")
    assert_user_error(
        capsys, ["collect", "--url", "127.0.0.1:1", "--prompts", prompts, "--out", str(tmp_path / "c.txt")], ".jsonl"
    )
    assert not out.exists()


def test_the_cli_says_the_answer_first_and_prints_json(prompts, tmp_path, capsys):
    out = tmp_path / "c.jsonl"
    with fake_server(Faults(n_max=1)) as (url, _):
        code, stdout, err = run(
            capsys, "collect", "--url", url + "/v1", "--prompts", prompts, "--out", str(out), "--max-tokens", "4",
            "-n", "2", "--json",
        )  # fmt: skip
    assert code == 0, err
    d = json.loads(stdout)
    assert (d["continuations"], d["mode"], d["server"]["vocab_size"]) == (8, "requests", VOCAB)


def test_a_split_character_cuts_the_continuation_before_it(prompts, tmp_path):
    """llama.cpp lists no entry for a token ending mid-character; rows after the first non-ASCII entry are dropped."""
    out = str(tmp_path / "c.jsonl")
    with fake_server(Faults(split_utf8_at=3)) as (url, _):
        res = collect(url, prompts, out, fast(n=1))
    # each continuation generated 6 tokens and lists 5 entries (position 3 dropped, 4 spelled 'é'): kept 0, 1, 2
    assert res.tokens == 4 * 3
    assert any("12 generated tokens have no row" in n for n in res.notes)
    with open_source(out) as src:
        chunk = next(src.chunks(1 << 20))
    assert chunk.pos.tolist() == [0, 1, 2] * 4


def test_the_sampled_rows_are_the_models_distribution(prompts, tmp_path):
    """The log's rows, read back, are the toy model's top-5 at the sampled context (an independent reference)."""
    out = str(tmp_path / "c.jsonl")
    with fake_server() as (url, _):
        collect(url, prompts, out, fast(n=2))
    with open_source(out) as src:
        chunk = next(src.chunks(1 << 20, with_ids=True))
    _, recs = records(out)  # answers arrive in any order (two in flight): the file's order is the rows' order
    row = 0
    for rec in recs:
        p = PROMPTS[rec["prompt_index"]]
        for i in range(2):
            prev = -1
            for tok, _lp in sample(p, i, 6):
                lp = distribution(p, prev)
                top = np.argsort(-lp, kind="stable")[:5]
                assert chunk.ids[row].tolist() == top.tolist()
                np.testing.assert_allclose(chunk.values[row], lp[top], rtol=1e-12)
                assert chunk.next_token[row] == tok
                prev, row = tok, row + 1
    assert os.path.getsize(out) > 0


# --- branches (--branch-at) on every engine that takes them: the whole-context toy model --------------------------

AT = (3, 5)


def _branched(faults, prompts, out, **kw):
    with fake_server(faults) as (url, f):
        res = collect(url, prompts, out, fast(n=2, max_tokens=8, branch_at=AT, branches=2, **kw))
    return res, f


def _check_branches_continue_their_parents(out, sent_as):
    """Every branch row is the toy model's distribution at its own context, the first its parent's row at T.

    The reference is the fake's model itself (:func:`context_distribution` of the toy tokenizer's ids of the prompt,
    the parent's first T sampled tokens and the branch's own): a branch sent with another prompt (no BOS, the text
    tokenized otherwise, a prefix cut or shifted) is sampled from other distributions, and its rows differ.
    """
    _, recs = records(out)
    branches = [r for r in recs if "branch" in r]
    assert branches
    for r in branches:
        text, *prefix = r["branch"]["prompt"]
        assert text == PROMPTS[r["prompt_index"]]
        assert r["branch"]["at"] == len(prefix)
        assert len(prefix) in AT
        assert r["request"]["prompt"] == sent_as(text, prefix)  # the request exactly as sent
        assert r["request"]["max_tokens"] == 8 - len(prefix)
    a = api_log_parts(out)
    seq, pos, nxt = a["seq"], a["pos"], a["next_token"]
    asked = [r["branch"]["prompt"] for r in branches for _ in r["response"]["choices"]]  # in the file's order
    assert len(np.unique(a["branch_seq"])) == len(asked)
    for s, (text, *prefix) in zip(np.unique(a["branch_seq"]), asked, strict=True):
        rows = np.flatnonzero(a["branch_seq"] == s)
        t, parent = int(a["branch_pos"][rows[0]]), int(a["branch_parent"][rows[0]])
        assert a["branch_pos"][rows].tolist() == list(range(t, t + len(rows)))
        assert len(rows) == 8 - t
        # the parent: a continuation of the branch's prompt (its first row the model's at that prompt's ids) whose
        # first T tokens are the branch's prefix
        up = np.flatnonzero(seq == parent)
        first = np.argsort(-context_distribution(toy_tokenize(text)), kind="stable")[:5]
        assert a["topk_ids"][up[0]].tolist() == first.tolist()
        assert nxt[up][:t].tolist() == prefix
        at_t = up[pos[up] == t][0]
        # the branch's first row is the parent's row at T, exactly (the same context)
        assert np.array_equal(a["branch_topk_ids"][rows[0]], a["topk_ids"][at_t])
        assert np.array_equal(a["branch_topk_logprobs"][rows[0]], a["topk_logprobs"][at_t])
        ctx = toy_tokenize(text) + prefix
        for row in rows:
            lp = context_distribution(ctx)
            top = np.argsort(-lp, kind="stable")[:5]
            assert a["branch_topk_ids"][row].tolist() == top.tolist()
            np.testing.assert_allclose(a["branch_topk_logprobs"][row], lp[top], rtol=1e-12)
            ctx.append(int(a["branch_next_token"][row]))
    return a


@pytest.mark.parametrize(
    ("faults", "paths"),
    [
        (Faults(owned_by="vllm"), ["/tokenize"]),
        (Faults(owned_by="sglang", ids_always=True), ["/v1/tokenize"]),
        (Faults(owned_by="sglang", ids_always=True, tokenize_paths=("/tokenize",)), ["/v1/tokenize", "/tokenize"]),
    ],
)
def test_branches_on_vllm_and_sglang_send_the_prompts_ids_and_continue_the_parent(prompts, tmp_path, faults, paths):
    out = str(tmp_path / "c.jsonl")
    res, f = _branched(faults, prompts, out)
    assert res.server.engine == faults.owned_by
    assert res.ids
    # each prompt tokenized once by the server (the first before any completion), as a text prompt is: with BOS
    assert sorted(r["prompt"] for r in f.tokenized if r["path"] == paths[-1]) == sorted(PROMPTS)
    assert len(f.tokenized) == len(PROMPTS) + (len(paths) - 1)  # a 404 on /v1/tokenize once, then /tokenize
    assert all(r["add_special_tokens"] is True and r["model"] == MODEL for r in f.tokenized)
    assert res.branch_requests == len([r for r in f.requests if isinstance(r["prompt"], list)])
    assert any("tokenized by the server's /tokenize" in n for n in res.notes)
    a = _check_branches_continue_their_parents(out, lambda text, prefix: toy_tokenize(text) + prefix)
    # the readers join them: the grafted tree knows more nodes than without the branches, and optimum runs on both
    (header,), recs = records(out)
    plain = tmp_path / "plain.jsonl"
    header["sampling"]["branch_at"], header["sampling"]["branches"] = [], 0
    plain.write_text("".join(json.dumps(x) + "\n" for x in [header, *(r for r in recs if "branch" not in r)]))
    g0, g1 = grafted_input(str(plain)), grafted_input(out)
    assert len(g1.seq_nodes) == len(g0.seq_nodes) == 8
    assert g1.node_known.sum() > g0.node_known.sum()
    assert optimum(out, pmax=4, replicates=2).continuations_per_prompt == 2
    assert len(a["seq"]) == len(api_log_parts(str(plain))["seq"])  # the branches are not read as continuations
    # a rerun asks for nothing more (only the one up-front tokenization)
    asked = len(f.requests)
    with fake_server(f) as (url, _):
        again = collect(url, prompts, out, fast(n=2, max_tokens=8, branch_at=AT, branches=2))
    assert (again.requests, len(f.requests)) == (0, asked)


def test_branches_on_llama_cpp_send_the_mixed_prompt_and_old_logs_still_read(prompts, tmp_path):
    """llama.cpp's mixed prompt [text, ids...]; a log written before the marker named the prompt reads the same."""
    out = str(tmp_path / "c.jsonl")
    res, f = _branched(Faults(whole_context=True), prompts, out)
    assert res.server.engine == "llama.cpp"
    assert f.tokenized == []
    a = _check_branches_continue_their_parents(out, lambda text, prefix: [text, *prefix])
    old = tmp_path / "old.jsonl"
    with open(out, encoding="utf-8") as fh:
        lines = [json.loads(x) for x in fh]
    for x in lines:
        if "branch" in x:
            x["branch"] = {"at": x["branch"]["at"]}  # the marker as llama.cpp logs had it
    old.write_text("".join(json.dumps(x) + "\n" for x in lines))
    b = api_log_parts(str(old))
    assert sorted(k for k in a if k.startswith("branch_")) == sorted(k for k in b if k.startswith("branch_"))
    for k in a:
        if k.startswith("branch_"):
            assert np.array_equal(a[k], b[k]), k
    with fake_server(Faults(whole_context=True)) as (url, f2):
        again = collect(url, prompts, str(old), fast(n=2, max_tokens=8, branch_at=AT, branches=2))
    assert (again.requests, f2.requests) == (0, [])


def test_a_server_listing_token_strings_cannot_branch(prompts, tmp_path, capsys):
    """SGLang's completions may list token strings only: the branches stop with one line once the continuations are in."""
    out = tmp_path / "c.jsonl"
    with fake_server(Faults(owned_by="sglang")) as (url, f):
        line = assert_user_error(
            capsys,
            ["collect", "--url", url, "--prompts", prompts, "--out", str(out), "--branch-at", "3", "--branches", "2",
             "-n", "2", "--max-tokens", "8"],
            "sglang", "token strings, not ids", "--branch-at", "without --branch-at",
        )  # fmt: skip
    assert "llama.cpp" not in line.split(":", 2)[2].split("(")[0]
    assert all(isinstance(r["prompt"], str) for r in f.requests)  # no branch was sent
    _, recs = records(out)
    assert len(recs) == 4
    assert not any("branch" in r for r in recs)
