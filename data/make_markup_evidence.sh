#!/usr/bin/env bash
# A third kind of text (issue 16's accuracy target): HTML markup, with the grafted prediction checked against
# the exact oracle on it; and interior positions of the shipped SmolLM2 dump. From the repository root, in order.
set -euo pipefail
python data/make_markup_prompts.py data/prompts-markup.jsonl
speedoflight dump --model smollm2 --prompts data/prompts-markup.jsonl --samples-per-prompt 8 --max-new-tokens 32 \
    --top-k 32 --temperature 1 --seed 0 --out data/smollm2-markup-x8.npz --quiet
speedoflight oracle --model smollm2 --prompts data/prompts-markup.jsonl --pmax 128 --temperature 1 \
    --out data/oracle-smollm2-markup.npz --quiet
speedoflight oracle --model smollm2 --prompts data/prompts.jsonl --dump data/smollm2-t1.npz --positions 8,16,24 \
    --limit 72 --pmax 64 --temperature 1 --out data/oracle-smollm2-interior.npz --quiet
