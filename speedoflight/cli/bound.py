"""``speedoflight bound``: bounds on accepted draft tokens per iteration at verifier capacity P."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from .._util.jsonsafe import finite_or_none
from ..errors import InputError
from ..options import ReadOptions, RunOptions
from ._common import bootstrap_count, cell, finite, progress, seed_int
from ._flags import (
    FORMATS_HELP,
    add_reading_flags,
    add_scheduler_flag,
    add_timing_flags,
    scheduler_client,
    timing_from_args,
)

__all__ = ["add_parser", "parse_p", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight bound`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "bound",
        help="bounds on accepted draft tokens per iteration at verifier capacity P",
        description="Prints every bound on E[X*(P)], the accepted draft tokens per iteration of the best "
        "deterministic draft tree of P nodes, from mu and mu2 or from files of logged distributions: the "
        "published closed form, the Lorden bounds, the renewal prediction and the trivial bound, and from files "
        "also the exact i.i.d. curve, the i.i.d. threshold bound and the trajectory bound; with a device, the "
        "speedup under each, the best P and its setting in each engine's terms.",
        epilog=FORMATS_HELP,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--mu", type=finite, metavar="MU", help="expected entropy (nats, or bits with --base 2)")
    src.add_argument(
        "--from",
        dest="sources",
        nargs="+",
        metavar="FILE",
        help="files of logged distributions: dumps, arrays or API logs (formats below)",
    )
    p.add_argument("--mu2", type=finite, metavar="MU2", help="expected second log-moment (with --mu)")
    p.add_argument("--base", default="e", choices=("e", "2", "10"), help="log base of --mu/--mu2 (default e)")
    add_reading_flags(p)
    p.add_argument(
        "-P",
        dest="p",
        default="1,2,4,8,16,32,64,128,256,512,1024,1e4,1e5,1e6",
        metavar="P,...",
        help="capacities: a list (1,4,16) or a log-spaced range (1:1e6, or 1:1e6:25 for 25 points)",
    )
    p.add_argument("--tail", default="drop", choices=("drop", "lump"), help="top-k tails in the i.i.d. pool")
    add_timing_flags(p, "for the speedup columns")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--csv", action="store_true", help="print CSV rows")
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="bootstrap seed (default 0)")
    p.add_argument(
        "--bootstrap", type=bootstrap_count, default=500, metavar="N", help="bootstrap replicates (default 500)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_scheduler_flag(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight bound`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..theory.curve import LABELS
    from ..theory.registry import CURVES

    if args.mu is not None and args.mu2 is None:
        raise InputError("--mu needs --mu2 (the expected second log-moment)")
    if args.mu is None and args.mu2 is not None:
        raise InputError("--mu2 goes with --mu; with --from the moments are estimated")
    if args.scheduler and not args.sources:
        raise InputError(
            "--scheduler reads files on dask: give --from FILES (with --mu/--mu2 there is nothing to read)"
        )
    timing = timing_from_args(args, "speedup columns")
    with scheduler_client(args) as client:
        curve = _curve(args, parse_p(args.p), timing, client)
    d = curve.to_dict()
    lead: list[str] = []
    if timing is not None and d.get("best"):
        d["recommended"], lead = _recommended(curve, d["best"])
    if args.json:
        print(json.dumps(finite_or_none(d), indent=2, allow_nan=False))
        return 0
    names = list(curve.columns)
    extra = [f"speedup_{k}" for k in names] if timing else []
    if args.csv:
        w = csv.writer(sys.stdout)
        w.writerow(["P", *names, *extra])
        for row in d["rows"]:
            w.writerow([row["P"], *(row[k] for k in names), *(row[k] for k in extra)])
        return 0
    for line in lead:  # the answer first: the best P under the tightest bound, in each engine's own settings
        print(line)
    print(
        f"speedoflight bound: mu = {curve.mu:.4f} nats, mu2 = {curve.mu2:.4f} nats^2"
        + (f" (from {len(curve.sources)} file(s))" if curve.sources else "")
    )
    print(
        "E[X*(P)]: accepted draft tokens per iteration of the best draft tree of P nodes "
        "(tokens per verifier call = E[X] + 1)"
    )
    short = {k: CURVES[k].short for k in names}
    print()
    print(f"{'P':>10s}" + "".join(f"{short[k]:>13s}" for k in names))
    for row in d["rows"]:
        print(f"{row['P']:>10.4g}" + "".join(cell(row[k]) for k in names))
    print()
    for k in names:
        print(f"  {short[k]:>12s}: {LABELS[k]}")
    for note in curve.notes:
        print(f"  note: {note}")
    if curve.trajectory is not None:
        t = curve.trajectory
        i = len(curve.P) - 1
        print(
            f"  trajectory {100 * t.confidence:g}% CI at P = {curve.P[i]:g}: {t.ci_low[i]:.3f}..{t.ci_high[i]:.3f} "
            f"(bootstrap over prompts)"
        )
    if timing:
        print()
        print(f"speedup ceiling ({timing.describe()}; one drafter level, the least a drafter spends):")
        told = [k for k in names if k != "trivial"]  # X = P (every draft accepted) says nothing about a speedup
        print(f"{'P':>10s}" + "".join(f"{short[k]:>13s}" for k in told))
        for row in d["rows"]:
            print(f"{row['P']:>10.4g}" + "".join(f"{row['speedup_' + k]:>13.2f}" for k in told))
        best = ", ".join(f"{short[k]} {v['P']:.0f} ({v['speedup']:.2f}x)" for k, v in d["best"].items() if k in told)
        print("  best P:  " + best)
        if "trivial" in names:
            print(
                "  the trivial bound (X = P: every drafted token accepted) is left out of the speedups: it would only pick the largest P the GPU verifies at no extra cost"
            )
    return 0


#: The curve whose best P is the recommendation: the tightest true upper bound present.
PREFERRED = ("trajectory", "iid_bound", "lorden")


def _recommended(curve: Any, best: dict[str, dict[str, float]]) -> tuple[dict[str, Any], list[str]]:
    """Return the best P under the tightest bound present and its engine settings (for --json), and its text.

    The chain-only engines get the best chain under the same bound (a chain is a tree, so the bound holds for
    it), paying K drafter levels; a bound gives no tree shape, so the tree engines get the budget P only.
    """
    import numpy as np

    from ..analysis.settings import Target, engine_settings
    from ..theory.registry import CURVES
    from ..timing import speedup

    name = next(k for k in (*PREFERRED, *best) if k in best)
    p, s = int(best[name]["P"]), float(best[name]["speedup"])
    k = np.arange(1, max(p, 64) + 1, dtype=np.float64)
    sk = speedup(curve.at(k)[name], k, curve.timing, depth=k)
    i = int(np.nanargmax(sk))
    bound = f"the {CURVES[name].short} bound"
    tree = Target(p, None, None, s, bound, source=f"the best P under {bound} (one drafter level)")
    chain = Target(i + 1, i + 1, None, float(sk[i]), bound, source=f"the best chain under {bound}")
    e = engine_settings(tree, chain)
    e.notes.append(
        "a bound gives the best P, not the tree's shape (its speedup assumes one drafter level, the least a drafter "
        "spends): speedoflight compare --dump (or tree) finds the depth for SGLang and TensorRT-LLM"
    )
    if curve.timing.caveat:
        e.notes.append(curve.timing.caveat)
    rec = {"curve": name, "P": p, "speedup": s, "best_chain": chain.to_dict(), "engine_settings": e.to_dict()}
    lines = [
        f"speedoflight bound: best P = {p} under the {CURVES[name].short} bound: at most {s:.2f}x "
        f"({curve.timing.describe()}; one drafter level)",
        f"  in your engine's terms (chain-only engines: the best chain under the same bound, K = {i + 1}):",
        *(f"    {x}" for x in e.lines),
        *(f"  note: {n}" for n in e.notes),
        "",
    ]
    return rec, lines


def _curve(args: argparse.Namespace, p: Any, timing: Any, client: Any) -> Any:
    """Compute the bound curve with the parsed flags (files read on dask when ``client`` is given)."""
    from ..theory.curve import bound_curve

    return bound_curve(
        p,
        mu=args.mu,
        mu2=args.mu2,
        base=args.base,
        sources=args.sources,
        tail=args.tail,
        timing=timing,
        n_boot=args.bootstrap,
        read=ReadOptions(kind=args.kind, vocab_size=args.vocab_size, temperature=args.temperature, tensor=args.tensor),
        run=RunOptions(seed=args.seed, progress=progress(args), client=client),
    )


def parse_p(text: str) -> Any:
    """Parse ``-P``: a list ``1,4,16`` or a log-spaced range ``1:1e6`` (``1:1e6:25`` for 25 points).

    Ranges are rounded to integers; a range without a count has 4 points per decade.

    Parameters
    ----------
    text
        The ``-P`` argument as typed.

    Returns
    -------
    numpy.ndarray
        The verifier capacities (each >= 1), sorted and without repeats, as float64.

    Raises
    ------
    InputError
        When the text is not such a list or range.

    """
    import math

    import numpy as np

    from ..theory import bounds as B
    from ..theory.curve import MAX_P_POINTS

    text = text.strip()
    try:
        if ":" in text:
            parts = [float(x) for x in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            lo, hi = parts[0], parts[1]
            if not (1 <= lo < hi) or not math.isfinite(hi):
                raise InputError(f"-P {text}: a range needs 1 <= start < stop")
            n = int(parts[2]) if len(parts) == 3 else max(2, round(4 * math.log10(hi / lo)) + 1)
            if n < 2:
                raise InputError(f"-P {text}: a range needs at least 2 points")
            if n > MAX_P_POINTS:
                raise InputError(
                    f"-P {text}: {n} points; at most {MAX_P_POINTS} (lower the count after the second ':')"
                )
            return np.unique(np.round(np.geomspace(lo, hi, n)))
        values = np.array([float(x) for x in text.split(",") if x.strip()])
    except InputError:
        raise
    except (ValueError, OverflowError):
        raise InputError(f"-P {text!r}: expected numbers like 1,4,16 or a range like 1:1e6") from None
    return np.unique(B.check_p(values))
