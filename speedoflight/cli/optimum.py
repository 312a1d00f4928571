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
    p.add_argument(
        "--root-intervals",
        action="store_true",
        help="also an interval per root (prompt end or position) meant to hold that root's own exact optimum: "
        "fitted to hold 90%% of the roots of half the prompts of SmolLM2's and Gemma 3's oracles, it held 92-94%% "
        "of the other half's (76-100%% by model and kind), 72-100%% on a model it was not fitted on; from the root's "
        "draws' spread and what its trie knows (docs/theory.md section 8.9): printed per root, and in --json and --out",
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
    intervals = None
    inputs = None
    if args.root_intervals and args.replicates < 2:
        raise InputError(
            f"--replicates {args.replicates}: --root-intervals needs the spread of at least 2 draws; give 64"
        )
    if args.root_intervals:
        from ..readers.continuations import grafted_inputs

        inputs = grafted_inputs(args.dump, tails=("drop", "lump"), pool=args.pool_scope, draw=args.draw)
    with scheduler_client(args) as client:
        res = optimum(
            args.dump,
            inputs=inputs,
            pmax=args.pmax,
            positions=positions,
            replicates=args.replicates,
            tail=args.tail,
            pool=args.pool_scope,
            draw=args.draw,
            run=RunOptions(seed=args.seed, client=client),
        )
    if inputs is not None:
        from ..analysis.intervals import root_intervals, root_spread

        spread = root_spread(
            args.dump,
            pmax=args.pmax,
            positions=positions,
            replicates=args.replicates,
            seed=args.seed,
            pool=args.pool_scope,
            draw=args.draw,
            inputs=inputs,
            upper=None if res.upper is None else res.upper.curves,
        )
        intervals = root_intervals(spread)
    from .._util.progress import finish

    finish()  # the progress line goes before the answer is printed
    first = str(args.dump[0])
    model = (model_name(read_metadata(first)) if first.lower().endswith(".npz") else "") or "the verifier"
    if args.out:
        arrays = res.arrays()
        meta = {"command": command_line(args), "dumps": list(args.dump), "model": model, **res.to_dict(per_root=False)}
        if intervals is not None:
            arrays.update({"root_interval_low": intervals.low, "root_interval_high": intervals.high})
            meta["root_intervals"] = _interval_meta(intervals)
        write_optimum(args.out, arrays, meta)
    if args.json or args.csv:
        per_root = res.positions == "start" or len(res.root_seq) <= 5000
        d = res.to_dict(per_root=per_root)
        d["model"] = model
        if intervals is not None:
            d["root_intervals"] = intervals.to_dict() if per_root else _interval_meta(intervals)
        emit(args, d)
        return 0
    _print(res, model, args)
    if intervals is not None:
        _print_intervals(res, intervals)
    return 0


def _interval_meta(iv: Any) -> dict[str, Any]:
    from ..analysis.intervals import COVERS

    return {"rate": iv.rate, "calibrated_to": iv.calibrated_to, "covers": COVERS.format(rate=iv.rate)}


#: Roots printed by ``--root-intervals`` (all of them go to --json and --out).
SHOWN_ROOTS = 20


def _print_intervals(res: Any, iv: Any) -> None:
    from ..analysis.intervals import COVERS

    picks = [p for p in (8, 32, 64, 128) if p <= len(res.P)] or [len(res.P)]
    print()
    print(f"per-root intervals ({iv.rate:.0%}): {COVERS.format(rate=iv.rate)}")
    short = {k: p for k, p in iv.calibrated_to.items() if p < len(res.P)}
    if len(set(short.values())) == 1 and len(short) == len(iv.calibrated_to):
        p = next(iter(short.values()))
        print(f"  note: the constants were fitted up to P = {p}; larger P use P = {p}'s")
    elif short:
        where = " and ".join(
            f"P = {p} for roots on {k} continuation{'s' if k != 'one' else ''}" for k, p in short.items()
        )
        print(f"  note: the constants were fitted up to {where}; larger P use that P's")
    if res.positions != "start":
        print("  root S@T: continuation S (the dump's seq), position T")
    head = f"{'root':>14s}" + "".join(f"{'P = ' + str(p):>22s}" for p in picks)
    print(head)
    n = len(res.root_seq)
    for j in range(min(n, SHOWN_ROOTS)):
        name = (
            f"prompt {res.root_prompt[j]}"
            if res.root_pos[j] == 0 and res.root_seq[j] < 0
            else f"{res.root_seq[j]}@{res.root_pos[j]}"
        )
        cells = "".join(f"{f'{iv.low[j, p - 1]:.2f}..{iv.high[j, p - 1]:.2f}':>22s}" for p in picks)
        print(f"{name:>14s}{cells}")
    if n > SHOWN_ROOTS:
        print(f"  ... {n - SHOWN_ROOTS} more roots: all of them with --json or --out FILE.npz")


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
