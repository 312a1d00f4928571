"""API logs are first-class: read by token id, grouped by request, the grafted ceiling in compare and report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speedoflight.analysis.ceiling import CEILING_REPLICATES
from speedoflight.analysis.compare import compare
from speedoflight.errors import InputError
from speedoflight.logs.acceptance import read_acceptance
from speedoflight.readers import input_model, jsonl, open_source, responses
from speedoflight.serving.collect import CollectOptions, collect
from speedoflight.simulation.grafted import optimum

from .fakeserver import MODEL, VOCAB, fake_server
from .helpers import assert_user_error, run


def entry(tid, text, lp, tops):
    return {
        "id": tid,
        "token": text,
        "bytes": list(text.encode()),
        "logprob": lp,
        "top_logprobs": [{"id": i, "token": t, "bytes": list(t.encode()), "logprob": v} for i, t, v in tops],
    }


def test_special_tokens_with_empty_strings_are_told_apart_by_id(tmp_path):
    """llama.cpp returns special tokens with empty token and bytes but distinct ids: they are two tokens."""
    tops = [(1, "", -1.2), (2, "", -1.3), (7, "a", -1.4)]
    line = {"choices": [{"logprobs": {"content": [entry(2, "", -1.3, tops), entry(7, "a", -1.4, tops)]}}]}
    log = tmp_path / "special.jsonl"
    log.write_text(json.dumps(line) + "\n")
    res = optimum(str(log), pmax=2, replicates=1)  # refused before ("lists a token id twice")
    assert res.continuations_per_prompt == 1
    with open_source(str(log), vocab_size=10) as src:
        chunk = next(src.chunks(1 << 20, with_ids=True))
    assert chunk.ids.tolist() == [[1, 2, 7], [1, 2, 7]]
    assert chunk.next_token.tolist() == [2, 7]


def test_token_strings_never_collide_with_ids(tmp_path):
    """Where some tokens have ids and others only strings, a string is never read as the id of another token."""
    line = {
        "choices": [
            {
                "logprobs": {
                    "content": [
                        {"token": "x", "logprob": -0.5, "top_logprobs": [{"token": "x", "logprob": -0.5}]},
                        entry(0, "y", -0.1, [(0, "y", -0.1)]),
                    ]
                }
            }
        ]
    }
    log = tmp_path / "mixed.jsonl"
    log.write_text(json.dumps(line) + "\n")
    with open_source(str(log), vocab_size=10) as src:
        chunk = next(src.chunks(1 << 20, with_ids=True))
    assert chunk.ids[1, 0] == 0
    assert chunk.ids[0, 0] >= jsonl.STRING_CODES


def test_empty_top_logprobs_after_the_first_token_name_speculation(tmp_path, capsys):
    tops = [(5, "a", -0.2), (6, "b", -1.9)]
    content = [entry(5, "a", -0.2, tops)] + [{**entry(6, "b", -1.9, []), "top_logprobs": []} for _ in range(3)]
    log = tmp_path / "spec.jsonl"
    log.write_text(json.dumps({"choices": [{"logprobs": {"content": content}}]}) + "\n")
    line = assert_user_error(capsys, ["estimate", str(log), "--vocab-size", "10"], "speculative decoding")
    assert "3 of 4 positions list no top log-probabilities, the first at position 1" in line
    assert "without speculation" in line


def test_a_record_holds_its_request_and_the_header_says_what_the_server_is(tmp_path):
    header = {
        "format": "speedoflight-collect",
        "server": {"model": "org/Toy-8B", "vocab_size": 10},
        "sampling": {"temperature": 1.0},
    }
    tops = [(1, "a", -0.3), (2, "b", -1.5)]
    lines = [header]
    for seed in range(3):  # one prompt asked three times: one prompt, three continuations
        lines.append(
            {
                "request": {"prompt": "same", "seed": seed},
                "response": {"choices": [{"logprobs": {"content": [entry(1, "a", -0.3, tops)] * 2}}]},
            }
        )
    log = tmp_path / "c.jsonl"
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    info = jsonl.describe(str(log))
    assert (info.layout, info.model, info.vocab_size, info.temperature) == ("openai-chat", "org/Toy-8B", 10, 1.0)
    assert input_model(str(log)) == "org/Toy-8B"
    with pytest.raises(InputError, match="records a vocabulary of 10"):
        open_source(str(log), vocab_size=11)
    assert optimum(str(log), pmax=2, replicates=1).continuations_per_prompt == 3


def test_without_a_header_the_model_comes_from_the_response(tmp_path):
    tops = [(1, "a", -0.3)]
    line = {"model": "meta-llama/Llama-3.1-8B", "choices": [{"logprobs": {"content": [entry(1, "a", -0.3, tops)]}}]}
    log = tmp_path / "r.jsonl"
    log.write_text(json.dumps(line) + "\n")
    assert input_model(str(log)) == "meta-llama/Llama-3.1-8B"


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """A log from the fake server: 6 prompts x 3 continuations x 12 tokens, top-8 with ids."""
    d = tmp_path_factory.mktemp("collected")
    prompts = d / "prompts.txt"
    prompts.write_text("".join(f"prompt number {i}\n" for i in range(6)))
    with fake_server() as (url, _):
        collect(url, str(prompts), str(d / "c.jsonl"), CollectOptions(n=3, max_tokens=12, top_logprobs=8))
    return str(d / "c.jsonl")


def test_compare_holds_a_drafter_against_the_grafted_ceiling_of_an_api_log(collected, tmp_path):
    meas = tmp_path / "m.csv"
    meas.write_text("accepted,tree_size\n0,4\n1,4\n0,4\n")
    comp = compare([collected], read_acceptance(str(meas)), replicates=4, n_boot=50)
    assert comp.ceiling is not None  # not the i.i.d. fallback, and no warning about it
    assert not any(w.startswith("no grafted ceiling") for w in comp.warnings)
    assert comp.model == MODEL
    same = optimum(collected, pmax=len(comp.ceiling.P), positions="all", replicates=CEILING_REPLICATES, tail="both")
    np.testing.assert_allclose(comp.ceiling.lower.mean, same.lower.mean, rtol=1e-12)
    row = comp.measured_rows()[0]
    assert row["fraction_of_ceiling"] == pytest.approx(1 / 3 / comp.ceiling.lower.mean[3])


def test_the_model_mismatch_check_reads_the_logs_model(collected, tmp_path):
    prom = tmp_path / "metrics.prom"
    prom.write_text(
        'vllm:spec_decode_num_drafts_total{model_name="meta-llama/Llama-3.1-8B"} 10\n'
        'vllm:spec_decode_num_draft_tokens_total{model_name="meta-llama/Llama-3.1-8B"} 40\n'
        'vllm:spec_decode_num_accepted_tokens_total{model_name="meta-llama/Llama-3.1-8B"} 12\n'
    )
    comp = compare([collected], read_acceptance(str(prom)), replicates=4, n_boot=50)
    assert any(w.startswith("model mismatch") and MODEL in w for w in comp.warnings)


def test_compare_cli_without_measured_on_an_api_log(collected, capsys):
    code, out, err = run(capsys, "compare", "--dump", collected, "--replicates", "4", "--quiet")
    assert code == 0, err
    first = out.splitlines()
    assert first[0].startswith(f"verifier: {MODEL}")
    assert [x.split(":")[0] for x in first[1:4]] == [f"ceiling at P = {p}" for p in (4, 16, 64)]
    assert "No measured drafter" in out


def test_report_on_an_api_log_reads_only_the_users_files(collected, tmp_path, capsys):
    out = tmp_path / "rep"
    code, stdout, err = run(
        capsys, "report", "--dump", collected, "--out", str(out), "--replicates", "4", "--quiet", "--tree-size", "8"
    )
    assert code == 0, err
    md = (out / "report.md").read_text()
    assert "(shipped)" not in md
    assert "smollm2" not in md.lower()
    assert f"# speedoflight report: {MODEL}" in md
    lines = stdout.splitlines()
    assert lines[0].startswith("best setting on ")  # the answer first, then its engine settings, in plain text
    assert lines[1].startswith("  vLLM")
    assert any(x.startswith("ceiling at P = 8: ") for x in lines)
    assert "evidence.png" not in md
    inputs = md.split("## Inputs", 1)[1]
    assert inputs.count("sha256") == 1


def test_report_refuses_to_mix_the_demo_with_the_users_files(collected, tmp_path, capsys):
    meas = tmp_path / "m.csv"
    meas.write_text("accepted,tree_size\n1,4\n")
    assert_user_error(
        capsys, ["report", "--measured", str(meas), "--out", str(tmp_path / "r")], "--measured needs --dump"
    )
    assert_user_error(capsys, ["report", "--demo", "--dump", collected, "--out", str(tmp_path / "r")], "--demo")
    assert not (tmp_path / "r").exists()


def test_a_dump_of_rows_without_continuations_says_what_is_shown_instead(tmp_path, capsys):
    rows = np.log(np.random.default_rng(0).dirichlet(np.ones(VOCAB), size=40))
    np.save(tmp_path / "rows.npy", rows)
    code, out, err = run(
        capsys, "compare", "--dump", str(tmp_path / "rows.npy"), "--replicates", "4", "--quiet", "--json"
    )
    assert code == 0, err
    d = json.loads(out)
    assert d["ceiling"] is None
    assert d["warnings"][0].startswith("no grafted ceiling: ")
    assert "13-31% low" in d["warnings"][0]


def test_vllms_token_id_strings_are_ids(tmp_path):
    """vLLM with return_tokens_as_token_ids writes tokens as 'token_id:N': read as the ids N, in both layouts."""
    chat = {
        "choices": [
            {
                "logprobs": {
                    "content": [
                        {
                            "token": "token_id:7",
                            "bytes": [97],
                            "logprob": -0.5,
                            "top_logprobs": [
                                {"token": "token_id:7", "bytes": [97], "logprob": -0.5},
                                {"token": "token_id:3", "bytes": [98], "logprob": -1.2},
                            ],
                        }
                    ]
                }
            }
        ]
    }
    comp = {
        "choices": [
            {
                "logprobs": {
                    "tokens": ["token_id:3"],
                    "token_logprobs": [-1.2],
                    "top_logprobs": [{"token_id:7": -0.5, "token_id:3": -1.2}],
                }
            }
        ]
    }
    for obj in (chat, comp):
        log = tmp_path / "v.jsonl"
        log.write_text(json.dumps(obj) + "\n")
        with open_source(str(log), vocab_size=10) as src:
            chunk = next(src.chunks(1 << 20, with_ids=True))
        assert chunk.ids.tolist() == [[7, 3]]
        assert chunk.next_token.tolist() == [7 if obj is chat else 3]
    assert responses.token_id("token_id:12") == 12
    assert responses.token_id("token_id:x") is None
    assert responses.token_id("hello") is None


def test_the_ceiling_per_kind_of_text(tmp_path):
    """Prompts with kinds (collect's 'kind'): the ceiling's roots grouped by their prompt's kind, in the answer."""
    prompts = tmp_path / "p.jsonl"
    kinds = ["prose", "code", "code", "prose", "code"]
    prompts.write_text("".join(json.dumps({"prompt": f"text {i}", "kind": k}) + "\n" for i, k in enumerate(kinds)))
    log = tmp_path / "c.jsonl"
    with fake_server() as (url, _):
        collect(url, str(prompts), str(log), CollectOptions(n=2, max_tokens=6, top_logprobs=5, concurrency=1))
    comp = compare([str(log)], [], replicates=4, n_boot=50)
    assert sorted(comp.kinds) == ["code", "prose"]
    # by hand: each prompt has 2 continuations x 6 positions = 12 roots; prompts 1, 2, 4 are code
    assert comp.kinds["code"]["roots"] == 36
    assert comp.kinds["prose"]["prompts"] == 2
    code = np.isin(comp.ceiling.root_prompt, [1, 2, 4])
    np.testing.assert_allclose(comp.kinds["code"]["lower"], comp.ceiling.lower.curves[code].mean(axis=0))
    line = next(x for x in comp.answer_lines(4) if x.startswith("  by kind of text at P = 4: "))
    assert line.split(": ", 1)[1].startswith("code ")
    assert comp.to_dict()["ceiling_by_kind"]["prose"]["roots"] == 24


def test_a_drafter_measured_per_kind_is_held_against_its_kinds_ceiling(tmp_path):
    """A plain log with a 'kind' column: one entry per kind, each against its own kind's ceiling, by hand."""
    prompts = tmp_path / "p.jsonl"
    kinds = ["prose", "code", "code", "prose"]
    prompts.write_text("".join(json.dumps({"prompt": f"text {i}", "kind": k}) + "\n" for i, k in enumerate(kinds)))
    log = tmp_path / "c.jsonl"
    with fake_server() as (url, _):
        collect(url, str(prompts), str(log), CollectOptions(n=2, max_tokens=6, top_logprobs=5, concurrency=1))
    meas = tmp_path / "m.csv"
    meas.write_text("drafter,kind,accepted,tree_size\n" + "d,code,1,4\nd,code,0,4\nd,prose,0,4\nd,prose,0,4\n")
    ms = read_acceptance(str(meas))
    assert sorted((m.name, m.kind, m.mean_accepted) for m in ms) == [
        ("d [code]", "code", 0.5),
        ("d [prose]", "prose", 0.0),
    ]
    comp = compare([str(log)], ms, replicates=4, n_boot=50)
    row = next(r for r in comp.measured_rows() if r["label"] == "d [code]")
    code_ceiling = comp.kinds["code"]["lower"][3]
    assert row["fraction_of_its_kind_ceiling"] == pytest.approx(0.5 / code_ceiling)
    line = next(x for x in comp.answer_lines() if x.startswith("  by kind of text at P = 4: "))
    # rows that keep at least 4 tokens: at P = 4 the truncation costs nothing, so the fraction is one number
    assert comp.truncation["exact_up_to"] >= 4
    assert f"(d [code] {100 * 0.5 / code_ceiling:.0f}%)" in line
