"""The product against a real engine: llama.cpp's server (the xllamacpp wheel) serving the shipped SmolLM2 GGUF.

* ``collect`` from the engine gives a ceiling that agrees with the exact optimum of the same prompts (the shipped
  oracle, from transformers' load of the same GGUF: the gap is the dequantisation) within its interval.
* Real drafters (n-gram lookup, and the first 24 of SmolLM2's 30 layers as a draft model): X read from the engine's
  own log and ``/metrics`` equals the engine's counters, and lies under the ceiling at the engine's P.
* ``watch`` against the live engine, and the README's three commands as written.

Each test is bounded: every start by ``serve(timeout=...)``, every request by its HTTP timeout, and the work is a
few hundred tokens of a 135M model on one thread.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from speedoflight.formats.oracle import load_oracle
from speedoflight.logs.acceptance import read_acceptance
from speedoflight.options import RunOptions
from speedoflight.readers import open_source
from speedoflight.simulation.grafted import optimum

from .helpers import run

pytest.importorskip("xllamacpp", reason="needs the xllamacpp wheel (llama.cpp's server)")
pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[1]
#: Rows of data/prompts.jsonl that the shipped oracle covers: three prose, three code.
PROMPT_ROWS = (0, 1, 2, 120, 121, 122)
#: Untruncated sampling for the speculative runs (the server's defaults are top_k 40, top_p 0.95, min_p 0.05).
FULL = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0}
#: The engine's P: draft tokens per verifier call of the chain drafters.
N_MAX = 4


def spec_counters(text: str) -> tuple[float, float]:
    """(drafts, accepted tokens) from llama.cpp's /metrics text, parsed here independently of the product."""
    values = {}
    for line in text.splitlines():
        if line.startswith("llamacpp:spec_decode_num_") and "{" not in line:
            name, value = line.split()
            values[name] = float(value)
    return values["llamacpp:spec_decode_num_drafts_total"], values["llamacpp:spec_decode_num_accepted_tokens_total"]


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    rows = (ROOT / "data" / "prompts.jsonl").read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("prompts") / "prompts.jsonl"
    path.write_text("\n".join(rows[i] for i in PROMPT_ROWS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def collected(engine, prompts, tmp_path_factory) -> str:
    """4 continuations of 32 tokens per prompt with top-20, from the plain engine, through the CLI."""
    out = tmp_path_factory.mktemp("collect") / "verifier.jsonl"
    argv = ["collect", "--url", engine.url, "--prompts", str(prompts), "--out", str(out)]
    argv += ["-n", "4", "--max-tokens", "32", "--top-logprobs", "20", "--concurrency", "1", "--quiet", "--json"]
    from speedoflight.cli.app import main

    assert main(argv) == 0
    return str(out)


def test_the_engines_rows_are_the_dumps_rows_at_each_prompts_end(collected):
    """The engine and transformers read the same GGUF: at each prompt's end, the same top tokens, close logprobs."""
    with open_source(collected) as src:
        chunk = next(src.chunks(1 << 30, with_ids=True))
    first = np.flatnonzero(chunk.pos == 0)
    by_prompt = {}
    for r in first:
        by_prompt.setdefault(int(chunk.prompt[r]), r)
    with np.load(ROOT / "data" / "smollm2-t1-x8.npz") as z:
        dump_first = {int(z["prompt"][i]): i for i in np.flatnonzero(z["pos"] == 0)[::-1]}  # prompt rows of the file
        ids, lps = z["topk_ids"], z["topk_logprobs"]
    worst, drift = 0.0, []
    for k, row in enumerate(PROMPT_ROWS):
        mine = dict(zip(chunk.ids[by_prompt[k]].tolist(), chunk.values[by_prompt[k]].tolist(), strict=True))
        theirs = dict(zip(ids[dump_first[row]].tolist(), lps[dump_first[row]].tolist(), strict=True))
        assert len(set(list(mine)[:5]) & set(list(theirs)[:5])) >= 4  # near-ties may swap places, no more
        common = [t for t in list(theirs)[:10] if t in mine]
        assert len(common) >= 9
        worst = max(worst, max(abs(mine[t] - theirs[t]) for t in common))
        drift += [mine[t] - theirs[t] for t in common]
    # Q4_1 weights: llama.cpp multiplies them quantised (with 8-bit activations), transformers dequantised to
    # float32 first; measured here: at most 0.39 nats on one token, 0.06 on average, no direction to it
    assert worst < 0.5
    assert abs(float(np.mean(drift))) < 0.15


def test_the_collected_ceiling_agrees_with_the_exact_optimum(collected):
    curves, _, _, meta = load_oracle(str(ROOT / "data" / "oracle-smollm2-t1.npz"))
    rows = [meta["prompt_index"].index(r) for r in PROMPT_ROWS]
    exact = curves[rows, :8].mean(axis=0)
    res = optimum(collected, pmax=8, replicates=16, tail="both", run=RunOptions(seed=0))
    assert res.continuations_per_prompt == 4
    lo, hi = res.lower.ci_low, res.upper.ci_high
    assert np.all(exact >= lo), (exact, lo)
    assert np.all(exact <= hi), (exact, hi)


def _drafted(start_engine, smollm2, spec, prompts, tokens, seeds, tmp_path) -> tuple[Path, Path, float, float]:
    """Run the prompts through a speculative engine; return (log file, metrics file, drafts, accepted)."""
    running = start_engine(smollm2, spec=spec)
    for line in prompts.read_text(encoding="utf-8").splitlines():
        for seed in seeds:
            running.post(
                "/v1/completions", {"prompt": json.loads(line)["prompt"], "max_tokens": tokens, "seed": seed, **FULL}
            )
    running.wait_log(r"statistics +(draft-simple|ngram-simple)")
    metrics = tmp_path / "metrics.prom"
    metrics.write_text(running.metrics_text())
    log = tmp_path / "engine.log"
    log.write_text(running.log_text())
    drafts, accepted = spec_counters(metrics.read_text())
    assert drafts > 0
    return log, metrics, drafts, accepted


@pytest.mark.parametrize("drafter", ["ngram", "draft24"])
def test_a_real_drafters_x_is_the_engines_counters_and_lies_under_the_ceiling(
    drafter, smollm2, draft24, start_engine, prompts, collected, tmp_path, capsys
):
    if drafter == "ngram":
        spec = {"type": "ngram-simple", "n_max": N_MAX}
        tokens, seeds = 48, (1, 2)
    else:
        spec = {"type": "draft", "draft_gguf": draft24, "n_max": N_MAX, "p_min": 0.0}
        tokens, seeds = 24, (1,)
    log, metrics, drafts, accepted = _drafted(start_engine, smollm2, spec, prompts, tokens, seeds, tmp_path)
    truth = accepted / drafts
    (from_metrics,) = read_acceptance(metrics)
    assert from_metrics.format == "llama.cpp-metrics"
    assert from_metrics.mean_accepted == pytest.approx(truth, rel=1e-12)
    assert from_metrics.iterations == drafts
    stats = [m for m in read_acceptance(log) if m.label.endswith(("draft-simple", "ngram-simple"))]
    assert len(stats) == 1
    assert stats[0].mean_accepted == pytest.approx(truth, rel=1e-12)
    code, out, err = run(
        capsys, "compare", "--dump", collected, "--measured", str(metrics), "--tree-size", str(N_MAX),
        "--replicates", "8", "--quiet", "--json",
    )  # fmt: skip
    assert code == 0, err
    d = json.loads(out)
    row = d["measured"][0]
    assert row["mean_accepted"] == pytest.approx(truth, rel=1e-12)
    assert row["mean_accepted"] < row["ceiling_ci"][1]  # under the ceiling's upper end at the engine's P
    assert row["fraction_of_ceiling"] < 1.0
    assert not any(w.startswith(("above the ceiling", "no grafted ceiling", "model mismatch")) for w in d["warnings"])


def test_watch_on_the_live_engine_reports_the_engines_counters(smollm2, draft24, start_engine, collected, capsys):
    running = start_engine(smollm2, spec={"type": "draft", "draft_gguf": draft24, "n_max": N_MAX, "p_min": 0.0})
    got: dict[str, object] = {}

    def watch():
        got["result"] = run(
            capsys, "watch", running.url + "/metrics", "--interval", "20", "--count", "2", "--json",
            "--dump", collected,
        )  # fmt: skip

    thread = threading.Thread(target=watch)
    thread.start()
    try:
        time.sleep(2.0)  # the baseline scrape is the watch's first act; the request falls in its first interval
        running.post("/v1/completions", {"prompt": "The capital of France is", "max_tokens": 16, "seed": 3, **FULL})
    finally:
        thread.join(timeout=120)
    assert not thread.is_alive()
    code, out, err = got["result"]
    assert code == 0, err
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    drafts, accepted = spec_counters(running.metrics_text())
    interval = lines[0]
    assert interval["drafts"] == drafts
    assert interval["accepted"] == accepted
    assert interval["mean_accepted"] == pytest.approx(accepted / drafts, rel=1e-12)
    assert 0 < lines[-1]["fraction_of_ceiling"] < 1


def test_the_readmes_three_commands_against_the_engine(engine, smollm2, draft24, start_engine, tmp_path, capsys):
    """The README's 'I run vLLM / SGLang / llama.cpp' commands, as written, with the engines' addresses."""
    import re
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## I run vLLM / SGLang / llama.cpp", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [c for c in block.strip().splitlines() if c.strip()]
    assert len(commands) == 3
    assert commands[0].startswith("speedoflight collect")
    assert commands[2].startswith("speedoflight report")
    rows = (ROOT / "data" / "prompts.jsonl").read_text(encoding="utf-8").splitlines()
    (tmp_path / "prompts.jsonl").write_text(rows[3] + "\n" + rows[123] + "\n", encoding="utf-8")
    speculative = start_engine(smollm2, spec={"type": "draft", "draft_gguf": draft24, "n_max": N_MAX, "p_min": 0.0})
    for line in (rows[3], rows[123]):
        speculative.post("/v1/completions", {"prompt": json.loads(line)["prompt"], "max_tokens": 24, "seed": 1, **FULL})
    ports = {"8081": engine.url.rsplit(":", 1)[1], "8080": speculative.url.rsplit(":", 1)[1]}

    def addressed(command: str) -> list[str]:
        return shlex.split(re.sub(r"127\.0\.0\.1:(8080|8081)", lambda m: f"127.0.0.1:{ports[m.group(1)]}", command))

    import os

    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        code, out, err = run(capsys, *addressed(commands[0])[1:], "--quiet")
        assert code == 0, err
        assert out.startswith("collected 8 continuations of 2 prompts into verifier.jsonl")
        curl = addressed(commands[1])
        assert curl[:2] == ["curl", "-s"]
        assert curl[-2] == ">"
        Path(curl[-1]).write_text(speculative.get(curl[2].split("127.0.0.1:" + ports["8080"], 1)[1]))
        code, out, err = run(capsys, *addressed(commands[2])[1:], "--quiet", "--replicates", "8")
        assert code == 0, err
    finally:
        os.chdir(here)
    first = out.splitlines()
    assert first[0].startswith("best setting on NVIDIA H100")  # the answer first, then its engine settings
    assert [x.split(" (")[0] for x in first[1:5]] == ["  vLLM", "  SGLang", "  llama.cpp", "  TensorRT-LLM"]
    assert any(x.startswith("verifier: ") for x in first)
    at4 = next(x for x in first if x.startswith("ceiling at P = 4: "))
    assert "metrics.prom" in at4
    assert "% of it" in at4


def test_latency_times_the_engines_passes_and_bound_reads_them(engine, tmp_path, capsys):
    out = tmp_path / "latency.csv"
    code, stdout, err = run(
        capsys, "latency", "--url", engine.url, "-P", "1,8,32", "--repeats", "3", "--context", "128", "--out", str(out),
        "--json", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    d = json.loads(stdout)
    assert d["method"] == "server timings"  # llama.cpp's own prompt timing of exactly P + 1 new tokens
    assert d["P"] == [0, 1, 8, 32]
    assert d["ms"][3] > d["ms"][0]  # 33 tokens take longer than 1 on a CPU
    code, stdout, err = run(capsys, "bound", "--mu", "2", "--mu2", "8", "--latency", str(out), "--json")
    assert code == 0, err
