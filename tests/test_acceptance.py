"""Readers of measured acceptance: every format against a sample written here from its documented layout."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from speedoflight.cli.app import main
from speedoflight.errors import InputError
from speedoflight.logs.acceptance import FORMATS, read_acceptance


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def one(path, **kw):
    out = read_acceptance(path, **kw)
    assert len(out) == 1
    return out[0]


# --- plain CSV / JSONL -------------------------------------------------------------------------------------


def test_csv_accepted_with_groups_gives_the_cluster_interval(tmp_path):
    rows = [("a", 2), ("a", 0), ("a", 4), ("b", 1), ("b", 1), ("c", 3)]
    text = "request,accepted,tree_size\n" + "".join(f"{g},{x},4\n" for g, x in rows)
    m = one(write(tmp_path, "x.csv", text))
    assert m.format == "csv"
    assert m.mean_accepted == pytest.approx(11 / 6)
    assert m.tokens_per_call == pytest.approx(11 / 6 + 1)
    assert m.P == 4
    assert m.groups == 3
    assert m.iterations == 6
    # ratio estimator by hand: group totals 6, 2, 3 over counts 3, 2, 1
    r = 11 / 6
    resid = np.array([6 - 3 * r, 2 - 2 * r, 3 - 1 * r])
    se = math.sqrt(3 / 2 * np.sum(resid**2)) / 6
    assert m.se == pytest.approx(se)
    assert m.ci[0] < m.mean_accepted < m.ci[1]
    assert m.distribution.tolist() == pytest.approx([1 / 6, 2 / 6, 1 / 6, 1 / 6, 1 / 6])


def test_csv_tokens_per_call_is_converted_to_x(tmp_path):
    m = one(write(tmp_path, "t.csv", "tokens_per_call\n1\n3\n2\n2\n"))
    assert m.mean_accepted == pytest.approx(1.0)
    assert "X + 1" in m.convention
    # no groups: iterations independent, se = sd / sqrt(n)
    assert m.se == pytest.approx(np.std([0, 2, 1, 1], ddof=1) / 2)


def test_jsonl_lists_per_request_and_labels(tmp_path):
    lines = [
        {"drafter": "eagle", "accepted": [3, 1, 2]},
        {"drafter": "eagle", "accepted": [0, 4]},
        {"drafter": "ngram", "accepted": [0, 0, 1]},
    ]
    out = read_acceptance(write(tmp_path, "m.jsonl", "\n".join(json.dumps(x) for x in lines)))
    by = {m.label: m for m in out}
    assert by["eagle"].mean_accepted == pytest.approx(10 / 5)
    assert by["eagle"].groups == 2
    assert by["ngram"].mean_accepted == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accepted\n2\n-1\n", "negative"),
        ("accepted,tree_size\n5,4\n", "more accepted than drafted"),
        ("foo,bar\n1,2\n", "no column named 'accepted'"),
        ("2\n3\n", "header"),
        ("accepted\n2\nabc\n", "not a number"),
        ("accepted\n2\n1.5\n", "whole number"),
        ("tokens_per_call\n0\n", "below 1"),
    ],
)
def test_csv_bad_input(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        read_acceptance(write(tmp_path, "bad.csv", text))


# --- speedoflight-measured ---------------------------------------------------------------------------------


def test_own_measured_file_round_trips(tmp_path):
    from speedoflight.formats.measured import MeasureRun, write_measured

    recs = [
        {"prompt": 0, "sample": 0, "kind": "prose", "drafter": "ngram", "shape": "chain", "P": 4,
         "accepted": [1, 0, 4], "tree_size": [4, 2, 4], "start": [0, 2, 3]},
        {"prompt": 1, "sample": 0, "kind": "code", "drafter": "ngram", "shape": "chain", "P": 4,
         "accepted": [2], "tree_size": [4], "start": [0]},
    ]  # fmt: skip
    path = str(tmp_path / "run.jsonl")
    write_measured(path, MeasureRun(records=recs, meta={"format": "speedoflight-measured", "version": 1}))
    m = one(path)
    assert m.format == "speedoflight-measured"
    assert (m.label, m.P, m.mean_accepted, m.groups) == ("ngram chain", 4, pytest.approx(7 / 4), 2)
    assert m.mean_draft_size == pytest.approx(14 / 4)


# --- vLLM /metrics -----------------------------------------------------------------------------------------

PROM = """\
# HELP vllm:spec_decode_num_drafts_total Number of spec decoding drafts.
# TYPE vllm:spec_decode_num_drafts_total counter
vllm:spec_decode_num_drafts_total{{engine="0",model_name="m"}} {drafts}
# HELP vllm:spec_decode_num_draft_tokens_total Number of draft tokens.
# TYPE vllm:spec_decode_num_draft_tokens_total counter
vllm:spec_decode_num_draft_tokens_total{{engine="0",model_name="m"}} {draft_tokens}
# HELP vllm:spec_decode_num_accepted_tokens_total Number of accepted tokens.
# TYPE vllm:spec_decode_num_accepted_tokens_total counter
vllm:spec_decode_num_accepted_tokens_total{{engine="0",model_name="m"}} {accepted}
# HELP vllm:spec_decode_num_accepted_tokens_per_pos_total Accepted tokens per draft position.
# TYPE vllm:spec_decode_num_accepted_tokens_per_pos_total counter
vllm:spec_decode_num_accepted_tokens_per_pos_total{{engine="0",model_name="m",position="0"}} {p0}
vllm:spec_decode_num_accepted_tokens_per_pos_total{{engine="0",model_name="m",position="1"}} {p1}
vllm:spec_decode_num_accepted_tokens_per_pos_total{{engine="0",model_name="m",position="2"}} {p2}
"""


def prom(**kw):
    d = {"drafts": 100.0, "draft_tokens": 300.0, "accepted": 150.0, "p0": 80.0, "p1": 50.0, "p2": 20.0}
    d.update(kw)
    return PROM.format(**d)


def test_vllm_metrics_counters_give_the_distribution(tmp_path):
    m = one(write(tmp_path, "metrics.prom", prom()))
    assert m.format == "vllm-metrics"
    assert m.label == "m"
    assert m.mean_accepted == pytest.approx(1.5)  # 150 / 100
    assert m.tokens_per_call == pytest.approx(2.5)  # vLLM's mean acceptance length
    assert m.P == 3
    assert m.mean_draft_size == pytest.approx(3.0)
    # cumulative counters: X = 0: 20 drafts, 1: 30, 2: 30, 3: 20
    assert m.distribution.tolist() == pytest.approx([0.2, 0.3, 0.3, 0.2])
    x = np.repeat([0, 1, 2, 3], [20, 30, 30, 20])
    assert m.se == pytest.approx(np.std(x, ddof=1) / 10)


def test_vllm_metrics_without_total_suffix_and_untyped(tmp_path):
    text = "\n".join(
        line.replace("_total{", "{") for line in prom().splitlines() if not line.startswith("#")
    )  # what `curl | grep spec_decode` of an older version leaves
    m = one(write(tmp_path, "m.txt", text + "\n"))
    assert m.mean_accepted == pytest.approx(1.5)


def test_vllm_metrics_sums_engines(tmp_path):
    text = prom() + prom().replace('engine="0"', 'engine="1"').split("\n", 0)[0]
    text = "\n".join(x for x in prom().splitlines() if not x.startswith("#")) + "\n"
    text += text.replace('engine="0"', 'engine="1"')
    m = one(write(tmp_path, "two.prom", text))
    assert m.iterations == 200
    assert m.mean_accepted == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"accepted": 400.0}, "only 300"),
        ({"p1": 90.0, "p0": 40.0}, "rise with the position"),
        ({"drafts": 0.0}, "no drafts yet"),
        ({"drafts": -5.0}, "negative"),
    ],
)
def test_vllm_metrics_bad_input(tmp_path, kw, message):
    with pytest.raises(InputError, match=message):
        read_acceptance(write(tmp_path, "bad.prom", prom(**kw)))


def test_a_trimmed_scrape_uses_the_totals_and_says_so(tmp_path):
    """Per-position counters summing to 150 while 140 tokens were accepted (a scrape cut by grep, or an engine's
    per-position series missing): X = 140 / 100 from the totals, no distribution, and a note."""
    m = one(write(tmp_path, "trimmed.prom", prom(accepted=140.0)))
    assert m.mean_accepted == pytest.approx(1.4)
    assert m.distribution is None
    assert m.P is None
    assert any("trimmed" in n for n in m.notes)


def test_vllm_metrics_twice_in_one_file(tmp_path):
    with pytest.raises(InputError, match="appears twice"):
        read_acceptance(
            write(tmp_path, "twice.prom", "\n".join(x for x in (prom() + prom()).splitlines() if not x.startswith("#")))
        )


# --- vLLM log lines ----------------------------------------------------------------------------------------


def vllm_line(acc, drafted, k, rates, extra=""):
    drafts = drafted / k
    mean_len = 1 + acc / drafts
    r = ", ".join(f"{x:.3f}" for x in rates)
    return (
        f"INFO 05-01 10:00:00 [loggers.py:123] SpecDecoding metrics: Mean acceptance length: {mean_len:.2f}, "
        f"Accepted throughput: 10.00 tokens/s, Drafted throughput: 20.00 tokens/s, Accepted: {acc} tokens, "
        f"Drafted: {drafted} tokens, Per-position acceptance rate: {r}, {extra}"
        f"Avg Draft acceptance rate: {100 * acc / drafted:.1f}%"
    )


def test_vllm_log_lines_are_summed_over_intervals(tmp_path):
    # interval 1: 40 drafts of k = 3, per position 30, 20, 10 accepted -> 60 accepted
    # interval 2: 10 drafts, per position 5, 3, 2 -> 10 accepted
    lines = [
        vllm_line(60, 120, 3, [0.75, 0.5, 0.25]),
        "INFO something else",
        vllm_line(10, 30, 3, [0.5, 0.3, 0.2], extra="Current speculative depth: 3, "),
    ]
    m = one(write(tmp_path, "server.log", "\n".join(lines)))
    assert m.format == "vllm-log"
    assert m.iterations == pytest.approx(50)
    assert m.mean_accepted == pytest.approx(70 / 50)
    assert m.P == 3
    # X distribution from cumulative counts: drafts 50, >0: 35, >1: 23, >2: 12
    assert m.distribution.tolist() == pytest.approx([15 / 50, 12 / 50, 11 / 50, 12 / 50])


def test_vllm_log_rejects_a_line_whose_numbers_disagree(tmp_path):
    bad = vllm_line(60, 120, 3, [0.75, 0.5, 0.25]).replace(
        "Mean acceptance length: 2.50", "Mean acceptance length: 2.90"
    )
    with pytest.raises(InputError, match="inconsistent"):
        read_acceptance(write(tmp_path, "bad.log", bad))


def test_vllm_log_line_without_drafts_information(tmp_path):
    line = "SpecDecoding metrics: Draft acceptance rate: 50.0%, Accepted: 60 tokens, Drafted: 120 tokens"
    with pytest.raises(InputError, match="number of drafts cannot be"):
        read_acceptance(write(tmp_path, "old.log", line))


def test_vllm_log_more_accepted_than_drafted(tmp_path):
    line = "SpecDecoding metrics: Mean acceptance length: 3.00, Accepted: 200 tokens, Drafted: 100 tokens"
    with pytest.raises(InputError, match="only 100 drafted"):
        read_acceptance(write(tmp_path, "x.log", line))


# --- SGLang ------------------------------------------------------------------------------------------------


def test_sglang_meta_info(tmp_path):
    recs = [
        {"text": "a", "meta_info": {"completion_tokens": 31, "spec_verify_ct": 10, "spec_accept_token_num": 20,
                                    "spec_draft_token_num": 40, "spec_accept_length": 3.1}},
        {"text": "b", "meta_info": {"completion_tokens": 11, "spec_verify_ct": 5, "spec_accept_token_num": 5,
                                    "spec_draft_token_num": 20, "spec_accept_length": 2.2}},
    ]  # fmt: skip
    m = one(write(tmp_path, "sgl.jsonl", "\n".join(json.dumps(r) for r in recs)))
    assert m.format == "sglang"
    assert m.mean_accepted == pytest.approx(25 / 15)
    assert m.P == 4
    assert m.groups == 2


def test_sglang_json_list_and_older_fields(tmp_path):
    """A real SGLang 0.5.6 response (PR #13754): completion_tokens 200 = 1 (sampled at prefill) + 188 verify steps
    + 11 accepted drafts. With the counts, X = 11 / 188; an older release without spec_accept_token_num gives the
    same from completion_tokens - spec_verify_ct - 1 (dividing completion tokens by verify steps would give
    1.0638 - 1 = 0.0638, the prefill token counted as accepted)."""
    real = {"completion_tokens": 200, "spec_accept_rate": 0.011702127659574468,
            "spec_accept_length": 1.0638297872340425, "spec_verify_ct": 188, "spec_accept_token_num": 11,
            "spec_draft_token_num": 940}  # fmt: skip
    m = one(write(tmp_path, "sgl.json", json.dumps([{"meta_info": real}])))
    assert m.mean_accepted == pytest.approx(11 / 188, rel=1e-12)
    assert m.P == 5
    older = {"completion_tokens": 200, "spec_verify_ct": 188}
    m = one(write(tmp_path, "old.json", json.dumps([{"meta_info": older}])))
    assert m.mean_accepted == pytest.approx(11 / 188, rel=1e-12)
    assert "prefill" in " ".join(m.notes)


def test_sglang_newer_fields_and_the_openai_extension(tmp_path):
    """0.5.15+: spec_num_correct_drafts, spec_num_proposed_drafts and the histogram of accepted drafts per step
    ([3, 6, 12, 12]: 33 steps, 6 + 24 + 36 = 66 accepted, X = 2); 0.5.23's OpenAI sglext.spec_tokens_details
    (a real reply: 63 accepted in 43 steps, histogram [11, 14, 11, 4, 0, 3]: 14 + 22 + 12 + 15 = 63)."""
    newer = {"meta_info": {"completion_tokens": 100, "spec_num_correct_drafts": 66, "spec_num_proposed_drafts": 99,
                           "spec_verify_ct": 33, "spec_correct_drafts_histogram": [3, 6, 12, 12]}}  # fmt: skip
    openai = {"choices": [{"message": {"content": "..."}}],
              "sglext": {"spec_tokens_details": {"spec_accept_length": 2.4651162790697674, "spec_num_correct_drafts": 63,
                                                 "spec_num_proposed_drafts": 215, "spec_verify_ct": 43,
                                                 "spec_correct_drafts_histogram": [11, 14, 11, 4, 0, 3]}}}  # fmt: skip
    m = one(write(tmp_path, "new.jsonl", json.dumps(newer) + "\n" + json.dumps(openai) + "\n"))
    assert m.mean_accepted == pytest.approx((66 + 63) / (33 + 43), rel=1e-12)
    assert m.distribution is not None
    assert m.distribution[0] == pytest.approx((3 + 11) / 76)
    bad = {"meta_info": {"spec_num_correct_drafts": 66, "spec_verify_ct": 33, "spec_correct_drafts_histogram": [3, 6]}}
    with pytest.raises(InputError, match="histogram"):
        read_acceptance(write(tmp_path, "bad.jsonl", json.dumps(bad)))


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"spec_verify_ct": 10, "spec_accept_token_num": 50, "spec_draft_token_num": 40}, "only 40 drafted"),
        ({"spec_verify_ct": -1, "spec_accept_token_num": 5}, "negative"),
        ({"spec_verify_ct": 10}, "needs spec_num_correct_drafts"),
        ({"completion_tokens": 30, "spec_verify_ct": 10, "spec_accept_token_num": 20, "spec_accept_length": 5.0},
         "is not completion_tokens"),
    ],
)  # fmt: skip
def test_sglang_bad_input(tmp_path, meta, message):
    with pytest.raises(InputError, match=message):
        read_acceptance(write(tmp_path, "b.jsonl", json.dumps({"meta_info": meta})))


# --- Spec-Bench and EAGLE ----------------------------------------------------------------------------------


def test_spec_bench_accept_lengths_are_tokens_per_step(tmp_path):
    recs = [
        {"question_id": 1, "model_id": "eagle-7b", "choices": [
            {"index": 0, "turns": ["x"], "decoding_steps": [3], "new_tokens": [9], "wall_time": [0.1],
             "accept_lengths": [4, 1, 4]}]},
        {"question_id": 2, "model_id": "eagle-7b", "choices": [
            {"index": 0, "turns": ["y"], "decoding_steps": [2], "new_tokens": [5], "wall_time": [0.1],
             "accept_lengths": [2, 3]}]},
    ]  # fmt: skip
    m = one(write(tmp_path, "sb.jsonl", "\n".join(json.dumps(r) for r in recs)))
    assert m.format == "spec-bench"
    assert m.label == "eagle-7b"
    assert m.mean_accepted == pytest.approx((3 + 0 + 3 + 1 + 2) / 5)
    assert m.groups == 2
    assert m.P is None


def test_spec_bench_zero_accept_length_is_an_error(tmp_path):
    rec = {"question_id": 1, "choices": [{"decoding_steps": [1], "new_tokens": [0], "accept_lengths": [0]}]}
    with pytest.raises(InputError, match="below 1"):
        read_acceptance(write(tmp_path, "sb.jsonl", json.dumps(rec)))


def test_eagle_answers_count_idx_plus_one_calls(tmp_path):
    recs = [
        {"question_id": 81, "choices": [{"index": 0, "turns": ["a", "b"], "idxs": [9, 4], "new_tokens": [40, 10],
                                         "wall_time": [1.0, 0.5]}]},
    ]  # fmt: skip
    m = one(write(tmp_path, "ea.jsonl", json.dumps(recs[0])))
    assert m.format == "eagle"
    # turns: 10 calls for 40 tokens, 5 calls for 10 tokens -> X = (30 + 5) / 15
    assert m.mean_accepted == pytest.approx(35 / 15)
    assert "idx + 1" in m.convention


def test_eagle_fewer_tokens_than_calls_is_an_error(tmp_path):
    rec = {"question_id": 1, "choices": [{"idxs": [9], "new_tokens": [3]}]}
    with pytest.raises(InputError, match="at least one token"):
        read_acceptance(write(tmp_path, "ea.jsonl", json.dumps(rec)))


# --- llama.cpp ---------------------------------------------------------------------------------------------

LCPP = """\
0.16.519.189 I slot print_timing: id  0 | task 42 |    graphs reused =        132
0.16.519.195 I slot print_timing: id  0 | task 42 | draft acceptance = 0.66237 (  257 accepted /   388 generated), mean acceptance length =  3.65, acceptance rate per position = (0.804, 0.701, 0.629, 0.515)
0.16.519.216 I statistics        draft-mtp: #calls(b,g,a) =    2    134    134, #gen drafts =    134, #acc drafts =   109, #gen tokens =    536, #acc tokens =   354, #mean acc len = 3.64, #acc rate/pos = (0.813, 0.716, 0.619, 0.493), dur(b,g,a) = 0.004, 808.560, 0.264 ms
0.20.000.000 I slot print_timing: id  0 | task 43 | draft acceptance = 0.50000 (   20 accepted /    40 generated), mean acceptance length =  3.00, acceptance rate per position = (0.800, 0.600, 0.400, 0.200)
"""


def test_llamacpp_slot_and_statistics_lines(tmp_path):
    out = read_acceptance(write(tmp_path, "server.log", LCPP))
    slots = next(m for m in out if m.label.startswith("requests"))
    stats_ = next(m for m in out if m.label == "draft-mtp")
    # task 42: 388 / 4 = 97 drafts, 1 + 257/97 = 3.65; task 43: 10 drafts
    assert slots.iterations == pytest.approx(107)
    assert slots.mean_accepted == pytest.approx(277 / 107)
    assert slots.groups == 2
    assert slots.P == 4
    assert stats_.mean_accepted == pytest.approx(354 / 134)
    assert stats_.P == 4
    assert stats_.mean_draft_size == pytest.approx(4.0)
    assert stats_.iterations == 134


def test_llamacpp_cumulative_statistics_take_the_last_line_of_each_run(tmp_path):
    line = "I statistics ngram_simple: #calls = 15, #gen drafts = {d}, #acc drafts = 1, #gen tokens = {g}, #acc tokens = {a}"
    text = "\n".join([line.format(d=5, g=20, a=4), line.format(d=10, g=40, a=12), line.format(d=2, g=8, a=3)])
    m = one(write(tmp_path, "s.log", text))
    assert m.iterations == 12  # 10 from the first run, 2 after a restart
    assert m.mean_accepted == pytest.approx(15 / 12)


def test_llamacpp_older_line_without_mean_length(tmp_path):
    text = "draft acceptance rate = 0.57576 (  171 accepted /   297 generated)\n"
    with pytest.raises(InputError, match="number of drafts cannot be"):
        read_acceptance(write(tmp_path, "old.log", text))


def test_llamacpp_inconsistent_statistics(tmp_path):
    bad = LCPP.replace("#mean acc len = 3.64", "#mean acc len = 2.10")
    with pytest.raises(InputError, match="#mean acc len"):
        read_acceptance(write(tmp_path, "bad.log", bad))


# --- detection and files -----------------------------------------------------------------------------------


def test_binary_and_pickle_files_are_refused(tmp_path):
    import pickle

    p = tmp_path / "x.pkl"
    p.write_bytes(pickle.dumps({"accepted": [1, 2]}))
    with pytest.raises(InputError, match="binary"):
        read_acceptance(str(p))
    with pytest.raises(InputError, match="binary"):
        read_acceptance("data/smollm2-t1.npz")


def test_unknown_text_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="not a recognised acceptance log"):
        read_acceptance(write(tmp_path, "x.txt", "hello world\n"))
    with pytest.raises(InputError, match="no such file"):
        read_acceptance(str(tmp_path / "nope.csv"))
    with pytest.raises(InputError, match="is empty"):
        read_acceptance(write(tmp_path, "e.csv", "\n"))
    with pytest.raises(InputError, match="truncated"):
        read_acceptance(write(tmp_path, "t.jsonl", '{"accepted": [1, 2]}\n{"accepted": [1'))


def test_every_format_is_documented():
    import speedoflight.logs.acceptance as acceptance

    assert set(FORMATS) >= {
        "csv", "jsonl", "speedoflight-measured", "vllm-metrics", "vllm-log", "vllm-v0-log", "vllm-offline", "sglang",
        "sglang-log", "spec-bench", "eagle", "llama.cpp",
    }  # fmt: skip
    for name in FORMATS:  # each one has its paragraph in the module's docstring
        assert f"``{name}``" in (acceptance.__doc__ or ""), name


def test_forced_format_is_checked(tmp_path):
    with pytest.raises(InputError, match="not one of"):
        read_acceptance(write(tmp_path, "a.csv", "accepted\n1\n"), fmt="tgi")


def test_cli_bad_measured_file_exits_2_with_one_line(tmp_path, capsys):
    bad = write(tmp_path, "bad.prom", prom(accepted=400.0))
    code = main(["compare", "--dump", "data/smollm2-t1.npz", "--measured", bad, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "only 300" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("eagle.jsonl", '{"question_id": 1, "choices": [{"idxs": [-2], "new_tokens": [5]}]}', "negative"),
        ("eagle2.jsonl", '{"question_id": 1, "choices": [{"idxs": [3]}]}', "needs lists new_tokens and idxs"),
        ("sb.jsonl", '{"question_id": 1, "choices": [{"decoding_steps": [2], "new_tokens": [-3]}]}', "negative"),
        ("sb2.jsonl", '{"question_id": 1, "choices": [{"accept_lengths": "3,4"}]}', "must be a list"),
        ("l.log", "statistics draft: #gen drafts = 10, #acc drafts = 5, #gen tokens = 20, #acc tokens = 30", "exceeds"),
        (
            "l2.log",
            "statistics draft: #gen drafts = 10, #acc drafts = 12, #gen tokens = 20, #acc tokens = 3",
            "#acc drafts",
        ),
        (
            "l3.log",
            "draft acceptance = 0.50000 (   30 accepted /   20 generated), mean acceptance length = 2.00",
            "only 20",
        ),
        ("s.jsonl", '{"meta_info": {"spec_verify_ct": 4, "spec_accept_token_num": -1}}', "negative"),
        ("s2.jsonl", '{"meta_info": {"completion_tokens": 10}}', "no spec_verify_ct"),
        ("v.log", "SpecDecoding metrics: Mean acceptance length: 2.00, Drafted: 10 tokens", "Accepted: N tokens"),
    ],
)
def test_bad_input_per_reader(tmp_path, name, text, message):
    with pytest.raises(InputError, match=message):
        read_acceptance(write(tmp_path, name, text + "\n"))
