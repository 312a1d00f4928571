#!/usr/bin/env bash
# Branching continuations (issue 31), from the repository root: the interior prompts of oracle-smollm2-interior.npz
# continued again with smollm2-t1.npz's seed, with 3 branches at positions 8, 16 and 24 of each continuation.
# `python data/grafted_validation.py` then compares the prediction with and without them against that oracle.
set -euo pipefail
speedoflight dump --model smollm2 --prompts data/prompts.jsonl --per-kind 12 --max-new-tokens 64 --top-k 64 \
    --temperature 1 --seed 0 --batch-size 16 --batch-order file --branch-at 8,16,24 --branches 3 \
    --out data/smollm2-interior-branched.npz --quiet
