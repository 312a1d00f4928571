"""``speedoflight export``: the ceiling (or a measured log) as a speculation profile and each engine's what-if."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ..errors import InputError
from ._common import add_output_flags, command_line, emit, out_file, positive_int, seed_int
from ._flags import CONTINUATIONS_HELP, REPLICATES, measured_help

__all__ = ["add_parser", "run"]

ENGINE_CHOICES = ("vllm", "sglang", "trtllm", "llamacpp", "atom", "dynamo", "profile")


def add_parser(sub: Any) -> None:
    """Register ``speedoflight export`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "export",
        help="the ceiling as a what-if an engine can run: a speculation profile and each engine's synthetic "
        "acceptance setting",
        description="Prints the setting that makes each engine (vLLM, SGLang, TensorRT-LLM, llama.cpp, ATOM, "
        "Dynamo's mocker) accept drafts as the ceiling's best chain of K draft tokens on the verifier's logged "
        "continuations does (--dump), or as a measured log's own per-position acceptance does (--measured), each "
        "converted to that engine's convention (synthetic acceptance), and with --out writes it as NVIDIA "
        "specdec_bench's speculation_profile.json (schema 1.0).",
        epilog=measured_help(),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dump", nargs="+", metavar="DUMP", help=CONTINUATIONS_HELP)
    src.add_argument(
        "--measured",
        metavar="FILE",
        help="a measured acceptance log with per-position counts (a format below that gives the distribution of X)",
    )
    p.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        help="print only this engine's setting ('profile': the profile's JSON); default: every engine",
    )
    p.add_argument(
        "-K",
        dest="k",
        type=positive_int,
        metavar="K",
        help="draft tokens (num_speculative_tokens; default 4 for --dump, the measured K for --measured)",
    )
    p.add_argument(
        "--positions",
        choices=("start", "all"),
        default="start",
        help="--dump: roots at each prompt's end (start, default) or at every generated position (all)",
    )
    p.add_argument("--label", metavar="NAME", help="--measured: which system, where the log holds several")
    p.add_argument(
        "--replicates",
        type=positive_int,
        default=REPLICATES,
        metavar="N",
        help=f"draws of the unknown rows per root ({REPLICATES})",
    )
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="seed of the draws (0)")
    p.add_argument(
        "--out", type=out_file(".json"), metavar="FILE.json", help="write the profile to this .json (atomically)"
    )
    add_output_flags(p, json_help="print the profile (with every engine's setting) as JSON")
    p.set_defaults(run=run)


def _check_out(out: str, inputs: list[str]) -> None:
    """Refuse an --out that is one of the inputs (it would be replaced by the profile)."""
    from .._util.paths import expand_paths
    from .._util.remote import is_url

    target = os.path.realpath(out)
    local = [i for i in inputs if not is_url(i)]
    for f in expand_paths(local) if local else []:
        if os.path.realpath(f) == target:
            raise InputError(f"--out {out} is one of the inputs; write the profile to another file")


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight export`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..analysis.export import DEFAULT_K, export_ceiling, export_measured

    if args.out:
        _check_out(args.out, list(args.dump or [args.measured]))
    if args.measured and args.positions != "start":
        raise InputError("--positions chooses the roots of --dump; a measured log has its own")
    if args.dump and args.label:
        raise InputError("--label picks a system of a --measured log; --dump has one verifier")
    cmd = command_line(args)
    if args.dump:
        res = export_ceiling(
            args.dump,
            args.k or DEFAULT_K,
            positions=args.positions,
            replicates=args.replicates,
            seed=args.seed,
            command=cmd,
        )
    else:
        res = export_measured(args.measured, args.k, label=args.label, command=cmd)
    if args.out:
        from .._util.atomic import atomic_path

        with atomic_path(args.out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            json.dump(res.profile, fh, indent=2, allow_nan=False)
            fh.write("\n")
    if args.json or args.engine == "profile":
        emit(args, res.profile, indent=2)
        return 0
    if args.csv:
        rows = [
            {"position": i + 1, "marginal": m, "conditional": c}
            for i, (m, c) in enumerate(zip(res.marginal, res.conditional, strict=True))
        ]
        emit(args, res.profile, rows=rows)
        return 0
    _print(res, args)
    return 0


def _rates(values: list[float]) -> str:
    return ", ".join(f"{v:.4f}" for v in values)


def _print(res: Any, args: argparse.Namespace) -> None:
    head = f"wrote {args.out}" if args.out else "not written (--out FILE.json writes it)"
    print(f"speedoflight export: {head}: the speculation profile of {res.what}")
    x = res.mean_accept_length - 1
    print(
        f"  AL = {res.mean_accept_length:.4f} tokens per verifier call (X = {x:.4f} accepted draft tokens); "
        f"P(X >= i), i = 1..{res.k}: {_rates(res.marginal)}"
    )
    print(f"  P(i accepted | 1..i-1 accepted): {_rates(res.conditional)}")
    for kind, c in res.per_category.items():
        print(
            f"  {kind}: AL = {c['mean_accept_length']:.4f}; P(X >= i): {_rates(c['marginal_accept_rates'])} "
            f"({c['prompts']} prompts)"
        )
    print()
    print("the same acceptance in each engine (synthetic acceptance: benchmarking only, the text is not valid):")
    for s in res.snippets:
        if args.engine and s.engine != args.engine:
            continue
        print(f"  {s.engine} ({s.knob}; keeps {s.keeps}):")
        print(f"    {s.text}")
        print(f"    meaning: {s.convention}")
        for note in s.notes:
            print(f"    note: {note}")
        print(f"    source: {s.source}")
    print()
    for note in res.notes:
        print(f"  note: {note}")
