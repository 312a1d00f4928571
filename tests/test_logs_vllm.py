"""vLLM's printouts, written here from the documented formats (vllm/v1/spec_decode/metrics.py, vllm/engine/metrics.py,
examples/offline_inference/spec_decode.py), with X worked out by hand in the comments."""

from __future__ import annotations

import json

import pytest

from speedoflight.cli.app import main
from speedoflight.errors import InputError
from speedoflight.logs.acceptance import detect, read_acceptance

# V1, the current format (PR #24127), logged by the API server process of each of two servers, between the
# engine's throughput lines, one with ANSI colours as on a terminal.
# pid=1: k = 3 rates; drafts = 1500 / 3 = 500; X = 930 / 500 = 1.86 (mean length 2.86; rates sum to 1.86).
# pid=2: drafts = 900 / 3 = 300; X = 300 / 300 = 1.00 (mean length 2.00).
# Pooled by summing counts: X = (930 + 300) / (500 + 300) = 1.5375 (averaging the lengths would give 1.43).
V1_TWO_SERVERS = """\
(APIServer pid=1) INFO 05-01 14:24:40 [loggers.py:123] Engine 000: Avg prompt throughput: 12.0 tokens/s, \
Avg generation throughput: 93.0 tokens/s, Running: 1 reqs, Waiting: 0 reqs, GPU KV cache usage: 1.2%, \
Prefix cache hit rate: 0.0%
(APIServer pid=1) INFO 05-01 14:24:40 [metrics.py:101] SpecDecoding metrics: Mean acceptance length: 2.86, \
Accepted throughput: 93.00 tokens/s, Drafted throughput: 150.00 tokens/s, Accepted: 930 tokens, Drafted: 1500 \
tokens, Per-position acceptance rate: 0.800, 0.620, 0.440, Avg Draft acceptance rate: 62.0%
(APIServer pid=2) INFO 05-01 14:24:41 [launcher.py:46] Route: /v1/completions, Methods: POST
\x1b[36m(APIServer pid=2)\x1b[0m INFO 05-01 14:24:41 [metrics.py:101] SpecDecoding metrics: Mean acceptance \
length: 2.00, Accepted throughput: 30.00 tokens/s, Drafted throughput: 90.00 tokens/s, Accepted: 300 tokens, \
Drafted: 900 tokens, Per-position acceptance rate: 0.500, 0.300, 0.200, Avg Draft acceptance rate: 33.3%
"""

# V1 with a dynamic depth (2026 builds print "Current speculative depth"): 7 rates, drafts = 308 / 7 = 44,
# X = 256 / 44 = 5.8182 (mean length 6.82; the rates sum to 5.818).
V1_DEPTH = (
    "(APIServer pid=1) INFO 09-04 11:01:16 [metrics.py:125] SpecDecoding metrics: Mean acceptance length: 6.82, "
    "Current speculative depth: 7, Accepted throughput: 6.46 tokens/s, Drafted throughput: 7.77 tokens/s, "
    "Accepted: 256 tokens, Drafted: 308 tokens, Per-position acceptance rate: 1.000, 1.000, 1.000, 1.000, 0.795, "
    "0.614, 0.409, Avg Draft acceptance rate: 83.1%\n"
)

# V0, cumulative since the engine started (k = 3). Line 1: drafts = 13311 / 3 = 4437, emitted 10616.
# Line 2 (cumulative): draft 26622, emitted 21000, so the second interval has 4437 drafts and 10384 emitted.
# X over both = (21000 - 8874) / 8874 = 1.366464 (emitted per draft minus the one token every call emits).
# The earliest releases spelled "Number of draft tokens tokens": line 2 uses that spelling.
V0 = """\
INFO 10-16 19:05:47 metrics.py:367] Avg prompt throughput: 0.0 tokens/s, Avg generation throughput: 55.1 tokens/s
INFO 10-16 19:05:47 metrics.py:367] Speculative metrics: Draft acceptance rate: 0.642, System efficiency: 0.598, \
Number of speculative tokens: 3, Number of accepted tokens: 8547, Number of draft tokens: 13311, Number of emitted \
tokens: 10616.
INFO 10-16 19:05:52 metrics.py:367] Speculative metrics: Draft acceptance rate: 0.640, System efficiency: 0.592, \
Number of speculative tokens: 3, Number of accepted tokens: 17000, Number of draft tokens tokens: 26622, Number of \
emitted tokens tokens: 21000.
"""

# examples/offline_inference/spec_decode.py (current form): X = 12904 / 7125 = 1.811088 (mean length 2.81),
# k = 3; P(X > 0), P(X > 1), P(X > 2) = 0.78, 0.59, 0.44 (they sum to 1.81).
OFFLINE = """\
--------------------------------------------------
total_num_output_tokens: 20480
num_drafts: 7125
num_draft_tokens: 21375
num_accepted_tokens: 12904
mean acceptance length: 2.81
--------------------------------------------------
acceptance at token 0: 0.78
acceptance at token 1: 0.59
acceptance at token 2: 0.44
"""


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_v1_engines_are_pooled_by_counts_and_reported_each(tmp_path):
    path = _write(tmp_path, "serve.log", V1_TWO_SERVERS)
    assert detect(path, V1_TWO_SERVERS) == "vllm-log"
    pooled, *each = read_acceptance(path)
    assert pooled.label == ""
    assert pooled.mean_accepted == pytest.approx(1230 / 800, rel=1e-12)
    assert pooled.iterations == pytest.approx(800)
    assert pooled.P == 3
    got = {m.label: m.mean_accepted for m in each}
    assert got == {"APIServer pid=1 engine 0": pytest.approx(1.86), "APIServer pid=2": pytest.approx(1.0)}


def test_v1_with_a_current_speculative_depth(tmp_path):
    (m,) = read_acceptance(_write(tmp_path, "depth.log", V1_DEPTH))
    assert m.P == 7
    assert m.iterations == pytest.approx(44)
    assert m.mean_accepted == pytest.approx(256 / 44, rel=1e-12)


def test_v0_cumulative_lines_give_interval_differences(tmp_path):
    path = _write(tmp_path, "v0.log", V0)
    assert detect(path, V0) == "vllm-v0-log"
    (m,) = read_acceptance(path)
    assert m.format == "vllm-v0-log"
    assert m.P == 3
    assert m.iterations == pytest.approx(8874)
    assert m.mean_accepted == pytest.approx(21000 / 8874 - 1, rel=1e-12)
    assert "emitted" in m.convention


def test_v0_restart_and_inconsistent_counters(tmp_path):
    restart = V0 + V0.splitlines()[1] + "\n"  # the counters fall back to the first line's: a new run
    ms = read_acceptance(_write(tmp_path, "r.log", restart))
    assert ms[0].iterations == pytest.approx(8874 + 4437)
    assert any("restart" in n for n in ms[0].notes)
    bad = V0.replace("Number of emitted tokens: 10616", "Number of emitted tokens: 99999")
    with pytest.raises(InputError, match="emits"):
        read_acceptance(_write(tmp_path, "bad.log", bad))


def test_the_offline_example_printout(tmp_path):
    path = _write(tmp_path, "out.txt", OFFLINE)
    assert detect(path, OFFLINE) == "vllm-offline"
    (m,) = read_acceptance(path)
    assert m.mean_accepted == pytest.approx(12904 / 7125, rel=1e-12)
    assert m.P == 3
    assert m.mean_draft_size == pytest.approx(3.0)
    assert m.distribution is not None
    assert m.distribution.tolist() == pytest.approx([0.22, 0.19, 0.15, 0.44], abs=1e-9)  # P(X = 0..3)
    old = OFFLINE.replace("acceptance at token 0: ", "acceptance at token 0:")  # the older form: no space
    assert read_acceptance(_write(tmp_path, "old.txt", old))[0].mean_accepted == pytest.approx(m.mean_accepted)


def test_a_damaged_offline_printout_is_refused(tmp_path):
    with pytest.raises(InputError, match="not 1 \\+"):
        read_acceptance(
            _write(tmp_path, "x.txt", OFFLINE.replace("mean acceptance length: 2.81", "mean acceptance length: 3.50"))
        )


@pytest.mark.e2e
def test_compare_json_round_trip(tmp_path, capsys):
    """Each format reaches compare with its X and P."""
    dump = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "smollm2-t1.npz")
    for text, x in ((V0, 21000 / 8874 - 1), (OFFLINE, 12904 / 7125), (V1_DEPTH, 256 / 44)):
        path = _write(tmp_path, "m.log", text)
        assert main(["compare", "--dump", dump, "--measured", path, "--replicates", "4", "--json", "--quiet"]) == 0
        d = json.loads(capsys.readouterr().out)
        assert d["measured"][0]["mean_accepted"] == pytest.approx(x, rel=1e-9)


# Per-request metrics (--per-request-spec-decode-metrics summary, vLLM 0.29+), two responses:
#   k = 3, histogram [39, 1, 0, 3]: 43 steps, 1 + 9 = 10 accepted (mean length 1 + 10/43 = 1.2326)
#   k = 3, histogram [2, 3, 2, 10]: 17 steps, 3 + 4 + 30 = 37 accepted
# X = (10 + 37) / (43 + 17) = 47 / 60; pooled P(X = 0) = 41 / 60.
# A development build's shape (each choice's speculative_decoding_stats, sparse histogram) reads the same.
def _per_request(hist, k=3, sparse=False):
    h = {str(j): c for j, c in enumerate(hist) if c} if sparse else hist
    steps = sum(hist)
    acc = sum(j * c for j, c in enumerate(hist))
    sd = {"mean_acceptance_length": 1 + acc / steps, "draft_acceptance_rate": acc / (k * steps),
          "acceptance_histogram": h, "num_spec_steps": steps, "num_accepted_draft_tokens": acc,
          "num_draft_tokens": k * steps, "num_spec_tokens": k}  # fmt: skip
    if sparse:
        return {"choices": [{"index": 0, "text": "...", "speculative_decoding_stats": sd}]}
    return {"choices": [{"index": 0, "text": "..."}], "usage": {}, "metrics": {"speculative_decoding": sd}}


@pytest.mark.parametrize("sparse", [False, True], ids=["metrics.speculative_decoding", "choice stats, sparse"])
def test_per_request_metrics(tmp_path, sparse):
    rows = [_per_request([39, 1, 0, 3], sparse=sparse), _per_request([2, 3, 2, 10], sparse=sparse)]
    p = tmp_path / "responses.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert detect(str(p), p.read_text()) == "vllm-per-request"
    (m,) = read_acceptance(str(p))
    assert m.mean_accepted == pytest.approx(47 / 60, rel=1e-12)
    assert m.P == 3
    assert m.groups == 2
    assert m.distribution is not None
    assert m.distribution[0] == pytest.approx(41 / 60)


def test_per_request_metrics_that_contradict_their_histogram(tmp_path):
    r = _per_request([39, 1, 0, 3])
    r["metrics"]["speculative_decoding"]["num_accepted_draft_tokens"] = 11
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps(r) + "\n")
    with pytest.raises(InputError, match="histogram"):
        read_acceptance(str(p))


# vllm bench serve, two runs in one file (values left-aligned with trailing spaces, as printed):
#   run 1 (copied from a user log, k = 3): 149023 / 60305 = 2.47116 (length 3.47); per-position 91.94, 81.80, 73.37 %
#   run 2: 1000 / 1000 = 1.0 (length 2.00), no per-position lines
BENCH = (
    "============ Serving Benchmark Result ============\n"
    "Successful requests:                     100       \n"
    "---------------Speculative Decoding---------------\n"
    "Acceptance rate (%):                     82.37     \n"
    "Acceptance length:                       3.47      \n"
    "Drafts:                                  60305     \n"
    "Draft tokens:                            180915    \n"
    "Accepted tokens:                         149023    \n"
    "Per-position acceptance (%):\n"
    "  Position 0:                            91.94     \n"
    "  Position 1:                            81.80     \n"
    "  Position 2:                            73.37     \n"
    "==================================================\n"
    "---------------Speculative Decoding---------------\n"
    "Acceptance rate (%):                     33.33     \n"
    "Acceptance length:                       2.00      \n"
    "Drafts:                                  1000      \n"
    "Draft tokens:                            3000      \n"
    "Accepted tokens:                         1000      \n"
    "==================================================\n"
)


def test_bench_serve_sections(tmp_path):
    p = tmp_path / "bench.txt"
    p.write_text(BENCH)
    assert detect(str(p), BENCH) == "vllm-bench"
    first, second = read_acceptance(str(p))
    assert (first.label, second.label) == ("run 1", "run 2")
    assert first.mean_accepted == pytest.approx(149023 / 60305, rel=1e-12)
    assert first.P == 3
    assert first.mean_draft_size == pytest.approx(3.0)
    assert first.distribution is not None
    assert first.distribution[0] == pytest.approx(1 - 0.9194)
    assert second.mean_accepted == pytest.approx(1.0)


# V1 as first changed by PR #15902 (v0.8.3-0.8.4): no mean acceptance length, no per-position rates. With
# --num-speculative-tokens 3: drafts = 240 / 3 = 80, X = 150 / 80 = 1.875.
V1_B = "INFO 04-02 10:00:00 [loggers.py:81] SpecDecoding metrics: Draft acceptance rate: 62.5%, Accepted: 150 tokens, Drafted: 240 tokens\n"


@pytest.mark.e2e
def test_lines_without_a_mean_length_need_k(tmp_path, capsys):
    p = tmp_path / "old.log"
    p.write_text(V1_B)
    with pytest.raises(InputError, match="num_speculative_tokens"):
        read_acceptance(str(p))
    (m,) = read_acceptance(str(p), num_speculative_tokens=3)
    assert m.mean_accepted == pytest.approx(1.875)
    assert m.P == 3
    with pytest.raises(InputError, match="not a multiple"):
        read_acceptance(str(p), num_speculative_tokens=7)
    dump = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "smollm2-t1.npz")
    argv = ["compare", "--dump", dump, "--measured", str(p), "--replicates", "4", "--json", "--quiet"]
    assert main([*argv, "--num-speculative-tokens", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["measured"][0]["mean_accepted"] == pytest.approx(1.875)
    assert main(argv) == 2
    assert "--num-speculative-tokens" in capsys.readouterr().err


def test_bench_serve_saved_result_json(tmp_path):
    """--save-result JSON of run 1 above: the same counts as the printed section, rates as fractions."""
    result = {"backend": "vllm", "completed": 100, "spec_decode_acceptance_rate": 82.37,
              "spec_decode_acceptance_length": 1 + 149023 / 60305, "spec_decode_num_drafts": 60305,
              "spec_decode_draft_tokens": 180915, "spec_decode_accepted_tokens": 149023,
              "spec_decode_per_position_acceptance_rates": [0.9194, 0.8180, 0.7337]}  # fmt: skip
    p = tmp_path / "result.json"
    p.write_text(json.dumps(result))
    assert detect(str(p), p.read_text()) == "vllm-bench-json"
    (m,) = read_acceptance(str(p))
    assert m.format == "vllm-bench-json"
    assert m.mean_accepted == pytest.approx(149023 / 60305, rel=1e-12)
    assert m.P == 3


def test_two_runs_of_the_offline_printout_are_two_entries(tmp_path):
    """Two runs of spec_decode.py appended to one file: each run is read (the second alone was before)."""
    second = OFFLINE.replace("7125", "1000").replace("21375", "3000").replace("12904", "1500")
    second = second.replace("2.81", "2.50").replace("0.78", "0.70").replace("0.59", "0.50").replace("0.44", "0.30")
    path = _write(tmp_path, "two.txt", OFFLINE + second)
    got = read_acceptance(path)
    assert [m.label for m in got] == ["run 1", "run 2"]
    assert got[0].mean_accepted == pytest.approx(12904 / 7125)  # 1.811
    assert got[1].mean_accepted == pytest.approx(1500 / 1000)  # 1.5 = 0.70 + 0.50 + 0.30
    assert got[1].iterations == 1000
