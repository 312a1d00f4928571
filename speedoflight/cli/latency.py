"""``speedoflight latency``: the verifier's time per pass at each P, measured on a running server."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import add_output_flags, api_key, emit, int_list, positive, positive_int, progress

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight latency`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "latency",
        help="measure the verifier's time per pass at each P on a running server (the CSV --latency reads)",
        description="Measures the verifier's time per pass at each P on a running server, one forward over P + 1 "
        "new tokens on a cached prefix of --context tokens (the verify pass of a tree of P draft tokens) timed "
        "--repeats times by the server's own prompt timing where it reports one (llama.cpp), else by the wall "
        "clock, and writes the median per P (P, milliseconds; the first row P = 0) as the CSV that "
        "`compare --latency` reads (as do report, bound and tree).",
    )
    p.add_argument("--url", required=True, metavar="BASE", help="the server, e.g. http://127.0.0.1:8080")
    p.add_argument(
        "-P",
        type=int_list,
        default=[1, 2, 4, 8, 16, 32, 64],
        metavar="P,...",
        help="tree sizes to time, comma-separated (1,2,4,...,64; 0 is always added)",
    )
    p.add_argument("--context", type=positive_int, default=512, metavar="N", help="tokens of cached prefix (512)")
    p.add_argument("--repeats", type=positive_int, default=5, metavar="N", help="measurements per P (5)")
    p.add_argument("--model", metavar="NAME", help="the model id (default: the only one served)")
    p.add_argument("--api-key-env", metavar="VAR", help="the environment variable holding the API key")
    p.add_argument("--timeout", type=positive, default=120.0, metavar="S", help="seconds per request (120)")
    p.add_argument("--out", default="latency.csv", metavar="FILE.csv", help="the CSV to write (latency.csv)")
    add_output_flags(p, "print the result as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight latency`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from .._util.atomic import check_out_file
    from ..serving.latency import measure_latency, write_latency_csv

    check_out_file(args.out, (".csv",), "--out")
    key = api_key(args.api_key_env)
    show = progress(args)
    res = measure_latency(
        args.url,
        args.P,
        context=args.context,
        repeats=args.repeats,
        model=args.model,
        api_key=key,
        timeout=args.timeout,
        progress=(lambda msg: print(f"speedoflight: {msg}", file=sys.stderr)) if show else None,
    )
    write_latency_csv(args.out, res)
    if args.json or args.csv:
        rows = [
            {"P": p, "ms": m, "low": lo, "high": hi}
            for p, m, lo, hi in zip(res.P, res.ms, res.low, res.high, strict=True)
        ]
        emit(args, res.to_dict(), rows=rows)
        return 0
    base = res.ms[0]
    print(f"verifier pass at P = 0: {base:.2f} ms; wrote {args.out} ({res.method}, {res.context} tokens of context)")
    print("      P        ms   x P=0   (min..max of repeats)")
    for p, m, lo, hi in zip(res.P, res.ms, res.low, res.high, strict=True):
        print(f"  {p:5d}  {m:8.2f}  {m / base:6.2f}   ({lo:.2f}..{hi:.2f})")
    for note in res.notes:
        print(f"- {note}")
    print(f"next: speedoflight report --dump YOUR-LOG --latency {args.out}")
    return 0
