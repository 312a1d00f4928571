#!/usr/bin/env bash
# Several continuations per prompt (issue 5): 8 continuations of 32 tokens for each of the 100 prompts the
# oracle files use (the first 50 of each kind), top-32 rows; these are also the pools of the comparison.
set -euo pipefail
speedoflight dump --model smollm2 --prompts data/prompts.jsonl --per-kind 50 --samples-per-prompt 8 \
    --max-new-tokens 32 --top-k 32 --temperature 1 --seed 0 --out data/smollm2-t1-x8.npz --quiet
speedoflight dump --model gemma3-270m --prompts data/prompts.jsonl --per-kind 50 --samples-per-prompt 8 \
    --max-new-tokens 32 --top-k 32 --temperature 1 --seed 0 --out data/gemma3-270m-t1-x8.npz --quiet
