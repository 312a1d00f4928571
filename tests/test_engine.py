"""The serving-engine harness (tests/engine.py) against llama.cpp's real server: it starts, answers, logs and
stops; the truncated GGUF loads and drafts; the three kinds of speculation print what the project reads.

Each test is bounded in time: the start by ``serve(timeout=...)``, each request by its HTTP timeout, and the
generations are a few dozen tokens of a 135M model."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from urllib.parse import urlparse

import numpy as np
import pytest

from .engine import EngineError, _check_spec, serve

pytest.importorskip("xllamacpp", reason="needs the xllamacpp wheel (llama.cpp's server)")
pytestmark = pytest.mark.engine

# untruncated sampling: the server's defaults are top_k 40, top_p 0.95, min_p 0.05
FULL = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0}
COUNTING = "Count: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,"


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def refused(url: str) -> bool:
    parsed = urlparse(url)
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((parsed.hostname, parsed.port)) != 0


def spec_counters(engine) -> tuple[float, float, float, list[float]]:
    """(drafts, draft tokens, accepted tokens, accepted per position) from /metrics."""
    m = engine.metrics()
    per_pos = sorted(
        (int(re.search(r'position="(\d+)"', k).group(1)), v)
        for k, v in m.items()
        if k.startswith("llamacpp:spec_decode_num_accepted_tokens_per_pos_total{")
    )
    return (
        m["llamacpp:spec_decode_num_drafts_total"],
        m["llamacpp:spec_decode_num_draft_tokens_total"],
        m["llamacpp:spec_decode_num_accepted_tokens_total"],
        [v for _, v in per_pos],
    )


def test_serves_completions_with_top_logprobs(engine):
    models = engine.post(
        "/v1/completions", {"prompt": "The capital of France is", "max_tokens": 6, "logprobs": 5, "seed": 3, **FULL}
    )
    content = models["choices"][0]["logprobs"]["content"]
    assert len(content) == 6
    for entry in content:
        assert {"id", "token", "bytes", "logprob", "top_logprobs"} <= set(entry)
        assert len(entry["top_logprobs"]) == 5  # no speculation: every token has its top-K
        assert entry["logprob"] <= 0
    assert models["timings"]["predicted_n"] == 6
    assert "draft_n" not in models["timings"]
    meta = engine.get("/v1/models")
    assert '"n_vocab":49152' in meta
    assert "top_k" in engine.get("/props")


def test_logs_and_metrics(engine):
    engine.post("/v1/completions", {"prompt": "Hello", "max_tokens": 3, **FULL})
    engine.wait_log(r"print_timing: id +0 \| task \d+ \|        eval time =")
    assert "listening on http://127.0.0.1:" in engine.log_text()
    metrics = engine.metrics_text()
    assert "llamacpp:spec_decode_num_drafts_total 0" in metrics  # present even without speculation
    assert engine.metrics()["llamacpp:tokens_predicted_total"] >= 3


def test_same_seed_same_text(engine):
    body = {"prompt": "Once upon a time", "max_tokens": 8, "seed": 11, **FULL}
    first = engine.post("/v1/completions", body)["choices"][0]["text"]
    assert engine.post("/v1/completions", body)["choices"][0]["text"] == first


def test_stops_and_leaves_nothing_running(smollm2, tmp_path):
    log = tmp_path / "engine.log"
    with serve(smollm2, log_path=log, timeout=120) as running:
        assert running.url.startswith("http://127.0.0.1:")
        assert running.get("/health").startswith("{")
        pid, url = running.pid, running.url
        assert not gone(pid)
    assert gone(pid)
    assert refused(url)
    assert log.is_file()  # a given log is kept
    assert "main loop exited" in running.log_text()  # the SIGTERM was a clean shutdown


def test_a_temporary_log_is_removed_but_readable(smollm2):
    with serve(smollm2, timeout=120) as running:
        path = running.log_path
        assert path.is_file()
    assert not path.exists()
    assert "model loaded" in running.log_text()


def test_an_engine_that_cannot_start_is_one_error(tmp_path):
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"GGUF but not really" * 10)
    t0 = time.monotonic()
    with pytest.raises(EngineError, match="exited") as info:
        with serve(bad, timeout=60):
            pass
    assert time.monotonic() - t0 < 60
    assert "failed to load model" in str(info.value)


def test_spec_dicts_are_checked_before_any_start():
    with pytest.raises(ValueError, match="spec type"):
        _check_spec({"type": "eagle"})
    with pytest.raises(ValueError, match="unknown keys"):
        _check_spec({"type": "ngram-simple", "n_max": 4, "p_min": 0.5})
    with pytest.raises(ValueError, match="draft_gguf"):
        _check_spec({"type": "draft", "n_max": 4})
    with pytest.raises(ValueError, match="exactly one"):
        _check_spec({"type": "synthetic"})
    assert _check_spec({"type": "synthetic", "rates": [1, 0.5]})["n_max"] == 2


def test_truncated_gguf(smollm2, draft24, start_engine):
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(draft24)
    assert reader.get_field("llama.block_count").contents() == 24
    names = {t.name for t in reader.tensors}
    assert "blk.23.ffn_down.weight" in names
    assert "blk.24.ffn_down.weight" not in names
    assert {"token_embd.weight", "output_norm.weight"} <= names
    assert len(names) == 272 - 6 * 9  # 9 tensors a block
    # the kept tensors and the metadata are the source's, byte for byte; only the block count differs
    source = gguf.GGUFReader(smollm2)
    by_name = {t.name: t for t in source.tensors}
    for t in reader.tensors:
        assert t.tensor_type == by_name[t.name].tensor_type
        assert np.array_equal(t.data, by_name[t.name].data), t.name
    fields = {f.name: f.contents() for f in reader.fields.values() if not f.name.startswith("GGUF.")}
    assert fields == {f.name: f.contents() for f in source.fields.values() if not f.name.startswith("GGUF.")} | {
        "llama.block_count": 24
    }
    # llama.cpp loads it and serves it
    alone = start_engine(draft24)
    assert re.search(r"print_info: n_layer += 24\n", alone.log_text())
    text = alone.post("/v1/completions", {"prompt": "The capital of France is", "max_tokens": 4, **FULL})
    assert text["usage"]["completion_tokens"] == 4


def test_truncated_gguf_rejects_bad_counts(smollm2, tmp_path):
    from .engine import truncated_gguf

    with pytest.raises(ValueError, match=r"n_layers must be within \[1, 30\], got 31"):
        truncated_gguf(smollm2, tmp_path / "x.gguf", 31)
    assert not (tmp_path / "x.gguf").exists()


def test_draft_simple_with_the_24_layer_drafter(smollm2, draft24, start_engine):
    spec = {"type": "draft", "draft_gguf": draft24, "n_max": 4, "p_min": 0.0}
    running = start_engine(smollm2, spec=spec)
    answer = running.post(
        "/v1/completions", {"prompt": "The capital of France is", "max_tokens": 24, "seed": 5, **FULL}
    )
    timings = answer["timings"]
    assert timings["predicted_n"] == 24
    assert timings["draft_n"] > 0
    assert 0 <= timings["draft_n_accepted"] < timings["draft_n"]
    drafts, drafted, accepted, per_pos = spec_counters(running)
    assert (drafted, accepted) == (timings["draft_n"], timings["draft_n_accepted"])
    assert len(per_pos) == 4
    assert sum(per_pos) == accepted
    # p_min 0: a draft is n_max long except where the request's end caps it (the last token is never drafted)
    assert 4 * drafts - 6 <= drafted <= 4 * drafts
    # every position is accepted less than once per draft, and never more often than the one before it
    assert all(a / drafts < 1 for a in per_pos)
    assert per_pos == sorted(per_pos, reverse=True)
    running.wait_log(r"statistics +draft-simple: #calls\(b,g,a\) = ")
    log = running.log_text()
    assert "loading draft model" in log
    assert re.findall(r"print_info: n_layer += (\d+)\n", log) == ["30", "24"]  # the target, then the drafter
    assert re.search(r"draft acceptance = [0-9.]+ \( *\d+ accepted / *\d+ generated\), mean len = ", log)
    assert re.search(r"acc per pos = \([0-9., ]+\)", log)


def test_ngram_simple_drafts_from_the_history(smollm2, start_engine):
    spec = {"type": "ngram-simple", "n_max": 4, "size_n": 2}
    running = start_engine(smollm2, spec=spec)
    answer = running.post("/v1/completions", {"prompt": COUNTING, "max_tokens": 16, "temperature": 0, "logprobs": 2})
    timings = answer["timings"]
    assert timings["draft_n"] > 0
    assert timings["draft_n_accepted"] > 0
    # a token emitted by a verification call has no distribution: logprob 0 and no top_logprobs
    content = answer["choices"][0]["logprobs"]["content"]
    bare = [e for e in content if not e["top_logprobs"]]
    assert bare
    assert all(e["logprob"] == 0.0 for e in bare)
    assert content[0]["top_logprobs"]  # the first token follows the prompt, never a draft
    running.wait_log("draft acceptance = ")


def test_synthetic_rates_are_marginal(smollm2, draft1, start_engine):
    # rates [1, .5, .5, 0] read as marginal P(accepted >= i) mean conditional [1, .5, 1, 0]: a full draft
    # accepts 1 or 3 tokens, never 2 or 4. Read as conditional they would give 1, 2 and 3.
    spec = {"type": "synthetic", "rates": [1.0, 0.5, 0.5, 0.0], "draft_gguf": draft1}
    running = start_engine(smollm2, spec=spec, verbosity=5)
    running.post("/v1/completions", {"prompt": "Write a long story.", "max_tokens": 64, "seed": 2, **FULL})
    log = running.wait_log(r"print_timing: .*acc per pos").string
    assert "synthetic acceptance: n_max = 4, mean length = 3.000000, rates = [1, 0.5, 0.5, 0]" in log
    full = [int(k) for k, n in re.findall(r"accepted (\d+)/ ?(\d+) draft tokens", log) if n == "4"]
    assert len(full) >= 8
    assert full.count(1) > 0
    assert full.count(3) > 0
    assert full.count(2) == 0
    assert full.count(4) == 0


def test_synthetic_rates_are_checked_by_the_engine(smollm2):
    with pytest.raises(EngineError, match="exited") as info:
        with serve(smollm2, spec={"type": "synthetic", "rates": [0.5, 0.9]}, timeout=120):
            pass
    assert "synthetic acceptance rates must be monotonically non-increasing" in str(info.value)


def test_two_slots_serve_two_requests_at_once(smollm2, start_engine):
    running = start_engine(smollm2, n_parallel=2)
    answers = [None, None]

    def ask(i):
        answers[i] = running.post("/v1/completions", {"prompt": f"Story {i}:", "max_tokens": 8, "seed": i, **FULL})

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert all(a and a["usage"]["completion_tokens"] == 8 for a in answers)
    running.wait_log(r"id +1 \| task \d+ \| +eval time =")
    assert "n_slots = 2" in running.log_text()


def test_the_project_reads_the_engines_timings(smollm2, draft24, start_engine, tmp_path):
    from speedoflight.logs.acceptance import read_acceptance

    running = start_engine(smollm2, spec={"type": "draft", "draft_gguf": draft24, "n_max": 4})
    answer = running.post(
        "/v1/completions", {"prompt": "The capital of France is", "max_tokens": 16, "seed": 4, **FULL}
    )
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(answer))
    (measured,) = read_acceptance(path)
    assert measured.format == "llama.cpp-timings"
    t = answer["timings"]
    assert measured.mean_accepted == pytest.approx(t["draft_n_accepted"] / (t["predicted_n"] - t["draft_n_accepted"]))
