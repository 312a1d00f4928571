"""``speedoflight classic``: classical speculative sampling from paired draft/target dumps: alpha, tokens per call, best gamma."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ._common import emit, finite, nonneg_int, positive_int, run_count, seed_int
from ._flags import PAIR_FORMATS_HELP, add_pair_flags, check_confidence, read_pair_args

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight classic`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "classic",
        help="classical speculative sampling from paired draft/target dumps: alpha, tokens per call, best gamma",
        description="Computes the per-position acceptance alpha = sum_i min(p_i, q_i) = 1 - TV(p, q) of a drafter q "
        "against the target p over the same positions (full rows: exact; speedoflight dumps: exact where the draft "
        "dump records the overlap, else bounded by the listed top-k tokens), the tokens per target call of a chain "
        "of gamma drafts, (1 - alpha^(gamma+1)) / (1 - alpha) at the mean alpha and exactly from the per-position "
        "sequence, and the speedup for a draft/target cost ratio with the best gamma.",
        epilog=PAIR_FORMATS_HELP,
    )
    add_pair_flags(p)
    p.add_argument("--gamma", type=nonneg_int, required=True, metavar="N", help="drafts per target call")
    p.add_argument(
        "--cost-ratio",
        type=finite,
        default=0.0,
        metavar="COST",
        help="cost of a draft token in target calls (default 0)",
    )
    p.add_argument(
        "--gamma-max", type=positive_int, metavar="N", help="largest gamma searched (default max(32, --gamma))"
    )
    p.add_argument(
        "--simulate",
        type=run_count,
        default=0,
        metavar="N",
        help="also run speculative sampling N times from every position",
    )
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="seed of --simulate (default 0)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight classic`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..beyond.classic import classic, simulate_starts

    check_confidence(args.confidence)
    pair = read_pair_args(args, args.target, args.draft, keep_rows=args.simulate > 0)
    gamma_max = args.gamma_max if args.gamma_max is not None else max(32, args.gamma)
    res = classic(pair, args.gamma, cost_ratio=args.cost_ratio, gamma_max=gamma_max, confidence=args.confidence)
    out = res.to_dict()
    if args.simulate:
        sim = simulate_starts(pair, args.gamma, args.simulate, np.random.default_rng(args.seed))
        out["simulation"] = {"rows": pair.completion, "runs_per_start": args.simulate, "seed": args.seed, **sim}
    if args.json or args.csv:
        emit(args, out)
        return 0
    print(res.text())
    if args.simulate:
        s = out["simulation"]
        print(
            f"speculative sampling simulated ({s['runs_per_start']} runs from each of {s['starts']} starts, "
            f"{s['rows']}): {s['mean_tokens']:.4f} tokens per call; formula on the same rows {s['formula_tokens']:.4f}"
        )
    for note in pair.notes:
        print(f"note: {note}")
    return 0
