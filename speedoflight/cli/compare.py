"""``speedoflight compare``: measured acceptance (serving logs) against the speed of light of the same verifier."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import add_output_flags, command_line, emit, out_dir, positive_int, progress, seed_int
from ._flags import (
    REPLICATES,
    add_check_flags,
    add_reading_flags,
    add_scheduler_flag,
    add_timing_flags,
    measured_formats,
    measured_help,
    scheduler_client,
    timing_from_args,
)

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight compare`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "compare",
        help="measured acceptance (serving logs) against the speed of light of the same verifier",
        description="A table and a figure of E[X] against log P: the published form, the Lorden bound, the "
        "renewal prediction, the exact i.i.d. curve, the trajectory bound, the simulated optimal tree with its "
        "band, and each measured system at its P with the fraction of the optimum it reaches; with --gpu and "
        "--params, the speedup ceiling and the best P.",
        epilog=measured_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--dump",
        nargs="+",
        required=True,
        metavar="DUMP",
        help="the verifier's logged distributions: speedoflight dumps or API logs (speedoflight collect)",
    )
    p.add_argument(
        "--measured",
        nargs="+",
        default=[],
        metavar="FILE",
        help="measured acceptance (any format below); without it: the ceiling, the bounds, the simulated optimum and, "
        "with a device, the best (P, depth) for the drafter cost the flags give",
    )
    p.add_argument("--measured-format", choices=sorted(measured_formats()), help="force the measured files' format")
    p.add_argument(
        "--num-speculative-tokens",
        type=positive_int,
        metavar="K",
        help="draft tokens per call, for vLLM log lines that print no mean acceptance length (drafts = drafted / K)",
    )
    p.add_argument("--tree-size", type=positive_int, help="P (draft tokens per iteration) of every measured system")
    p.add_argument(
        "--pmax", type=positive_int, help="largest P on the curves (default 4x the largest measured P, >= 256)"
    )
    p.add_argument(
        "--replicates", type=positive_int, default=REPLICATES, help=f"optimal-tree simulation replicates ({REPLICATES})"
    )
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the simulation and the bootstrap (0)")
    add_reading_flags(p)
    add_timing_flags(p, "for the speedup ceiling and the best P")
    add_check_flags(p)
    p.add_argument(
        "--out", type=out_dir, help="write compare.md, compare.png and compare.json into this folder (atomically)"
    )
    add_output_flags(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_scheduler_flag(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight compare`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..analysis.compare import compare, write_comparison
    from ..logs.acceptance import read_many

    measured = read_many(args.measured, args.measured_format, args.num_speculative_tokens)
    timing = timing_from_args(args, "the speedup ceiling")
    with scheduler_client(args) as client:
        comp = compare(
            args.dump,
            measured,
            tree_size=args.tree_size,
            timing=timing,
            pmax=args.pmax,
            replicates=args.replicates,
            seed=args.seed,
            kind=args.kind,
            vocab_size=args.vocab_size,
            temperature=args.temperature,
            tensor=args.tensor,
            progress=progress(args),
            n_layers=args.verifier_layers,
            same_model=args.same_model,
            client=client,
        )
    if args.out:
        write_comparison(args.out, comp, command=command_line(args))
    if args.csv:  # the table; what --json carries beside it goes to stderr
        rows = comp.measured_rows()
        if comp.timing is not None:
            for m, r in zip(comp.measured, rows, strict=True):
                r["draft_cost"] = comp.cost_of(m).label
        for w in comp.warnings:
            print(f"speedoflight: warning: {w}", file=sys.stderr)
        emit(args, comp.to_dict(), rows=rows)
        return 0
    if args.json:
        emit(args, comp.to_dict())
        return 0
    for line in comp.answer_lines(args.tree_size):
        print(line)
    print()
    print(comp.markdown())
    print()
    for line in comp.summary_lines():
        print(f"- {line}")
    if comp.advice is not None:
        print()
        print("\n".join(comp.advice.markdown()))
    print("\nnotes:")
    for line in comp.notes + (comp.advice.notes if comp.advice is not None else []):
        print(f"- {line}")
    if args.out:
        print(f"\nwrote {args.out}/compare.md, compare.png, compare.json")
    return 0
