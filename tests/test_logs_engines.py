"""TensorRT-LLM iteration stats and AIPerf records, written from their documented JSON, X by hand."""

from __future__ import annotations

import json

import pytest

from speedoflight.errors import InputError
from speedoflight.logs.acceptance import detect, read_acceptance


def _trt(accepted, drafted, requests):
    """One IterationStats object as nlohmann::json writes it (keys sorted), with its specDecodingStats."""
    stats = None
    if requests is not None:
        stats = {
            "acceptanceLength": 1 + accepted / requests if requests else 0.0,
            "draftOverhead": 0.0,
            "iterLatencyMS": 0.0,
            "numAcceptedTokens": accepted,
            "numDraftTokens": drafted,
            "numRequestsWithDraftTokens": requests,
        }
    return {
        "cpuMemUsage": 0,
        "gpuMemUsage": 84512342016,
        "iter": 1523,
        "iterLatencyMS": 11.8,
        "specDecodingStats": stats,
    }


def test_tensorrt_llm_sums_counts_over_iterations(tmp_path):
    """Iterations (accepted, drafted, requests): (7, 12, 4), (2, 6, 2), (0, 0, 0: no drafts), context-only (null).
    X = (7 + 2) / (4 + 2) = 1.5; drafts of 18 / 6 = 3 tokens."""
    rows = [_trt(7, 12, 4), _trt(2, 6, 2), _trt(0, 0, 0), _trt(0, 0, None)]
    p = tmp_path / "iter_stats.json"
    p.write_text(json.dumps(rows))
    assert detect(str(p), p.read_text()) == "tensorrt-llm"
    (m,) = read_acceptance(str(p))
    assert m.mean_accepted == pytest.approx(1.5)
    assert m.iterations == 6
    assert m.mean_draft_size == pytest.approx(3.0)


def test_tensorrt_llm_inconsistent_records_are_refused(tmp_path):
    bad = _trt(7, 12, 4)
    bad["specDecodingStats"]["acceptanceLength"] = 3.5
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps(bad) + "\n")
    with pytest.raises(InputError, match="acceptanceLength"):
        read_acceptance(str(p))
    worse = _trt(13, 12, 4)
    p.write_text(json.dumps(worse) + "\n")
    with pytest.raises(InputError, match="drafted"):
        read_acceptance(str(p))


def _aiperf(accepted, steps, drafted, hist=None):
    rec = {
        "metadata": {"session_num": 12, "x_request_id": "7609a2e7", "benchmark_phase": "profiling"},
        "metrics": {
            "output_sequence_length": {"value": 409, "unit": "tokens"},
            "spec_decode_acceptance_length": {"value": 1 + accepted / steps, "unit": "ratio"},
            "spec_decode_steps": {"value": steps, "unit": "count"},
            "spec_decode_accepted_draft_tokens": {"value": accepted, "unit": "tokens"},
            "spec_decode_draft_tokens": {"value": drafted, "unit": "tokens"},
        },
    }
    if hist is not None:
        rec["spec_decode_acceptance"] = {"engine": "vllm", "acceptance_histogram": hist, "num_spec_steps": steps}
    return rec


def test_aiperf_records(tmp_path):
    """Two requests: 281 accepted in 128 steps (histogram 33, 22, 19, 17, 15, 22 steps with X = 0..5: sum j h_j =
    22 + 38 + 51 + 60 + 110 = 281) and 100 in 72 steps (20, 20, 16, 16: 20 + 32 + 48 = 100). X = 381 / 200."""
    rows = [
        _aiperf(281, 128, 640, {"0": 33, "1": 22, "2": 19, "3": 17, "4": 15, "5": 22}),
        _aiperf(100, 72, 360, {"0": 20, "1": 20, "2": 16, "3": 16}),
    ]
    p = tmp_path / "profile_export.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert detect(str(p), p.read_text()) == "aiperf"
    (m,) = read_acceptance(str(p))
    assert m.mean_accepted == pytest.approx(381 / 200, rel=1e-12)
    assert m.groups == 2
    assert m.distribution is not None
    assert m.distribution[0] == pytest.approx((33 + 20) / 200)
    assert m.mean_draft_size == pytest.approx(1000 / 200)


def test_an_aiperf_histogram_that_contradicts_its_counts_is_refused(tmp_path):
    p = tmp_path / "profile_export.jsonl"
    p.write_text(json.dumps(_aiperf(100, 72, 360, {"0": 30, "1": 22, "2": 12, "3": 8})) + "\n")  # sums to 70
    with pytest.raises(InputError, match="histogram"):
        read_acceptance(str(p))
