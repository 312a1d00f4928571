"""``speedoflight compare``: measured acceptance (serving logs) against the speed of light of the same verifier."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..options import ReadOptions, RunOptions
from ._common import add_output_flags, command_line, emit, out_dir, positive_int, progress, seed_int
from ._flags import (
    FORMATS_HELP,
    REPLICATES,
    add_check_flags,
    add_reading_flags,
    add_scheduler_flag,
    add_timing_flags,
    add_top_k_flag,
    add_tree_size_flag,
    measured_formats,
    measured_help,
    params_from_dump,
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
        description="Prints the ceiling on accepted draft tokens per call at your P (the real optimum predicted from "
        "the dumps' sampled continuations, per kind of text where the prompts carry kinds) with each measured "
        "run's fraction of it and the warnings, then per P the simulated optimal tree beside every bound, the "
        "measured runs against both, and, with a device (--gpu, --params read from the dump's model name, or "
        "--latency), first the best (P, depth) in each engine's settings, what to change and the best setting "
        "per batch size; --out also writes compare.md, compare.png and compare.json.",
        epilog=FORMATS_HELP + "\n" + measured_help(),
    )
    p.add_argument(
        "--dump",
        nargs="+",
        required=True,
        metavar="DUMP",
        help="the verifier's logged distributions: speedoflight dumps (with sampled continuations for the "
        "ceiling), arrays or API logs (speedoflight collect); formats below",
    )
    p.add_argument(
        "--measured",
        nargs="+",
        default=[],
        metavar="FILE",
        help="measured acceptance: serving logs, /metrics scrapes, benchmark results (every format below); "
        "without it: the ceiling, the bounds, the simulated optimum and, with a device, the best (P, depth) for "
        "the drafter cost the flags give",
    )
    p.add_argument(
        "--measured-format",
        choices=sorted(measured_formats()),
        metavar="FORMAT",
        help="force the measured files' format (a name below; default: detected from the content)",
    )
    p.add_argument(
        "--num-speculative-tokens",
        type=positive_int,
        metavar="K",
        help="draft tokens per call, for vLLM log lines that print no mean acceptance length (drafts = drafted / K)",
    )
    add_tree_size_flag(p)
    p.add_argument(
        "--pmax",
        type=positive_int,
        metavar="P",
        help="largest P on the curves (default 4x the largest measured P, >= 256)",
    )
    p.add_argument(
        "--replicates",
        type=positive_int,
        default=REPLICATES,
        metavar="N",
        help=f"optimal-tree simulation replicates ({REPLICATES})",
    )
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="seed of the simulation and the bootstrap (0)")
    add_top_k_flag(p, "row of the simulated optimum and the grafted ceiling")
    add_reading_flags(p)
    add_timing_flags(p, "for the speedup ceiling and the best P", params_from_dump=True)
    add_check_flags(p)
    p.add_argument(
        "--out",
        type=out_dir,
        metavar="DIR",
        help="write compare.md, compare.png and compare.json into this folder (atomically)",
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
    from .._util.paths import expand_paths
    from ..analysis.compare import compare, write_comparison
    from ..logs.acceptance import read_many

    measured = read_many(args.measured, args.measured_format, args.num_speculative_tokens)
    if args.gpu or (args.bandwidth and args.flops):  # a roofline: the verifier's size, from its name unless given
        params_from_dump(args, expand_paths(args.dump)[0], "the speedup ceiling")
    timing = timing_from_args(args, "the speedup ceiling")
    with scheduler_client(args) as client:
        comp = compare(
            args.dump,
            measured,
            tree_size=args.tree_size,
            timing=timing,
            pmax=args.pmax,
            replicates=args.replicates,
            n_layers=args.verifier_layers,
            same_model=args.same_model,
            keep=args.keep,
            read=ReadOptions(
                kind=args.kind, vocab_size=args.vocab_size, temperature=args.temperature, tensor=args.tensor
            ),
            run=RunOptions(seed=args.seed, progress=progress(args), client=client),
        )
    if args.out:
        write_comparison(args.out, comp, command=command_line(args))
    from .._util.progress import finish

    finish()  # the progress line goes before the answer is printed
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
    from ..analysis.compare_text import terminal_lines

    print("\n".join(terminal_lines(comp, args.tree_size)))  # plain text: Markdown only in the files --out writes
    if args.out:
        print(f"\nwrote {args.out}/compare.md, compare.png, compare.json")
    return 0
