"""The exported what-if, run by the real engine: llama.cpp's synthetic acceptance fed `export`'s profile accepts
drafts at the profile's rates, as the engine's own /metrics (read by the product's reader) counts them.

The profile is `speedoflight export` of the shipped SmolLM2 dump (the ceiling's best chain of K = 4 at the prompts'
ends); the engine drafts with SmolLM2 cut to one block (``draft1``, ``p_min`` 0: every draft is 4 tokens long) and
accepts by the profile's ``--spec-synth-rates``. About 35 s on one idle core (twice that on a busy one).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from speedoflight.logs.acceptance import read_acceptance

from .helpers import run

pytest.importorskip("xllamacpp", reason="needs the xllamacpp wheel (llama.cpp's server)")
pytestmark = pytest.mark.engine

X8 = str(Path(__file__).resolve().parents[1] / "data" / "smollm2-t1-x8.npz")
K = 4
#: Tokens asked: about 320 drafts at the profile's AL of 1.99 (the tolerance below is derived from the drafts).
TOKENS = 640
#: Binomial standard errors allowed per position.
SIGMAS = 4.0


def test_the_engine_accepts_at_the_exported_rates(smollm2, draft1, start_engine, tmp_path, capsys):
    out = tmp_path / "profile.json"
    code, text, err = run(capsys, "export", "--dump", X8, "-K", str(K), "--out", str(out), "--engine", "llamacpp")
    assert code == 0, err
    profile = json.loads(out.read_text())
    rates = profile["marginal_accept_rates"]
    # the llama.cpp snippet carries exactly the profile's marginals
    flag = re.search(r"--spec-synth-rates (\S+)", text).group(1)
    assert [float(x) for x in flag.split(",")] == rates

    spec = {"type": "synthetic", "rates": rates, "draft_gguf": draft1, "n_max": K, "p_min": 0.0}
    running = start_engine(smollm2, spec=spec)
    running.post(
        "/v1/completions",
        {"prompt": "Write a long story.", "max_tokens": TOKENS, "seed": 7, "temperature": 1.0, "top_k": 0},
        timeout=300,
    )
    # the engine read the rates as marginals: its own mean length is 1 + their sum, the profile's AL
    said = running.wait_log(r"synthetic acceptance: n_max = 4, mean length = ([0-9.]+)").group(1)
    assert float(said) == pytest.approx(profile["mean_accept_length"], abs=1e-6)

    prom = tmp_path / "metrics.prom"
    prom.write_text(running.metrics_text())
    (m,) = read_acceptance(prom)
    assert m.format == "llama.cpp-metrics"
    n = m.iterations  # drafts (verification steps)
    assert n > 250
    # Drafts cut short by the request's end (at most max_tokens - generated - 1 tokens are drafted) cannot accept
    # past their length, which biases every position's count down by at most (short drafts) / n. Each short draft
    # lacks at least one draft token, so the counters bound their number: short <= K n - draft tokens.
    draft_tokens = m.mean_draft_size * n
    short = K * n - draft_tokens
    assert 0 <= short <= K  # one request: only its last few drafts can be short
    bias = short / n
    measured = [float(sum(m.distribution[i:])) for i in range(1, K + 1)]  # P(X >= i) from P(X = j)
    for i, (p, q) in enumerate(zip(rates, measured, strict=True), start=1):
        se = math.sqrt(p * (1 - p) / n)  # binomial: each draft accepts position i or not
        assert abs(q - p) <= SIGMAS * se + bias, (i, p, q, se, n)
    # and the mean: X = sum of the P(X >= i), its variance from the profile's own distribution of X
    dist = [1 - rates[0]] + [rates[i] - rates[i + 1] for i in range(K - 1)] + [rates[-1]]
    mean = sum(j * d for j, d in enumerate(dist))
    var = sum((j - mean) ** 2 * d for j, d in enumerate(dist))
    assert abs(m.mean_accepted - mean) <= SIGMAS * math.sqrt(var / n) + K * bias
    print(
        f"engine: {n:g} drafts ({short:g} short), P(X >= i) = {[round(q, 4) for q in measured]} against the "
        f"profile's {rates}; X = {m.mean_accepted:.4f} against {mean:.4f}"
    )
