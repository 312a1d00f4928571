"""``speedoflight optimum``: the ceiling of the verifier on its own logged continuations (the grafted tree)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InputError
from ..options import RunOptions
from ._common import add_output_flags, bounded_int, command_line, emit, out_file, positive_int, seed_int
from ._flags import CONTINUATIONS_HELP, REPLICATES, add_scheduler_flag, deprecated_alias, scheduler_client

__all__ = ["add_parser", "run"]

#: ``--pool-scope`` (``--pool`` before): the rows an unknown node of the grafted tree draws from.
POOL_SCOPES = ("prompt", "all")


def add_parser(sub: Any) -> None:
    """Register ``speedoflight optimum`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "optimum",
        help="the ceiling: the real optimal draft tree predicted from a dump's sampled continuations",
        description="Predicts the ceiling, E[X*(P)] of the real optimal draft tree, from the verifier's sampled "
        "continuations with the grafted tree (docs/theory.md section 8): the nodes the continuations visited keep "
        "their real rows, every other node draws a row from the pool (--pool-scope, --draw), and the exact top-P "
        "search runs on top, averaged over draws and over roots at each prompt's end (--positions start, what "
        "`oracle` computes) or at every generated position (--positions all).",
    )
    p.add_argument("--dump", nargs="+", required=True, metavar="DUMP", help=CONTINUATIONS_HELP)
    p.add_argument("--pmax", type=positive_int, default=128, metavar="P", help="largest tree size P (default 128)")
    p.add_argument(
        "--positions",
        default="start",
        metavar="start|all|N,...",
        help="start (each prompt's end, default), all (every position), or a list like 8,16,24",
    )
    p.add_argument(
        "--replicates",
        type=bounded_int(100_000, "the mean over roots needs a few dozen draws; a million takes days"),
        default=REPLICATES,
        metavar="N",
        help=f"draws of the unknown rows per root ({REPLICATES})",
    )
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="seed of the draws and the bootstrap (0)")
    p.add_argument(
        "--tail",
        choices=("drop", "lump", "both"),
        default="drop",
        help="the mass a row does not list: drop (lower estimate, default), lump (upper), both",
    )
    p.add_argument(
        "--pool-scope",
        choices=POOL_SCOPES,
        default="prompt",
        help="the pool an unknown node draws its row from: the rows logged for the same prompt (default) or all",
    )
    deprecated_alias(p, "--pool", "--pool-scope", "pool_scope", here=True, choices=POOL_SCOPES)
    p.add_argument(
        "--draw",
        choices=("uniform", "entropy", "depth"),
        default="depth",
        help="how an unknown node draws its row from the pool: from rows logged at a similar depth (positions in "
        "blocks of 8; default), from rows that followed a parent of similar entropy, or uniformly",
    )
    add_output_flags(p)
    add_scheduler_flag(p)
    p.add_argument(
        "--out",
        type=out_file(".npz"),
        metavar="FILE.npz",
        help="also write the per-root curves to this .npz (atomically)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _positions(text: str) -> str | list[int]:
    if text in ("start", "all"):
        return text
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--positions {text!r}: give start, all, or comma-separated positions like 8,16,24") from None
    if not out:
        raise InputError(f"--positions {text!r}: give start, all, or comma-separated positions like 8,16,24")
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight optimum`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from .._util.provenance import model_name
    from ..formats.optimum import write_optimum
    from ..readers.dumpfile import read_metadata
    from ..simulation.grafted import optimum

    positions = _positions(args.positions)
    if args.out and not args.out.lower().endswith(".npz"):
        raise InputError(f"--out {args.out}: the per-root curves are written as .npz; end the name with .npz")
    for d in args.dump:
        if not str(d).lower().endswith((".npz", ".jsonl", ".json", ".ndjson")):
            raise InputError(
                f"{d}: the grafted tree needs a speedoflight dump with token ids and sampled tokens (make one with "
                "`speedoflight dump --samples-per-prompt 8`) or an API log with top-k log-probabilities (.jsonl)"
            )
    with scheduler_client(args) as client:
        res = optimum(
            args.dump,
            pmax=args.pmax,
            positions=positions,
            replicates=args.replicates,
            tail=args.tail,
            pool=args.pool_scope,
            draw=args.draw,
            run=RunOptions(seed=args.seed, client=client),
        )
    from .._util.progress import finish

    finish()  # the progress line goes before the answer is printed
    first = str(args.dump[0])
    model = (model_name(read_metadata(first)) if first.lower().endswith(".npz") else "") or "the verifier"
    if args.out:
        write_optimum(
            args.out,
            res.arrays(),
            {"command": command_line(args), "dumps": list(args.dump), "model": model, **res.to_dict(per_root=False)},
        )
    if args.json or args.csv:
        d = res.to_dict(per_root=res.positions == "start" or len(res.root_seq) <= 5000)
        d["model"] = model
        emit(args, d)
        return 0
    _print(res, model, args)
    return 0


def _print(res: Any, model: str, args: argparse.Namespace) -> None:
    main = res.main
    how = {"drop": "tails dropped: a lower estimate", "lump": "tails lumped: an upper estimate"}[main.tail]
    where = {"start": "at each prompt's end", "all": "averaged over every position of the continuations"}.get(
        res.positions, f"at positions {res.positions} of the continuations"
    )
    level = f"{100 * res.confidence:g}% CI"
    print(f"speedoflight optimum: the ceiling of {model} {where} (grafted tree, {how})")
    picks = [p for p in (1, 8, 32, 64, 128, 256, 1024) if p <= len(res.P)]
    if len(res.P) not in picks:
        picks.append(len(res.P))
    print(
        "  "
        + "; ".join(
            f"P = {p}: {main.mean[p - 1]:.2f} (95% CI {main.ci_low[p - 1]:.2f}..{main.ci_high[p - 1]:.2f})"
            for p in picks
        )
        + f" accepted draft tokens per verifier call ({level}; tokens per call = E[X] + 1)"
    )
    n_prompts = len(set(res.root_prompt.tolist()))
    print(
        f"  from {n_prompts} prompts x {res.continuations_per_prompt:g} continuations, {len(res.root_seq)} root(s), "
        f"{res.replicates} draws per root, seed {res.seed}; each root's trie holds "
        f"{res.root_known.min()}-{res.root_known.max()} logged rows"
    )
    print()
    cols = f"{'P':>8s}{'E[X*(P)]':>12s}   {level:<17s}"
    if res.lower is not None and res.upper is not None:
        cols += f"{'lumped (upper)':>16s}"
    print(cols)
    for p in sorted(set(picks) | {2, 4, 16} & set(range(1, len(res.P) + 1))):
        i = p - 1
        line = f"{p:>8d}{main.mean[i]:>12.4f}   {main.ci_low[i]:.4f}..{main.ci_high[i]:.4f}"
        if res.lower is not None and res.upper is not None:
            line += f"{res.upper.mean[i]:>16.4f}"
        print(line)
    print()
    for note in res.notes:
        print(f"  note: {note}")
    if args.out:
        print(f"wrote {args.out}")
