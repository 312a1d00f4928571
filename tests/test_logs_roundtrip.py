"""Every serving-log format through `compare --json`: the X worked out by hand in the readers' tests arrives intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from speedoflight.cli.app import main

from . import test_logs_engines as engines
from . import test_logs_llamacpp as lcpp
from . import test_logs_sglang as sgl
from . import test_logs_vllm as vllm

DUMP = str(Path(__file__).resolve().parents[1] / "data" / "smollm2-t1.npz")


def _jsonl(rows):
    return "".join(json.dumps(r) + "\n" for r in rows)


SAMPLES = {
    "vllm-log": ("serve.log", vllm.V1_TWO_SERVERS, 1230 / 800),
    "vllm-v0-log": ("v0.log", vllm.V0, 21000 / 8874 - 1),
    "vllm-offline": ("offline.txt", vllm.OFFLINE, 12904 / 7125),
    "vllm-per-request": (
        "responses.jsonl",
        _jsonl([vllm._per_request([39, 1, 0, 3]), vllm._per_request([2, 3, 2, 10])]),
        47 / 60,
    ),
    "vllm-bench": ("bench.txt", vllm.BENCH, 149023 / 60305),
    "sglang-log": ("sglang.log", sgl.LOG, 24.2 / 12),
    "sglang": (
        "sglang.jsonl",
        _jsonl(
            [
                {
                    "meta_info": {
                        "completion_tokens": 100,
                        "spec_num_correct_drafts": 66,
                        "spec_num_proposed_drafts": 99,
                        "spec_verify_ct": 33,
                        "spec_correct_drafts_histogram": [3, 6, 12, 12],
                    }
                }
            ]
        ),
        66 / 33,
    ),
    "vllm-bench-json": (
        "result.json",
        json.dumps(
            {
                "spec_decode_num_drafts": 1000,
                "spec_decode_draft_tokens": 3000,
                "spec_decode_accepted_tokens": 1000,
                "spec_decode_acceptance_length": 2.0,
            }
        ),
        1.0,
    ),
    "llama.cpp-timings": (
        "timings.jsonl",
        _jsonl(
            [
                {"timings": {"predicted_n": 70, "draft_n": 60, "draft_n_accepted": 30}},
                {"timings": {"predicted_n": 40, "draft_n": 20, "draft_n_accepted": 10}},
            ]
        ),
        40 / 70,
    ),
    "llama.cpp": ("server.log", lcpp.STATS["draft-eagle3"][0] + "\n", 167 / 87),
    "llama.cpp-summary": ("spec.txt", lcpp.LEGACY, 223 / 42),
    "tensorrt-llm": (
        "iter.json",
        json.dumps([engines._trt(7, 12, 4), engines._trt(2, 6, 2), engines._trt(0, 0, 0)]),
        1.5,
    ),
    "aiperf": (
        "profile_export.jsonl",
        _jsonl(
            [
                engines._aiperf(281, 128, 640, {"0": 33, "1": 22, "2": 19, "3": 17, "4": 15, "5": 22}),
                engines._aiperf(100, 72, 360, {"0": 20, "1": 20, "2": 16, "3": 16}),
            ]
        ),
        381 / 200,
    ),
}


@pytest.mark.parametrize("fmt", list(SAMPLES))
def test_compare_json_round_trip(tmp_path, capsys, fmt):
    name, text, x = SAMPLES[fmt]
    p = tmp_path / name
    p.write_text(text)
    argv = ["compare", "--dump", DUMP, "--measured", str(p), "--replicates", "4", "--pmax", "16", "--json", "--quiet"]
    assert main(argv) == 0
    d = json.loads(capsys.readouterr().out)
    first = d["measured"][0]
    assert first["format"] == fmt
    assert first["mean_accepted"] == pytest.approx(x, rel=1e-9)
    assert first["tokens_per_call"] == pytest.approx(x + 1, rel=1e-9)


# Bad input, reader by reader: negative, NaN or infinite counts, more accepted than drafted, rates outside [0, 1].
BAD = [
    ("v0-negative.log", "INFO Speculative metrics: Draft acceptance rate: 0.6, System efficiency: 0.5, Number of "
     "speculative tokens: 3, Number of accepted tokens: 10, Number of draft tokens: -30, Number of emitted tokens: 20.",
     "negative"),
    ("v0-nan.log", "INFO Speculative metrics: Draft acceptance rate: 0.6, System efficiency: 0.5, Number of "
     "speculative tokens: 3, Number of accepted tokens: 10, Number of draft tokens: nan, Number of emitted tokens: 20.",
     "finite"),
    ("offline-more-accepted.txt", "num_drafts: 10\nnum_draft_tokens: 30\nnum_accepted_tokens: 40\n", "drafted"),
    ("offline-negative.txt", "num_drafts: -10\nnum_accepted_tokens: 4\n", "negative"),
    ("offline-rate.txt", "num_drafts: 10\nnum_accepted_tokens: 15\nacceptance at token 0: 1.50\n"
     "acceptance at token 1: 0.00\n", "outside [0, 1]"),
    ("sglang-negative.log", "[2026-05-01 10:00:00] Decode batch, #running-req: 3, accept len: -2.00, #queue-req: 0",
     "accept len"),
    ("lcpp-more-accepted.log", "statistics draft: #calls(b,g,a) = 1 10 10, #gen drafts = 10, #acc drafts = 5, "
     "#gen tokens = 30, #acc tokens = 40", "exceeds"),
    ("lcpp-nan.log", "statistics draft: #calls(b,g,a) = 1 10 10, #gen drafts = nan, #acc drafts = 5, "
     "#gen tokens = 30, #acc tokens = 4", "not finite"),
    ("lcpp-slot.log", "slot 0: draft acceptance = 0.50000 (   40 accepted /    30 generated)", "generated"),
    ("lcpp-summary.txt", "n_draft   = 16\nn_predict = 100\nn_drafted = -5\nn_accept  = 20\n", "count"),
    ("bench-more-accepted.txt", "---------------Speculative Decoding---------------\nDrafts: 10\nDraft tokens: 30\n"
     "Accepted tokens: 40\n" + "=" * 50, "drafted"),
    ("bench-rate.txt", "---------------Speculative Decoding---------------\nDrafts: 10\nDraft tokens: 30\n"
     "Accepted tokens: 15\n  Position 0: 120.00\n  Position 1: 30.00\n" + "=" * 50, "outside [0, 1]"),
    ("trt-negative.json", '[{"specDecodingStats": {"numDraftTokens": 10, "numAcceptedTokens": -5, '
     '"numRequestsWithDraftTokens": 2}}]', "count"),
    ("trt-nan.json", '[{"specDecodingStats": {"numDraftTokens": NaN, "numAcceptedTokens": 5, '
     '"numRequestsWithDraftTokens": 2}}]', "count"),
    ("aiperf-more-accepted.jsonl", '{"metrics": {"spec_decode_accepted_draft_tokens": {"value": 50}, '
     '"spec_decode_steps": {"value": 10}, "spec_decode_draft_tokens": {"value": 30}}}', "drafted"),
    ("aiperf-inf.jsonl", '{"metrics": {"spec_decode_accepted_draft_tokens": {"value": Infinity}, '
     '"spec_decode_steps": {"value": 10}}}', "count"),
    ("per-request-more-accepted.jsonl", '{"metrics": {"speculative_decoding": {"num_spec_steps": 10, '
     '"num_accepted_draft_tokens": 50, "num_draft_tokens": 30}}}', "drafted"),
    ("per-request-negative.jsonl", '{"metrics": {"speculative_decoding": {"num_spec_steps": -10, '
     '"num_accepted_draft_tokens": 5}}}', "negative"),
    ("csv-means-below-one.csv", "request,mean_acceptance_length,num_spec_steps\na,0.5,10\n", "not a mean"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "word"), BAD, ids=[b[0] for b in BAD])
def test_bad_counts_are_one_line_and_exit_2(tmp_path, capsys, name, text, word):
    p = tmp_path / name
    p.write_text(text + "\n")
    code = main(["compare", "--dump", DUMP, "--measured", str(p), "--pmax", "16", "--replicates", "2", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert word in err, err
