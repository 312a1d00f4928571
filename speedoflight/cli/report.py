"""``speedoflight report``: the main job: the full report on the shipped real-model data (or on your files)."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import (
    command_line,
    out_dir,
    positive,
    positive_int,
    progress,
    seed_int,
)


def add_parser(sub: Any) -> None:
    """Register ``speedoflight report`` on the subcommands."""
    p = sub.add_parser(
        "report",
        help="the main job: the full report on the shipped real-model data (or on your files)",
        description="Writes a self-contained folder with a Markdown report and its PNG figures: the verifier's "
        "mu and mu2, every bound, the simulated optimum against the measured drafters, the real-model oracle "
        "against the theory, and the speedup ceiling on a GPU. With no arguments it runs on the data shipped in "
        "data/. The folder is written all or nothing.",
    )
    p.add_argument("--out", default="report", type=out_dir, help="output folder (default ./report)")
    p.add_argument("--dump", nargs="+", metavar="DUMP", help="verifier dumps (default: the shipped SmolLM2 dump)")
    p.add_argument("--measured", nargs="+", metavar="FILE", help="measured acceptance (default: the shipped run)")
    p.add_argument("--tree-size", type=positive_int, help="P of every measured system that does not record it")
    p.add_argument(
        "--oracle", nargs="*", metavar="FILE", help="oracle files with one --pool each (default: the shipped ones)"
    )
    p.add_argument("--pool", nargs="*", metavar="DUMP", help="dumps matching --oracle")
    p.add_argument("--gpu", default="h100-sxm", help="GPU preset of the timing section (default h100-sxm)")
    p.add_argument("--params", type=positive, help="verifier parameters (default: the dump's model size)")
    p.add_argument("--replicates", type=positive_int, default=64, help="simulation replicates (64)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight report`` with the parsed flags; return the exit status."""
    from ..analysis.report import run_report

    path = run_report(
        args.out,
        dumps=args.dump,
        measured=args.measured,
        tree_size=args.tree_size,
        oracles=args.oracle,
        pools=args.pool,
        gpu=args.gpu,
        params=args.params,
        replicates=args.replicates,
        seed=args.seed,
        progress=progress(args),
        command=command_line(args),
    )
    print(f"wrote {path}")
    return 0
