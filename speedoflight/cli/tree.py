"""``speedoflight tree``: best static draft tree for a positional acceptance vector (Sequoia / Medusa style)."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..errors import InputError
from ._common import add_output_flags, bounded_int, emit, positive_int
from ._flags import add_timing_flags, deprecated_alias, timing_from_args

__all__ = ["add_parser", "run"]

#: The largest tree the command builds: its output lists every node's rank path (memory and time grow with P
#: times the depth), and no engine verifies more than a few hundred draft tokens per pass.
TREE_SIZE = bounded_int(4096, "tree lists every node's path, and no engine verifies that many draft tokens per pass")


def add_parser(sub: Any) -> None:
    """Register ``speedoflight tree`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "tree",
        help="best static draft tree for a positional acceptance vector (Sequoia / Medusa style)",
        description="Finds the best static draft tree for a positional acceptance vector (acceptance[k]: the "
        "probability that the verifier's token is the drafter's (k+1)-th ranked token, the same at every node) "
        "and prints the recommended tree (with a device, the hardware-aware one) with its settings in vLLM's, "
        "SGLang's, llama.cpp's and TensorRT-LLM's terms, then E[X] per tree size 1..P and the tree as rank paths.",
    )
    p.add_argument("--acceptance", required=True, metavar="A1,A2,...", help="p1,p2,... (each in [0, 1], sum <= 1)")
    p.add_argument("--pmax", dest="budget", metavar="P", type=TREE_SIZE, help="largest tree size P (required)")
    deprecated_alias(p, "--budget", "--pmax", "budget", type=TREE_SIZE)
    p.add_argument("--max-depth", type=positive_int, metavar="D", help="depth cap D (default: none)")
    p.add_argument("--check-dp", action="store_true", help="also run the Sequoia-style dynamic program and compare")
    add_timing_flags(p, "for Sequoia's hardware-aware choice of (P, D)")
    add_output_flags(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight tree`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..analysis.settings import Target, engine_settings
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
        h = PT.hardware_choice(t.acceptance, args.budget, timing, 0.0, args.max_depth)
        h["timing"] = timing.to_dict()
        d["hardware"] = h
        paths, ex, speed, how = h["paths"], h["expected_accepted"], h["speedup"], "the hardware-aware choice"
    else:
        paths = [list(p) for p in t.tree(args.budget)]
        ex, speed, how = float(t.expected_accepted[len(paths) - 1]), None, f"the best tree of <= {args.budget} nodes"
    c = PT.best_chain(t.acceptance, args.budget, timing, 0.0, args.max_depth)
    who = "the acceptance vector"
    rec = Target(len(paths), max(map(len, paths)), tuple(map(tuple, paths)), speed, who, source=how)
    chain = Target(c["K"], c["K"], tuple(map(tuple, c["paths"])), c["speedup"], who, source="the best chain")
    settings = engine_settings(rec, chain)
    notes = _edge_notes(args, timing, rec, c["K"])
    if timing is not None and timing.caveat:
        notes.append(timing.caveat)
    d["recommended"] = {**rec.to_dict(), "expected_accepted": ex}
    d["best_chain"] = {**chain.to_dict(), "expected_accepted": c["expected_accepted"]}
    d["engine_settings"] = settings.to_dict()
    d["notes"] = notes
    if args.json or args.csv:
        emit(args, d, indent=2)
        return 0
    for line in _text(args, t, d, rec, ex, c, settings, notes, timing):
        print(line)
    return 0


def _edge_notes(args: argparse.Namespace, timing: Any, rec: Any, k: int) -> list[str]:
    """Return notes where a hardware-aware optimum sits at the edge of the range searched (it may lie beyond)."""
    if timing is None:
        return []
    notes = []
    table = int(timing.latency.P[-1]) if timing.latency is not None else None
    if table is not None and rec.P >= table and table < args.budget:
        notes.append(f"P = {rec.P} is the largest the --latency table covers: measure larger P to search beyond it")
    elif rec.P >= args.budget:
        notes.append(
            f"P = {rec.P} is the largest searched (--pmax {args.budget}): the best P may be larger; raise --pmax"
        )
    if args.max_depth and rec.depth >= args.max_depth:
        notes.append(f"depth {rec.depth} is the --max-depth cap: a deeper tree may be faster; raise --max-depth")
    if k >= min(args.budget, args.max_depth or args.budget) and k > 1:
        notes.append(f"the best chain, K = {k}, is as long as the range allows: a longer one may be faster")
    return notes


def _text(
    args: argparse.Namespace, t: Any, d: dict, rec: Any, ex: float, c: dict, settings: Any, notes: list, timing: Any
) -> list[str]:
    """Return the text: the recommendation and its engine settings first, then the table and the tree."""
    speed = f", {rec.speedup:.2f}x" if rec.speedup is not None else ""
    out = [
        f"speedoflight tree: set P = {rec.P}, depth {rec.depth} ({rec.source}): E[X] = {ex:.3f} accepted draft "
        f"tokens per call{speed}"
    ]
    out += [f"  note: {n}" for n in notes]
    best = f"K = {c['K']}, E[X] = {c['expected_accepted']:.3f}"
    out.append(f"  in your engine's terms (chain-only engines run the best chain, {best}):")
    out += [f"    {line}" for line in settings.lines]
    out += [f"  note: {n}" for n in settings.notes]
    cap = f", depth <= {args.max_depth}" if args.max_depth else ""
    out += ["", f"acceptance {t.acceptance.tolist()}{cap}", f"{'budget':>8s}{'E[X]':>10s}{'tokens/call':>13s}"]
    shown = sorted({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, args.budget} & set(range(1, args.budget + 1)))
    out += [f"{n:>8d}{t.expected_accepted[n - 1]:>10.4f}{t.tokens_per_call[n - 1]:>13.4f}" for n in shown]
    if args.check_dp:
        out.append(f"  dynamic program agrees (max |difference| {d['dp_max_abs_difference']:.1e})")
    out += ["", f"  the recommended tree, {rec.P} nodes (0-based rank paths, by depth; TensorRT-LLM's eagle_choices):"]
    out.append(f"  {[list(p) for p in sorted(rec.paths, key=lambda q: (len(q), q))]}")
    if timing is not None:
        out.append(f"  ({timing.describe()})")
    return out
