"""``speedoflight dump``: run a causal LM over prompts and write a speedoflight dump (needs the [model] extra)."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import (
    add_model_flags,
    finite,
    int_list,
    out_file,
    positive_int,
    progress,
    seed_int,
)


def add_parser(sub: Any) -> None:
    """Register ``speedoflight dump`` on the subcommands."""
    p = sub.add_parser(
        "dump",
        help="run a causal LM over prompts and write a speedoflight dump (needs the [model] extra)",
        description="Sample continuations of prompts with a transformers causal LM and log each position's "
        "top-k log-probabilities, full-vocabulary H and M2, and the sampled token's surprisal.",
    )
    add_model_flags(p, "use only the first N prompts")
    p.add_argument("--out", required=True, type=out_file(".npz"), help="output .npz")
    p.add_argument("--max-new-tokens", type=positive_int, default=64)
    p.add_argument("--temperature", type=finite, default=1.0)
    p.add_argument("--top-k", type=positive_int, default=64)
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--batch-size", type=positive_int, default=16, help="sequences per forward pass (default 16)")
    p.add_argument("--samples-per-prompt", type=positive_int, default=1, help="continuations per prompt (default 1)")
    p.add_argument(
        "--early-exit",
        type=int_list,
        help="comma-separated layers L (negative: from the top): also write NAME-early-exit-L.npz, the early-exit "
        "view at the same positions (a paired draft for `classic`, `markov`, `hierarchy`)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight dump`` with the parsed flags; return the exit status."""
    from ..models.dump import run_dump

    run_dump(
        model=args.model,
        prompts=args.prompts,
        out=args.out,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        seed=args.seed,
        limit=args.limit,
        per_kind=args.per_kind,
        batch_size=args.batch_size,
        samples_per_prompt=args.samples_per_prompt,
        early_exit=args.early_exit,
        progress=progress(args),
        argv=["speedoflight", *args.argv],
    )
    return 0
