"""``speedoflight report``: the main job: the full report on the shipped real-model data (or on your files)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InputError
from ..options import ReadOptions, RunOptions
from ._common import command_line, out_dir, positive_int, progress, seed_int
from ._flags import (
    FORMATS_HELP,
    REPLICATES,
    add_check_flags,
    add_reading_flags,
    add_timing_flags,
    add_top_k_flag,
    add_tree_size_flag,
    deprecated_alias,
    measured_help,
    params_from_dump,
    timing_from_args,
)

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight report`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "report",
        help="the main job: the full report on the shipped real-model data (or on your files)",
        description="Writes a folder (all or nothing) with a Markdown report and its PNG figures and prints its "
        "first screen, the ceiling at your P, each measured drafter's fraction of it, the best (P, depth) on your "
        "GPU for the drafter's cost and the batch, what to change and the warnings, from your dumps and measured "
        "logs or, with no arguments, from the data shipped in data/.",
        epilog="The report then holds the details: mu and mu2, the measured drafters against the ceiling, the best "
        "settings per drafter and batch size, per-position acceptance, the real-model oracle against the theory, "
        "every bound.\n\n" + FORMATS_HELP + "\n" + measured_help(),
    )
    p.add_argument("--out", default="report", type=out_dir, metavar="DIR", help="output folder (default ./report)")
    p.add_argument(
        "--dump",
        nargs="+",
        metavar="DUMP",
        help="the verifier's dumps, arrays or API logs (speedoflight collect; formats below); only your files are "
        "read. Without it: the demo on the shipped SmolLM2 data",
    )
    p.add_argument(
        "--measured",
        nargs="+",
        metavar="FILE",
        help="measured acceptance (optional): serving logs, /metrics scrapes, benchmark results (every format below)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="the demo on the shipped data (what no --dump gives); cannot be mixed with --dump or --measured",
    )
    add_tree_size_flag(p)
    p.add_argument(
        "--oracle",
        nargs="*",
        metavar="FILE",
        help="oracle files (speedoflight oracle --out), each with its --oracle-dump (the demo: the shipped ones)",
    )
    p.add_argument(
        "--oracle-dump",
        nargs="*",
        metavar="DUMP",
        help="the speedoflight dump of each --oracle file's model, in the same order",
    )
    deprecated_alias(p, "--pool", "--oracle-dump", "oracle_dump", here=True, nargs="*", metavar="DUMP")
    add_reading_flags(p)
    add_timing_flags(p, "of the best-setting section (default h100-sxm)", params_from_dump=True)
    add_check_flags(p)
    p.add_argument(
        "--replicates", type=positive_int, default=REPLICATES, metavar="N", help=f"simulation replicates ({REPLICATES})"
    )
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="seed of the simulations and bootstraps (0)")
    add_top_k_flag(p, "row of the simulated optimum and the grafted ceiling")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight report`` with the parsed flags.

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
    from .._util.shipped import SHIPPED, shipped_data
    from ..analysis.report import run_report

    if args.demo and (args.dump or args.measured):
        raise InputError("--demo runs on the shipped data only; drop --demo to report on your --dump/--measured files")
    if args.measured and not args.dump:
        raise InputError(
            "--measured needs --dump (the verifier's dumps or API logs, e.g. from speedoflight collect); the shipped "
            "demo dump is never mixed with your files"
        )
    if (args.oracle or args.oracle_dump) and len(args.oracle or []) != len(args.oracle_dump or []):
        raise InputError(
            f"give one --oracle-dump per --oracle ({len(args.oracle or [])} oracle files, "
            f"{len(args.oracle_dump or [])} dumps): the dump of each oracle file's model, in the same order"
        )
    first = expand_paths(args.dump)[0] if args.dump else str(shipped_data() / SHIPPED["dump"][0])
    params_from_dump(args, first, "the report's timing")
    if args.gpu is None and not (args.bandwidth and args.flops):
        args.gpu = "h100-sxm"
    path = run_report(
        args.out,
        dumps=args.dump,
        measured=args.measured,
        tree_size=args.tree_size,
        oracles=args.oracle,
        pools=args.oracle_dump,
        timing=timing_from_args(args, "the report's timing"),
        replicates=args.replicates,
        command=command_line(args),
        n_layers=args.verifier_layers,
        same_model=args.same_model,
        keep=args.keep,
        read=ReadOptions(kind=args.kind, vocab_size=args.vocab_size, temperature=args.temperature, tensor=args.tensor),
        run=RunOptions(seed=args.seed, progress=progress(args)),
    )
    from .._util.progress import finish

    finish()  # the progress line goes before the answer is printed
    with open(path, encoding="utf-8") as fh:  # the answer first, on the terminal too
        head = fh.read().split("## Details", 1)[0].strip().splitlines()
    from .._util.text import plain

    print("\n".join(plain([line for line in head[1:] if line.strip()], bullets=False)))  # plain text on a terminal
    print(f"wrote {path}")
    return 0
