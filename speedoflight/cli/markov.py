"""``speedoflight markov``: the Markov-chain view (Yin et al. 2024): expected rejections, optimality, several drafts, trade-off."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..errors import InputError
from ._common import emit, figure_file, float_list, int_list, nonneg_int, run_count, seed_int
from ._flags import PAIR_FORMATS_HELP, add_pair_flags, check_confidence, read_pair_args

__all__ = ["add_parser", "run"]

#: Drafts per position of the recursive-rejection simulation (each draft is a pass over every row).
MAX_DRAFTS = 64


def add_parser(sub: Any) -> None:
    """Register ``speedoflight markov`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "markov",
        help="the Markov-chain view (Yin et al. 2024): expected rejections, optimality, several drafts, trade-off",
        description="Computes the expected rejections over a generation, the sum over positions of TV(p_t, q_t), "
        "with its interval; the optimality of speculative sampling, checked with a linear program per position and "
        "a simulator of weaker valid rules; several i.i.d. drafts per position (recursive rejection sampling); and "
        "the quality-speed trade-off (acceptance against allowed distortion, an LP solved with scipy).",
        epilog=PAIR_FORMATS_HELP,
    )
    add_pair_flags(p)
    p.add_argument(
        "--drafts",
        type=int_list,
        default=[1, 2, 4],
        metavar="N,...",
        help="drafts per position (default 1,2,4; at most 64 each)",
    )
    p.add_argument(
        "--simulate", type=run_count, default=200, metavar="N", help="simulator runs per position (default 200)"
    )
    p.add_argument(
        "--epsilon",
        type=float_list,
        default=[0, 0.05, 0.1, 0.2, 0.3, 0.5],
        metavar="E,...",
        help="distortions for the trade-off (default 0,0.05,0.1,0.2,0.3,0.5)",
    )
    p.add_argument("--lp-rows", type=nonneg_int, default=50, metavar="N", help="rows the LP is solved on (default 50)")
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="seed of the simulator (default 0)")
    p.add_argument(
        "--plot", type=figure_file, metavar="FILE", help="write the trade-off figure to FILE (.png/.pdf/.svg)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight markov`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    if any(not 1 <= d <= MAX_DRAFTS for d in args.drafts):
        raise InputError(f"--drafts: each must be 1..{MAX_DRAFTS} drafts per position, got {max(args.drafts)}")

    from ..beyond.markov import batch_rejections, expected_rejections, lp_acceptance, tradeoff

    check_confidence(args.confidence)
    pair = read_pair_args(args, args.target, args.draft, keep_rows=True)
    assert pair.rows is not None
    p, q = pair.rows
    rej = expected_rejections(pair, args.confidence)
    batch = batch_rejections(pair, args.drafts, args.simulate, np.random.default_rng(args.seed))
    lp_gap = None
    if args.lp_rows:
        pick = np.random.default_rng(args.seed).choice(len(p), size=min(args.lp_rows, len(p)), replace=False)
        lp = np.array([lp_acceptance(p[i], q[i]) for i in pick])
        lp_gap = float(np.max(np.abs(lp - np.minimum(p[pick], q[pick]).sum(axis=1))))
    curve = tradeoff(pair, np.array(args.epsilon), lp_rows=args.lp_rows, seed=args.seed)
    out = {
        "target": pair.target,
        "draft": pair.draft,
        "alpha_exact": pair.exact,
        **rej.to_dict(),
        "rows_for_simulation": pair.completion,
        "batch": batch,
        "lp_optimality_max_gap": lp_gap,
        "tradeoff": curve,
    }
    if args.plot:
        from .._util.atomic import atomic_path
        from ..analysis.plots import save_figure, tradeoff_figure

        with atomic_path(args.plot) as tmp:
            save_figure(tradeoff_figure(curve, f"{pair.names[1]} drafting for {pair.names[0]}"), tmp)
        out["plot"] = args.plot
    if args.json or args.csv:
        emit(args, out)
        return 0
    ci = rej.rejections_ci
    print(
        f"target {pair.names[0]}  vs  draft {pair.names[1]}: {rej.sequences} sequences of {rej.mean_length:.1f} positions"
    )
    print(
        f"expected rejections per sequence (sum of TV) {rej.rejections:.3f} ({rej.confidence:.0%} CI {ci[0]:.3f}-"
        f"{ci[1]:.3f}); TV per token {rej.tv_per_token:.4f}"
    )
    if rej.rejections_interval:
        print(
            f"top-k rows: the unlisted tails allow {rej.rejections_interval[0]:.3f}..{rej.rejections_interval[1]:.3f}"
        )
    if lp_gap is not None:
        print(
            f"optimality: an LP over all acceptance rules on {min(args.lp_rows, len(p))} rows finds no rule accepting "
            f"more than sum min(p, q) (largest gap {lp_gap:.1e})"
        )
    print(f"several drafts per position (recursive rejection; rows: {pair.completion}):")
    for row in batch:
        line = f"  {row['drafts']} draft(s): {row['expected_rejections']:.3f} rejections per sequence"
        if "simulated" in row:
            line += (
                f"; simulated {row['simulated']:.3f} +- {row['simulated_se']:.3f}; a rule at half the acceptance: "
                f"{row['expected_rejections_weaker_rule']:.3f} (simulated {row['simulated_weaker_rule']:.3f})"
            )
        print(line)
    print("quality-speed trade-off (distortion eps per position -> rejections per sequence, acceptance):")
    for i, e in enumerate(curve["epsilon"]):
        extra = (
            f"  LP {curve['lp_acceptance'][i]:.4f} vs closed {curve['closed_acceptance'][i]:.4f}"
            if "lp_acceptance" in curve
            else ""
        )
        print(f"  eps {e:<5g} {curve['rejections'][i]:8.3f}  {curve['acceptance'][i]:.4f}{extra}")
    return 0
