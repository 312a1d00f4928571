"""``speedoflight measure``: measured acceptance of real drafters (prompt lookup, early exit, EAGLE-2 style trees) on a real model."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InputError
from ..options import RunOptions
from ._common import add_output_flags, command_line, emit, finite, fmt, out_file, positive_int, progress, seed_int
from ._flags import add_model_flags, deprecated_alias

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight measure`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "measure",
        help="measured acceptance of real drafters (prompt lookup, early exit, EAGLE-2 style trees) on a real model",
        description="Samples the verifier's continuations, runs speculative iterations of each drafter (n-gram "
        "prompt lookup, early exit) against them as chains and as EAGLE-2 style trees at every P, and writes the "
        "accepted draft tokens of every iteration as JSONL (speedoflight-measured v1).",
    )
    add_model_flags(p, "use only the first N prompts")
    p.add_argument(
        "--out",
        required=True,
        type=out_file(".jsonl"),
        metavar="FILE.jsonl",
        help="output .jsonl (format speedoflight-measured v1)",
    )
    p.add_argument(
        "--drafters",
        default="ngram,early-exit:-6",
        metavar="NAME,...",
        help="comma-separated: ngram, early-exit:L (L a layer; negative counts from the top: -6 = 6 layers below)",
    )
    p.add_argument(
        "-P", dest="p", metavar="P,...", default="1,2,4,8,16,32,64", help="tree sizes P (default 1,2,4,...,64)"
    )
    deprecated_alias(p, "--p", "-P", "p")
    p.add_argument("--tokens", type=positive_int, default=48, metavar="N", help="continuation length per sequence (48)")
    p.add_argument(
        "--samples-per-prompt", type=positive_int, default=1, metavar="N", help="continuations per prompt (1)"
    )
    p.add_argument(
        "--temperature", type=finite, default=1.0, metavar="T", help="verifier sampling temperature (1; 0 = greedy)"
    )
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="sampling seed (0)")
    p.add_argument(
        "--top-k",
        dest="topk",
        metavar="K",
        type=positive_int,
        default=8,
        help="EAGLE-2 style tree: frontier and children (8)",
    )
    deprecated_alias(p, "--topk", "--top-k", "topk", type=positive_int)
    p.add_argument("--depth", type=positive_int, default=6, metavar="N", help="EAGLE-2 style tree: expansion steps (6)")
    p.add_argument(
        "--batch-size", type=positive_int, default=16, metavar="N", help="sequences sampled per forward pass (16)"
    )
    add_output_flags(p, "print the summary as one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight measure`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..formats.measured import write_measured
    from ..models.measure import run_measure

    try:
        ps = [int(x) for x in args.p.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"-P {args.p!r}: give comma-separated integers, e.g. 1,2,4,8") from None
    if not ps or any(p < 1 for p in ps):
        raise InputError(f"-P {args.p!r}: tree sizes must be integers >= 1")
    if not args.out.lower().endswith((".jsonl", ".ndjson")):
        raise InputError(f"--out {args.out}: measured acceptance is written as JSONL; end the name with .jsonl")
    run = run_measure(
        model=args.model,
        prompts=args.prompts,
        drafters=args.drafters,
        ps=sorted(set(ps)),
        tokens=args.tokens,
        samples_per_prompt=args.samples_per_prompt,
        temperature=args.temperature,
        per_kind=args.per_kind,
        limit=args.limit,
        topk=args.topk,
        depth=args.depth,
        batch_size=args.batch_size,
        run=RunOptions(seed=args.seed, progress=progress(args)),
        command=command_line(args),
    )
    write_measured(args.out, run)
    rows = run.summary()
    if args.json or args.csv:
        emit(args, {"out": args.out, "summary": rows}, rows=rows)
        return 0
    print(f"{'drafter':<14} {'shape':<6} {'P':>4} {'iters':>6} {'E[X]':>7} {'CI (prompts)':>17} {'X+1':>6}")
    for r in rows:
        ci = f"{fmt(r['ci_low'], 3)}..{fmt(r['ci_high'], 3)}"
        print(
            f"{r['drafter']:<14} {r['shape']:<6} {r['P']:>4} {r['iterations']:>6} {r['mean_accepted']:>7.3f} "
            f"{ci:>17} {r['tokens_per_call']:>6.3f}"
        )
    print(f"wrote {args.out}")
    return 0
