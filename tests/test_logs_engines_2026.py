"""LMDeploy, TensorRT-LLM's /metrics, SGLang's /metrics and /get_server_info, Ollama, ExLlamaV3 and specdec_bench.

Each sample is written from the engine's source (cited beside its reader and in docs/cli.md); the Prometheus
samples are what ``prometheus_client`` writes for the metric names, help texts and labels those sources declare.
X is worked out by hand in the comments.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from speedoflight.cli.app import main
from speedoflight.errors import InputError
from speedoflight.logs.acceptance import detect, read_acceptance

from .test_logs_llamacpp_2026 import DATA, DUMP


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _one_line_exit_2(capsys, path):
    """The CLI prints the refusal on one line and exits 2."""
    assert main(["compare", "--dump", DUMP, "--measured", path, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    return err


# --- LMDeploy ------------------------------------------------------------------------------------------------

# lmdeploy/metrics/loggers.py (LoggingStatLogger.log): one line per DP rank and interval.
# DP0: 1500 drafted in 3 positions -> 500 drafts; 1 + 930 / 500 = 2.86; rate 930 / 1500 = 62.00%.
# DP1: 900 / 3 = 300 drafts; 1 + 300 / 300 = 2.00; rate 300 / 900 = 33.33%.
# Pooled by summing counts: X = (930 + 300) / (500 + 300) = 1230 / 800 = 1.5375.
LMDEPLOY = """\
[2026-08-20 10:00:00 DP0] Avg thr (in/out): 12.0 / 93.0 tokens/s, Server (succeeded/failed/routed/waiting): \
3 / 0 / 1 / 0, Engine (running/waiting): 1 / 0, KV cache: 1.2%, SpecDecoding metrics: Draft acceptance rate: \
62.00%, Mean acceptance length: 2.86, Accepted: 930 tokens, Drafted: 1500 tokens, Per-position acceptance rate: \
0.800, 0.620, 0.440
[2026-08-20 10:00:00 DP1] Avg thr (in/out): 10.0 / 30.0 tokens/s, Server (succeeded/failed/routed/waiting): \
2 / 0 / 1 / 0, Engine (running/waiting): 1 / 0, KV cache: 0.8%, Prefix cache hit rate: 10.0%, SpecDecoding \
metrics: Draft acceptance rate: 33.33%, Mean acceptance length: 2.00, Accepted: 300 tokens, Drafted: 900 tokens, \
Per-position acceptance rate: 0.500, 0.300, 0.200
"""

# The first release (2025-11, PR #3945) printed the spec part on a line of its own after the stats line.
LMDEPLOY_2025 = """\
[2025-12-01 10:00:00 DP0] Avg prompt throughput: 12.0 tokens/s, Avg generation throughput: 93.0 tokens/s, \
Finished: 3 reqs, Unfinished: 1 reqs, Running: 1 reqs, Waiting: 0 reqs, GPU KV cache usage: 1.2%
SpecDecoding metrics: Draft acceptance rate: 62.00%, Mean acceptance length: 2.86, Accepted: 930 tokens, Drafted: \
1500 tokens, Per-position acceptance rate: 0.800, 0.620, 0.440
"""

# vLLM 0.8's line has the same field order, behind vLLM's own logger prefix: still vLLM's.
VLLM_08 = (
    "INFO 05-01 14:24:40 [metrics.py:101] SpecDecoding metrics: Draft acceptance rate: 62.0%, Mean acceptance "
    "length: 2.86, Accepted: 930 tokens, Drafted: 1500 tokens, Per-position acceptance rate: 0.800, 0.620, 0.440\n"
)


def test_lmdeploy_log_pools_dp_ranks(tmp_path):
    p = _write(tmp_path, "lmdeploy.log", LMDEPLOY)
    assert detect(p, LMDEPLOY) == "lmdeploy-log"
    pooled, dp0, dp1 = read_acceptance(p)
    assert pooled.format == "lmdeploy-log"
    assert pooled.mean_accepted == pytest.approx(1230 / 800)
    assert pooled.iterations == pytest.approx(800)
    assert pooled.P == 3
    assert (dp0.label, dp1.label) == ("DP0", "DP1")
    assert dp0.mean_accepted == pytest.approx(930 / 500)
    assert dp1.mean_accepted == pytest.approx(1.0)


def test_lmdeploy_2025_line_and_vllm_told_apart(tmp_path):
    p = _write(tmp_path, "old.log", LMDEPLOY_2025)
    assert detect(p, LMDEPLOY_2025) == "lmdeploy-log"
    (m,) = read_acceptance(p)
    assert m.mean_accepted == pytest.approx(930 / 500)
    q = _write(tmp_path, "vllm.log", VLLM_08)
    assert detect(q, VLLM_08) == "vllm-log"
    assert read_acceptance(q)[0].format == "vllm-log"


def test_lmdeploy_damaged_rate_is_refused(tmp_path, capsys):
    p = _write(tmp_path, "bad.log", LMDEPLOY.replace("62.00%", "70.00%"))
    with pytest.raises(InputError, match=re.escape("draft acceptance rate 70.0% is not 930/1500")):
        read_acceptance(p)
    _one_line_exit_2(capsys, p)


# What lmdeploy/metrics/loggers.py's PrometheusStatLogger exposes (created series disabled), two engines:
# engine 0: 4 drafts, 12 draft tokens, 8 accepted, per position 4, 3, 1 (gauge 1 + 8 / 4 = 3.0);
# engine 2: 2 drafts, 6 draft tokens, 3 accepted, per position 2, 1, 0 (gauge 1 + 3 / 2 = 2.5).
# Summed: 6 drafts, 11 accepted, X = 11 / 6; per position 6, 4, 1, so P(X = 0..3) = 0, 2/6, 3/6, 1/6.
LMDEPLOY_METRICS = """\
# HELP lmdeploy:spec_decode_num_drafts_total Number of speculative decoding drafts.
# TYPE lmdeploy:spec_decode_num_drafts_total counter
lmdeploy:spec_decode_num_drafts_total{engine="0",model_name="test-model"} 4.0
lmdeploy:spec_decode_num_drafts_total{engine="2",model_name="test-model"} 2.0
# HELP lmdeploy:spec_decode_num_draft_tokens_total Number of speculative decoding draft tokens.
# TYPE lmdeploy:spec_decode_num_draft_tokens_total counter
lmdeploy:spec_decode_num_draft_tokens_total{engine="0",model_name="test-model"} 12.0
lmdeploy:spec_decode_num_draft_tokens_total{engine="2",model_name="test-model"} 6.0
# HELP lmdeploy:spec_decode_num_accepted_tokens_total Number of speculative decoding accepted tokens.
# TYPE lmdeploy:spec_decode_num_accepted_tokens_total counter
lmdeploy:spec_decode_num_accepted_tokens_total{engine="0",model_name="test-model"} 8.0
lmdeploy:spec_decode_num_accepted_tokens_total{engine="2",model_name="test-model"} 3.0
# HELP lmdeploy:spec_decode_num_accepted_tokens_per_pos_total Number of accepted speculative decoding tokens per \
draft position.
# TYPE lmdeploy:spec_decode_num_accepted_tokens_per_pos_total counter
lmdeploy:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="test-model",position="0"} 4.0
lmdeploy:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="test-model",position="1"} 3.0
lmdeploy:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="test-model",position="2"} 1.0
lmdeploy:spec_decode_num_accepted_tokens_per_pos_total{engine="2",model_name="test-model",position="0"} 2.0
lmdeploy:spec_decode_num_accepted_tokens_per_pos_total{engine="2",model_name="test-model",position="1"} 1.0
lmdeploy:spec_decode_num_accepted_tokens_per_pos_total{engine="2",model_name="test-model",position="2"} 0.0
# HELP lmdeploy:spec_decode_mean_accept_length Mean speculative decoding acceptance length, including the bonus token.
# TYPE lmdeploy:spec_decode_mean_accept_length gauge
lmdeploy:spec_decode_mean_accept_length{engine="0",model_name="test-model"} 3.0
lmdeploy:spec_decode_mean_accept_length{engine="2",model_name="test-model"} 2.5
"""


def test_lmdeploy_metrics(tmp_path):
    p = _write(tmp_path, "lmdeploy.prom", LMDEPLOY_METRICS)
    assert detect(p, LMDEPLOY_METRICS) == "lmdeploy-metrics"
    (m,) = read_acceptance(p)
    assert m.label == "test-model"
    assert m.mean_accepted == pytest.approx(11 / 6)
    assert m.iterations == 6
    assert m.P == 3
    assert m.distribution == pytest.approx([0.0, 2 / 6, 3 / 6, 1 / 6])
    assert m.mean_draft_size == pytest.approx(18 / 6)


def test_lmdeploy_gauge_that_contradicts_its_counters(tmp_path, capsys):
    p = _write(
        tmp_path, "bad.prom", LMDEPLOY_METRICS.replace('model_name="test-model"} 2.5', 'model_name="test-model"} 2.7')
    )
    with pytest.raises(InputError, match=re.escape("engine '2' is 2.7")):
        read_acceptance(p)
    _one_line_exit_2(capsys, p)


# --- TensorRT-LLM /metrics: refused ---------------------------------------------------------------------------

# tensorrt_llm/metrics/collector.py: token counters and a gauge; no drafts.
TRTLLM_METRICS = """\
# HELP trtllm_spec_decode_num_draft_tokens_total Total number of draft tokens in speculative decoding
# TYPE trtllm_spec_decode_num_draft_tokens_total counter
trtllm_spec_decode_num_draft_tokens_total{engine_type="trtllm",model_name="llama"} 1800.0
# HELP trtllm_spec_decode_num_accepted_tokens_total Total number of accepted tokens in speculative decoding
# TYPE trtllm_spec_decode_num_accepted_tokens_total counter
trtllm_spec_decode_num_accepted_tokens_total{engine_type="trtllm",model_name="llama"} 1100.0
# HELP trtllm_spec_decode_acceptance_length Acceptance length in speculative decoding
# TYPE trtllm_spec_decode_acceptance_length gauge
trtllm_spec_decode_acceptance_length{engine_type="trtllm",model_name="llama"} 2.5
"""


def test_tensorrt_llm_metrics_are_refused_with_the_reason(tmp_path, capsys):
    p = _write(tmp_path, "trtllm.prom", TRTLLM_METRICS)
    assert detect(p, TRTLLM_METRICS) == "tensorrt-llm-metrics"
    with pytest.raises(InputError, match="not drafts") as info:
        read_acceptance(p)
    assert "gauge" in str(info.value)
    assert "tensorrt-llm" in str(info.value)  # what to read instead
    _one_line_exit_2(capsys, p)


# --- SGLang ---------------------------------------------------------------------------------------------------

# srt/metrics/collector.py (PR #25689): 10 finished requests, 400 completion tokens, 130 verify calls.
# accepted = 400 - 10 (prefill tokens) - 130 (one per verify call) = 260; X = 260 / 130 = 2.0. The gauge (3.4)
# is the last logging interval only and must not move X.
SGLANG_METRICS = """\
# HELP sglang:spec_verify_calls_total Number of speculative decoding verification calls.
# TYPE sglang:spec_verify_calls_total counter
sglang:spec_verify_calls_total{model_name="qwen"} 130.0
# HELP sglang:generation_tokens_total Number of generation tokens processed.
# TYPE sglang:generation_tokens_total counter
sglang:generation_tokens_total{model_name="qwen"} 400.0
# HELP sglang:num_requests_total Number of requests processed.
# TYPE sglang:num_requests_total counter
sglang:num_requests_total{model_name="qwen"} 10.0
# HELP sglang:spec_accept_length The average acceptance length of speculative decoding.
# TYPE sglang:spec_accept_length gauge
sglang:spec_accept_length{model_name="qwen"} 3.4
"""


def test_sglang_metrics(tmp_path):
    p = _write(tmp_path, "sglang.prom", SGLANG_METRICS)
    assert detect(p, SGLANG_METRICS) == "sglang-metrics"
    (m,) = read_acceptance(p)
    assert m.mean_accepted == pytest.approx(2.0)
    assert m.iterations == 130
    assert m.model == "qwen"
    assert "estimate" in m.notes[0]


def test_sglang_gauge_alone_is_refused(tmp_path, capsys):
    only_gauge = SGLANG_METRICS.split("# HELP sglang:generation_tokens_total")[0].replace("spec_verify_calls", "x")
    only_gauge += 'sglang:spec_accept_length{model_name="qwen"} 3.4\n'
    p = _write(tmp_path, "gauge.prom", only_gauge)
    with pytest.raises(InputError, match="gauge of the last logging interval"):
        read_acceptance(p, "sglang-metrics")
    bad = _write(tmp_path, "bad.prom", SGLANG_METRICS.replace("} 400.0", "} 100.0"))  # 100 < 10 + 130
    with pytest.raises(InputError, match="inconsistent"):
        read_acceptance(bad)
    _one_line_exit_2(capsys, bad)


def test_sglang_server_info(tmp_path, capsys):
    """avg_spec_accept_length counts the bonus token: 3.25 -> X = 2.25; 2.5 -> 1.5; no count behind either."""
    info = {"version": "0.5.30", "internal_states": [{"avg_spec_accept_length": 3.25, "last_gen_throughput": 80.0}]}
    p = _write(tmp_path, "server_info.json", json.dumps(info))
    assert detect(p, json.dumps(info)) == "sglang-server-info"
    (m,) = read_acceptance(p)
    assert m.mean_accepted == pytest.approx(2.25)
    assert math.isnan(m.iterations)
    assert m.se is None
    two = {"internal_states": [{"avg_spec_accept_length": 3.25}, {"avg_spec_accept_length": 2.5}]}
    a, b = read_acceptance(_write(tmp_path, "two.json", json.dumps(two)))
    assert (a.label, b.label) == ("DP rank 0", "DP rank 1")
    assert b.mean_accepted == pytest.approx(1.5)
    assert (
        main(["compare", "--dump", DUMP, "--measured", p, "--replicates", "4", "--pmax", "16", "--json", "--quiet"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["measured"][0]["iterations"] is None
    none = _write(tmp_path, "none.json", json.dumps({"internal_states": [{"avg_spec_accept_length": None}]}))
    with pytest.raises(InputError, match="is null"):
        read_acceptance(none)
    below = _write(tmp_path, "below.json", json.dumps({"internal_states": [{"avg_spec_accept_length": 0.5}]}))
    with pytest.raises(InputError, match="below 1"):
        read_acceptance(below)


# --- Ollama ---------------------------------------------------------------------------------------------------

# x/mlxrunner/speculate_stats.go through slog's text handler, one line per request.
# Requests: 210 accepted in 120 rounds (drafted 300), 40 in 80 (drafted 160). Rounds include those without a
# draft, so X >= (210 + 40) / (120 + 80) = 250 / 200 = 1.25; avg_accepted 210/120 = 1.75, 40/80 = 0.50.
OLLAMA = """\
time=2026-08-21T10:00:00.000-07:00 level=INFO source=server.go:512 msg="llama runner started in 2.01 seconds"
time=2026-08-21T10:00:09.100-07:00 level=INFO source=speculate_stats.go:62 msg="speculative decode stats" \
iterations=120 drafted=300 accepted=210 acceptance=0.70 avg_draft=2.50 max_draft=4 avg_accepted=1.75 \
depth_over_time="1.0/2 2.5/4 3.0/4"
time=2026-08-21T10:00:12.400-07:00 level=INFO source=speculate_stats.go:62 msg="speculative decode stats" \
iterations=80 drafted=160 accepted=40 acceptance=0.25 avg_draft=2.00 max_draft=4 avg_accepted=0.50 \
depth_over_time="2.0/4"
"""


def test_ollama_gives_a_labelled_lower_bound(tmp_path):
    p = _write(tmp_path, "ollama.log", OLLAMA)
    assert detect(p, OLLAMA) == "ollama-log"
    (m,) = read_acceptance(p)
    assert m.label == "lower bound"
    assert m.mean_accepted == pytest.approx(1.25)
    assert m.iterations == 200
    assert m.groups == 2
    assert "LOWER BOUND" in m.convention


def test_ollama_damaged_line_is_refused(tmp_path, capsys):
    p = _write(tmp_path, "bad.log", OLLAMA.replace("avg_accepted=1.75", "avg_accepted=1.90"))
    with pytest.raises(InputError, match=re.escape("avg_accepted=1.90 is not 1.75")):
        read_acceptance(p)
    _one_line_exit_2(capsys, p)
    q = _write(tmp_path, "more.log", OLLAMA.replace("accepted=210", "accepted=310").replace("0.70", "1.03"))
    with pytest.raises(InputError, match="exceeds drafted"):
        read_acceptance(q)


# --- ExLlamaV3 ------------------------------------------------------------------------------------------------

# exllamav3/generator/job.py: final results with new_tokens and the draft counts. Each forward pass emits its
# accepted tokens plus one: job 1 made 200 - 120 = 80 passes, job 2 100 - 40 = 60; X >= 160 / 140 = 1.142857.
EXL = [
    {"job": 0, "eos": True, "eos_reason": "stop_token", "new_tokens": 200, "accepted_draft_tokens": 120, "rejected_draft_tokens": 80},
    {"job": 1, "eos": True, "eos_reason": "max_new_tokens", "new_tokens": 100, "accepted_draft_tokens": 40, "rejected_draft_tokens": 60},
]  # fmt: skip


def test_exllamav3_lower_bound(tmp_path):
    text = "".join(json.dumps(r) + "\n" for r in EXL)
    p = _write(tmp_path, "results.jsonl", text)
    assert detect(p, text) == "exllamav3"
    (m,) = read_acceptance(p)
    assert m.label == "lower bound"
    assert m.mean_accepted == pytest.approx(160 / 140)
    assert m.iterations == 140
    assert "LOWER BOUND" in m.convention


def test_exllamav3_without_new_tokens_is_refused(tmp_path, capsys):
    no_steps = [{k: v for k, v in r.items() if k != "new_tokens"} for r in EXL]
    p = _write(tmp_path, "counts.jsonl", "".join(json.dumps(r) + "\n" for r in no_steps))
    with pytest.raises(InputError, match="cannot give X"):
        read_acceptance(p)
    _one_line_exit_2(capsys, p)
    bad = _write(tmp_path, "bad.jsonl", json.dumps({**EXL[0], "new_tokens": 120}) + "\n")
    with pytest.raises(InputError, match="must exceed"):
        read_acceptance(bad)


# --- specdec_bench speculation_profile.json ---------------------------------------------------------------------

# speculation_profile.py, K = 3. Steps by tokens per step: length 1: 20, 2: 30, 3: 25, 4: 25 (100 steps).
# X = (0*20 + 1*30 + 2*25 + 3*25) / 100 = 155 / 100 = 1.55, so mean_accept_length = 2.55.
# Marginals P(X >= 1..3) = 80/100, 50/100, 25/100: 1 + 0.8 + 0.5 + 0.25 = 2.55, as the profile's check requires.
PROFILE = {
    "schema_version": "1.0",
    "measured": True,
    "method": "eagle3",
    "target_model": "meta-llama/Llama-3.1-8B-Instruct",
    "num_speculative_tokens": 3,
    "verification_method": "longest_prefix",
    "conditional_accept_rates": [0.8, 0.625, 0.5],
    "marginal_accept_rates": [0.8, 0.5, 0.25],
    "mean_accept_length": 2.55,
    "mean_accept_length_per_request": 2.61,
    "accept_length_model": "chain_analytic",
    "accept_length_by_k": {"3": 2.55},
    "acceptance_length_histogram": {"1": 20, "2": 30, "3": 25, "4": 25},
    "per_category": None,
    "validation": {
        "mean_consistency": {"implied_mean_accept_length": 2.55, "reported_mean_accept_length": 2.55, "abs_delta": 0.0, "tolerance": 0.02, "passed": True},
        "marginal_monotonicity": {"passed": True, "violations": []},
    },
}  # fmt: skip


def test_speculation_profile(tmp_path):
    text = json.dumps(PROFILE, indent=2)
    p = _write(tmp_path, "speculation_profile.json", text)
    assert detect(p, text) == "specdec-bench-profile"
    (m,) = read_acceptance(p)
    assert m.mean_accepted == pytest.approx(1.55)
    assert m.P == 3
    assert m.iterations == 100
    assert m.label == "eagle3"
    assert m.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert m.distribution == pytest.approx([0.20, 0.30, 0.25, 0.25])
    assert m.se is not None


def test_speculation_profile_without_its_histogram(tmp_path):
    """The marginals give P(X = 0..3) = 1 - 0.8, 0.8 - 0.5, 0.5 - 0.25, 0.25; no step count, no interval."""
    text = json.dumps({k: v for k, v in PROFILE.items() if k != "acceptance_length_histogram"})
    (m,) = read_acceptance(_write(tmp_path, "p.json", text))
    assert m.mean_accepted == pytest.approx(1.55)
    assert m.distribution == pytest.approx([0.2, 0.3, 0.25, 0.25])
    assert math.isnan(m.iterations)
    assert m.se is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mean_accept_length": 2.60}, "1 \\+ sum\\(marginal_accept_rates\\) = 2.5500"),  # 2.55 vs 2.60: 0.05 > 0.02
        ({"marginal_accept_rates": [0.8, 0.5, 0.6], "mean_accept_length": 2.9}, "rise with the position"),
        ({"measured": False}, "placeholder"),
        ({"validation": {"marginal_monotonicity": {"passed": False}}}, "own validation failed"),
        ({"num_speculative_tokens": 4}, "3 marginal rates for num_speculative_tokens = 4"),
        ({"schema_version": "2.0"}, "is not 1.0"),
    ],
)
def test_speculation_profile_that_fails_its_own_checks(tmp_path, capsys, change, message):
    p = _write(tmp_path, "p.json", json.dumps({**PROFILE, **change}))
    with pytest.raises(InputError, match=message):
        read_acceptance(p)
    _one_line_exit_2(capsys, p)


# --- every new format through `compare --json`: the X worked out above arrives intact -------------------------

ROUND_TRIP = {
    "llama.cpp-metrics": ("metrics.prom", (DATA / "metrics.prom").read_text(), 47 / 83),  # see test_logs_llamacpp_2026
    "lmdeploy-log": ("lmdeploy.log", LMDEPLOY, 1230 / 800),
    "lmdeploy-metrics": ("lmdeploy.prom", LMDEPLOY_METRICS, 11 / 6),
    "sglang-metrics": ("sglang.prom", SGLANG_METRICS, 2.0),
    "sglang-server-info": ("info.json", json.dumps({"internal_states": [{"avg_spec_accept_length": 3.25}]}), 2.25),
    "ollama-log": ("ollama.log", OLLAMA, 1.25),
    "exllamav3": ("results.jsonl", "".join(json.dumps(r) + "\n" for r in EXL), 160 / 140),
    "specdec-bench-profile": ("speculation_profile.json", json.dumps(PROFILE), 1.55),
}


@pytest.mark.parametrize("fmt", list(ROUND_TRIP))
def test_compare_json_round_trip(tmp_path, capsys, fmt):
    name, text, x = ROUND_TRIP[fmt]
    p = _write(tmp_path, name, text)
    argv = ["compare", "--dump", DUMP, "--measured", p, "--replicates", "4", "--pmax", "16", "--json", "--quiet"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)["measured"][0]
    assert first["format"] == fmt
    assert first["mean_accepted"] == pytest.approx(x, rel=1e-9)
    assert first["tokens_per_call"] == pytest.approx(x + 1, rel=1e-9)


# --- bad input, format by format: one line naming the file, exit status 2 -------------------------------------

BAD = [
    ("info-null.json", json.dumps({"internal_states": [{"avg_spec_accept_length": None}]}), "is null"),
    ("info-below.json", json.dumps({"internal_states": [{"avg_spec_accept_length": 0.5}]}), "below 1"),
    ("ollama.log", OLLAMA.replace("drafted=160", "drafted=20").replace("0.25", "2.00"), "exceeds drafted"),
    ("ollama-nan.log", OLLAMA.replace("iterations=120", "iterations=nan"), "finite"),
    ("exl.jsonl", json.dumps({**EXL[0], "new_tokens": 120}) + "\n", "must exceed"),
    ("exl-neg.jsonl", json.dumps({**EXL[0], "accepted_draft_tokens": -3}) + "\n", "negative"),
    ("lmdeploy.log", LMDEPLOY.replace("Accepted: 930 tokens", "Accepted: 1930 tokens"), "only 1500 drafted"),
    ("lmdeploy.prom", LMDEPLOY_METRICS.replace('position="1"} 3.0', 'position="1"} 7.0'), "rise with the position"),
    ("sglang.prom", SGLANG_METRICS.replace("num_requests_total", "num_reqs"), "num_requests_total is missing"),
    # steps that accepted 4 > K: X = (30 + 50 + 72 + 4) / 100 = 1.56, within 0.02 of the marginals' 1.55, so the
    # profile's own check passes; the histogram still shows a vector cut short
    (
        "profile.json",
        json.dumps({**PROFILE, "mean_accept_length": 2.56, "acceptance_length_histogram": {"1": 20, "2": 30, "3": 25, "4": 24, "5": 1}}),
        "accepted more than K = 3",
    ),
    (
        "llama.log",
        "slot print_timing: id  0 | task 3 | draft acceptance = 0.00250 (    1 accepted /   400 generated), mean len =  1.00\n",
        "at least 200 drafts",
    ),
    (
        "llama2.log",
        "slot print_timing: id  0 | task 3 | draft acceptance = 0.15000 (   12 accepted /    80 generated), mean len =  0.60\n",
        "below 1",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line(tmp_path, capsys, name, text, words):
    p = _write(tmp_path, name, text)
    err = _one_line_exit_2(capsys, p)
    assert name in err
    assert words in err
