#!/usr/bin/env bash
# Validation of the grafted prediction (issue 16), from the repository root, in order:
# a third kind of text (HTML markup) with its dump and exact oracle, and interior positions 8, 16, 24 of the
# shipped dumps' continuations (12 prose and 12 code prompts per model, the first continuation of each).
set -euo pipefail
python data/make_markup_prompts.py data/prompts-markup.jsonl
speedoflight dump --model smollm2 --prompts data/prompts-markup.jsonl --samples-per-prompt 8 --max-new-tokens 32 \
    --top-k 32 --temperature 1 --seed 0 --out data/smollm2-markup-x8.npz --quiet
speedoflight oracle --model smollm2 --prompts data/prompts-markup.jsonl --pmax 128 --temperature 1 \
    --out data/oracle-smollm2-markup.npz --quiet
speedoflight oracle --model smollm2 --prompts data/prompts.jsonl --per-kind 12 --dump data/smollm2-t1.npz \
    --positions 8,16,24 --pmax 64 --temperature 1 --out data/oracle-smollm2-interior.npz --quiet
speedoflight oracle --model gemma3-270m --prompts data/prompts.jsonl --per-kind 12 --dump data/gemma3-270m-t1-x8.npz \
    --continuations 1 --positions 8,16,24 --pmax 64 --temperature 1 --out data/oracle-gemma3-270m-interior.npz --quiet
