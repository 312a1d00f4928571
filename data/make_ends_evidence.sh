#!/usr/bin/env bash
# Prompts' ends with more continuations (issue 31), from the repository root: the first 6 prose and 6 code prompts of
# the prompt-end oracle files, 16 continuations each of 24 tokens (the exact optima at P <= 128 lie within 24 tokens
# but for 0.3% of Gemma 3's code mass: `python data/grafted_validation.py`, its depth table), top-32. Made with one
# torch thread (OMP_NUM_THREADS=1), several times faster than two on two shared cores.
# `python data/grafted_validation.py` then compares the first 2, 4, 8 and 16 of them with those oracle files.
set -euo pipefail
export OMP_NUM_THREADS=1
speedoflight dump --model smollm2 --prompts data/prompts.jsonl --per-kind 6 --samples-per-prompt 16 \
    --max-new-tokens 24 --top-k 32 --temperature 1 --seed 0 --out data/smollm2-ends-x16.npz --quiet
speedoflight dump --model gemma3-270m --prompts data/prompts.jsonl --per-kind 6 --samples-per-prompt 16 \
    --max-new-tokens 24 --top-k 32 --temperature 1 --seed 0 --out data/gemma3-270m-ends-x16.npz --quiet
