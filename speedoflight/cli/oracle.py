"""``speedoflight oracle``: the exact optimal draft tree of a real model, by best-first search with real forward passes."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InputError
from ._common import add_output_flags, command_line, emit, finite, fmt, out_file, positive_int, progress
from ._flags import add_model_flags

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight oracle`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "oracle",
        help="the exact optimal draft tree of a real model, by best-first search with real forward passes",
        description="Computes the exact E[X*(P)] of the best deterministic draft tree of a real model, P = 1..pmax, "
        "by expanding the model's own token tree best-first with tree-attention forward passes over the KV cache "
        "of each prompt (tokenised as is) or, with --dump, of each prompt followed by the tokens the dump sampled.",
    )
    add_model_flags(p, "use only the first N prefixes")
    p.add_argument("--pmax", type=positive_int, required=True, metavar="P", help="largest tree size P")
    p.add_argument("--temperature", type=finite, default=1.0, metavar="T", help="verifier temperature (> 0, default 1)")
    p.add_argument(
        "--lookahead", type=positive_int, default=2, metavar="N", help="candidates per forward pass (work only)"
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=16, metavar="N", help="prefixes per forward pass (default 16)"
    )
    p.add_argument(
        "--dump",
        metavar="DUMP",
        help="a speedoflight dump of this model: prefixes = each prompt + the tokens it sampled (see --positions)",
    )
    p.add_argument(
        "--positions",
        default="0",
        metavar="N,...",
        help="with --dump: comma-separated prefix positions (default 0)",
    )
    p.add_argument(
        "--continuations",
        type=positive_int,
        metavar="N",
        help="with --dump: only the first N continuations of each prompt",
    )
    p.add_argument(
        "--out", type=out_file(".npz"), metavar="FILE.npz", help="also write the per-prefix curves to this .npz"
    )
    add_output_flags(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight oracle`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..formats.oracle import save_oracle
    from ..models.oracle import run_oracle

    try:
        positions = [int(x) for x in args.positions.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--positions {args.positions!r}: give comma-separated integers, e.g. 0,16,32") from None
    if args.out and not args.out.lower().endswith(".npz"):
        raise InputError(f"--out {args.out}: oracle curves are written as .npz; end the name with .npz")
    res = run_oracle(
        model=args.model,
        prompts=args.prompts,
        pmax=args.pmax,
        temperature=args.temperature,
        lookahead=args.lookahead,
        batch_size=args.batch_size,
        per_kind=args.per_kind,
        limit=args.limit,
        dump=args.dump,
        positions=positions,
        continuations=args.continuations,
        progress=progress(args),
        command=command_line(args),
    )
    if args.out:
        save_oracle(args.out, res)
    if args.json or args.csv:
        obj = {
            "P": res.P.tolist(),
            "mean": res.mean.tolist(),
            "se": res.se.tolist(),
            "ci_low": res.ci_low.tolist(),
            "ci_high": res.ci_high.tolist(),
            "confidence": res.confidence,
            "curves": res.curves.tolist(),
            "kinds": res.kinds,
            "temperature": res.temperature,
            "model": res.meta.get("model", {}).get("name"),
            "forwards": res.forwards,
            "forwards_per_s": res.forwards_per_s,
            "nodes_forwarded": res.nodes_forwarded,
            "seconds": res.seconds,
        }
        emit(args, obj)
        return 0
    n = res.curves.shape[0]
    print(f"exact optimal tree, {res.meta['model']['name']}, T = {res.temperature:g}, {n} prefixes")
    print(f"{'P':>8} {'E[X*(P)]':>10} {'CI':>21}")
    shown = sorted({p for p in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024) if p <= args.pmax} | {args.pmax})
    for p in shown:
        i = p - 1
        print(f"{p:>8} {res.mean[i]:>10.4f} {fmt(res.ci_low[i]):>10} {fmt(res.ci_high[i]):>10}")
    print(
        f"{res.forwards} forward passes in {res.seconds:.1f} s ({res.forwards_per_s:.1f}/s), "
        f"{res.nodes_forwarded} tree nodes forwarded, {100 * res.wasted_fraction:.0f}% of them never popped"
    )
    return 0
