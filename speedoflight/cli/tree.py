"""``speedoflight tree``: best static draft tree for a positional acceptance vector (Sequoia / Medusa style)."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..errors import InputError
from ._common import (
    add_output_flags,
    add_timing_flags,
    deprecated_alias,
    emit,
    positive_int,
    timing_from_args,
)


def add_parser(sub: Any) -> None:
    """Register ``speedoflight tree`` on the subcommands."""
    p = sub.add_parser(
        "tree",
        help="best static draft tree for a positional acceptance vector (Sequoia / Medusa style)",
        description="acceptance[k] = probability that the verifier's token is the drafter's (k+1)-th ranked "
        "token, the same at every node. Prints E[X] per budget 1..N and the best tree as rank paths.",
    )
    p.add_argument("--acceptance", required=True, help="p1,p2,... (each in [0, 1], sum <= 1)")
    p.add_argument("--pmax", dest="budget", metavar="N", type=positive_int, help="largest tree size P (required)")
    deprecated_alias(p, "--budget", "--pmax", "budget", type=positive_int)
    p.add_argument("--max-depth", type=positive_int, help="depth cap D (default: none)")
    p.add_argument("--check-dp", action="store_true", help="also run the Sequoia-style dynamic program and compare")
    add_timing_flags(p, "for Sequoia's hardware-aware choice of (P, D)")
    add_output_flags(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight tree`` with the parsed flags; return the exit status."""
    from ..simulation import positional as PT

    if args.budget is None:
        raise InputError("give --pmax N, the largest tree size")
    t = PT.best_tree(args.acceptance, args.budget, args.max_depth)
    d = t.to_dict()
    if args.check_dp:
        dp = PT.dp_values(args.acceptance, args.budget, args.max_depth)
        gap = float(np.max(np.abs(dp - t.expected_accepted)))
        d["dp_max_abs_difference"] = gap
        if gap > 1e-9:  # pragma: no cover - would be a bug, and tests check agreement
            raise RuntimeError(f"best-first and the dynamic program disagree by {gap}")
    timing = timing_from_args(args, "the hardware-aware choice")
    if timing is not None:
        d["hardware"] = PT.hardware_choice(args.acceptance, args.budget, timing, 0.0, args.max_depth)
        d["hardware"]["timing"] = timing.to_dict()
    if args.json or args.csv:
        emit(args, d, indent=2)
        return 0
    cap = f", depth <= {args.max_depth}" if args.max_depth else ""
    print(f"speedoflight tree: acceptance {t.acceptance.tolist()}{cap}")
    print(f"{'budget':>8s}{'E[X]':>10s}{'tokens/call':>13s}")
    shown = sorted({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, args.budget} & set(range(1, args.budget + 1)))
    for n in shown:
        print(f"{n:>8d}{t.expected_accepted[n - 1]:>10.4f}{t.tokens_per_call[n - 1]:>13.4f}")
    if args.check_dp:
        print(f"  dynamic program agrees (max |difference| {d['dp_max_abs_difference']:.1e})")
    print(f"\n  best tree of {args.budget} nodes (0-based rank paths, by depth):")
    print(f"  {d['paths']}")
    print(f"  vLLM speculative_token_tree: {d['vllm_speculative_token_tree']}")
    if "hardware" in d:
        h = d["hardware"]
        print(
            f"\n  hardware-aware choice: P = {h['P']}, D = {h['D']}, E[X] = {h['expected_accepted']:.3f}, "
            f"speedup {h['speedup']:.2f}x\n  ({timing.describe()})"
        )
    return 0
