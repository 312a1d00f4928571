"""``speedoflight simulate``: simulate the optimal draft tree E[X*(P)] on a branching random walk."""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from .._util.atomic import atomic_path
from ..errors import InputError
from ._common import add_output_flags, emit, out_file, positive_int, progress, seed_int
from ._flags import FORMATS_HELP, REPLICATES, add_reading_flags, add_top_k_flag, deprecated_alias

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight simulate`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "simulate",
        help="simulate the optimal draft tree E[X*(P)] on a branching random walk",
        description="Simulates E[X*(P)] of the best deterministic draft tree under the i.i.d. model, a branching "
        "random walk in which every expanded node draws its next-token distribution from a --pool of logged "
        "distributions or from a --family, or with --policy the exact E[X(P)] of a chain, a k-ary or a static "
        "tree under the same model against that optimum.",
        epilog=FORMATS_HELP,
    )
    simsrc = p.add_mutually_exclusive_group(required=True)
    simsrc.add_argument(
        "--pool",
        nargs="+",
        metavar="FILE",
        help="files of logged distributions whose rows the nodes draw: dumps, arrays or API logs (formats below)",
    )
    simsrc.add_argument(
        "--family",
        metavar="SPEC",
        help="uniform:K, geometric:q, zipf:s:V, dirichlet:alpha:V (fresh per node), deterministic",
    )
    add_reading_flags(p)
    p.add_argument("--pmax", type=positive_int, required=True, metavar="P", help="largest tree size P")
    p.add_argument(
        "--replicates",
        type=positive_int,
        default=REPLICATES,
        metavar="N",
        help=f"independent trees (default {REPLICATES})",
    )
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="seed of all replicates (default 0)")
    p.add_argument(
        "--policy",
        default="optimal",
        metavar="POLICY",
        help="optimal (default), chain, kary:K, or static (tree optimised for the pool's mean rank probabilities); "
        "the last three are exact under the i.i.d. model and are reported against the simulated optimum",
    )
    p.add_argument(
        "-P",
        dest="at",
        metavar="P,...",
        help="P values to report, e.g. 1,8,64 (default: every P to 1000, then log-spaced)",
    )
    deprecated_alias(p, "--at", "-P", "at")
    p.add_argument("--tail", default="drop", choices=("drop", "lump"), help="pool rows: unlisted mass")
    add_top_k_flag(p)
    deprecated_alias(p, "--keep", "--top-k", "keep", type=positive_int)
    p.add_argument(
        "--pool-rows",
        type=positive_int,
        default=1 << 18,
        metavar="N",
        help="rows the pool holds at most; past it, a uniform sample of that many (default 262,144: bounded memory)",
    )
    p.add_argument(
        "--export-tree",
        metavar="FILE.json",
        type=out_file(".json"),
        help="write one optimal tree of Pmax nodes (atomically)",
    )
    add_output_flags(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight simulate`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..simulation import simulate as S

    if args.family is not None:
        for flag in ("kind", "vocab_size", "tensor"):
            if getattr(args, flag) is not None:
                raise InputError(f"--{flag.replace('_', '-')} applies to --pool, not --family")
        dist = S.family(args.family)
    else:
        dist = S.pool(
            args.pool,
            kind=args.kind,
            vocab_size=args.vocab_size,
            temperature=args.temperature,
            tail=args.tail,
            keep=args.keep,
            max_rows=args.pool_rows,
            seed=args.seed,
        )
    at = None
    if args.at:
        try:
            at = [int(float(x)) for x in args.at.split(",") if x.strip()]
        except (ValueError, OverflowError):
            raise InputError(f"-P {args.at!r}: expected integers like 1,8,64") from None
    from ..simulation.policies import against_optimum, parse_dynamic, policy_curve

    dynamic = parse_dynamic(args.policy) if args.policy.startswith("dynamic") else None
    if args.policy != "optimal" and dynamic is None:
        policy_curve(args.policy, dist, np.array([1]), seed=args.seed)  # validate before simulating
    res = S.simulate(
        dist,
        args.pmax,
        replicates=args.replicates,
        seed=args.seed,
        at=at,
        progress=progress(args),
    )
    if args.export_tree:
        tree = S.optimal_tree(dist, args.pmax, seed=args.seed)
        with atomic_path(args.export_tree) as tmp, open(tmp, "w") as fh:
            json.dump({"distribution": dist.name, "seed": args.seed, **tree}, fh)
    out = res.to_dict()
    if args.policy != "optimal":
        out.update(against_optimum(args.policy, dist, res, args.pmax, dynamic=dynamic))
    if args.json or args.csv:
        emit(args, out, indent=2)
        return 0
    _print_result(args, res, out, dynamic is not None)
    return 0


def _print_result(args: argparse.Namespace, res: Any, out: dict[str, Any], dynamic: bool) -> None:
    """Print the simulated optimum, or a policy against it, at about 30 log-spaced P."""
    show = res.P if len(res.P) <= 40 else res.P[np.unique(np.round(np.geomspace(1, len(res.P), 30)).astype(int) - 1)]
    if args.policy != "optimal":
        how = "simulated" if dynamic else "exact under the i.i.d. model"
        print(
            f"speedoflight simulate: policy {args.policy} ({how}) against the optimal tree "
            f"({res.replicates} replicates, seed {res.seed})"
        )
        print(f"  node distributions: {res.distribution}" + (f" ({res.note})" if res.note else ""))
        wd = max(12, len(args.policy) + 2)
        print(f"\n{'P':>10s}{args.policy:>{wd}s}{'optimal':>12s}{'fraction':>10s}")
        for p in show:
            i = int(np.searchsorted(res.P, p))
            print(f"{p:>10d}{out['mean'][i]:>{wd}.4f}{res.mean[i]:>12.4f}{out['fraction_of_optimum'][i]:>10.3f}")
        return
    print(f"speedoflight simulate: optimal draft tree, {res.replicates} replicates, seed {res.seed}")
    print(f"  node distributions: {res.distribution}" + (f" ({res.note})" if res.note else ""))
    print("  E[X*(P)] = accepted draft tokens per iteration; tokens per verifier call = E[X*] + 1\n")
    print(f"{'P':>10s}{'E[X*(P)]':>12s}{'se':>10s}   {100 * res.confidence:g}% CI")
    for p in show:
        i = int(np.searchsorted(res.P, p))
        print(f"{p:>10d}{res.mean[i]:>12.4f}{res.se[i]:>10.4f}   {res.ci_low[i]:.4f}..{res.ci_high[i]:.4f}")
    shape = res.to_dict()["shape"]
    print(
        f"\n  optimal tree at P = {shape['pmax']}: depth {shape['depth']}, root branching {shape['root_branching']:.2f}, "
        f"nodes per depth {[round(x, 1) for x in shape['nodes_per_depth'][:12]]}"
    )
