#!/usr/bin/env bash
# Branching continuations (issue 31), from the repository root: the interior prompts of each model's interior oracle
# continued again with the seed of the dump the oracle's prefixes come from, with branches on the continuations those
# prefixes are cut from: SmolLM2 3 at positions 8, 16, 24; Gemma 3 7 at every 4th position.
# `python data/grafted_validation.py` then compares the prediction with and without them against that oracle.
set -euo pipefail
speedoflight dump --model smollm2 --prompts data/prompts.jsonl --per-kind 12 --max-new-tokens 64 --top-k 64 \
    --temperature 1 --seed 0 --batch-size 16 --batch-order file --branch-at 8,16,24 --branches 3 \
    --out data/smollm2-interior-branched.npz --quiet
speedoflight dump --model gemma3-270m --prompts data/prompts.jsonl --per-kind 12 --samples-per-prompt 8 \
    --max-new-tokens 32 --top-k 32 --temperature 1 --seed 0 --batch-size 16 --batch-order file \
    --branch-at 4,8,12,16,20,24,28 --branches 7 --branch-samples 1 --out data/gemma3-270m-interior-branched.npz --quiet
# The markup set (issue 31): its interior oracle (the first 24 prompts, first continuation of smollm2-markup-x8.npz,
# positions 8, 16, 24), then those prompts continued again, 64 tokens, with that dump's seed, 3 branches at 8, 16, 24.
speedoflight oracle --model smollm2 --prompts data/prompts-markup.jsonl --dump data/smollm2-markup-x8.npz \
    --continuations 1 --positions 8,16,24 --pmax 64 --temperature 1 --limit 72 \
    --out data/oracle-smollm2-markup-interior.npz --quiet
OMP_NUM_THREADS=1 speedoflight dump --model smollm2 --prompts data/prompts-markup.jsonl --limit 24 --samples-per-prompt 8 \
    --max-new-tokens 64 --top-k 32 --temperature 1 --seed 0 --batch-size 16 --batch-order file \
    --branch-at 8,16,24 --branches 3 --branch-samples 1 \
    --out data/smollm2-markup-interior-branched.npz --quiet
