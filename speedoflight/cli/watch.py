"""``speedoflight watch``: measured acceptance live, from a serving stack's ``/metrics``, interval by interval."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

from ..errors import InputError
from ._common import positive, positive_int
from ._flags import CONTINUATIONS_HELP
from ._params import message

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight watch`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "watch",
        help="live acceptance from a vLLM, SGLang or llama.cpp /metrics endpoint (or a file re-read), per interval",
        description="Scrapes a /metrics endpoint of vLLM, llama.cpp or SGLang (its vLLM-style counters), or re-reads "
        "a file of one scrape, every "
        "--interval seconds and prints, per interval and engine, X (accepted draft tokens per verifier call) with "
        "its interval, tokens per call and the per-position acceptance, with --dump the fraction of the ceiling at "
        "the drafted P, until --count scrapes or Ctrl-C, then a summary.",
        epilog="Engine restarts (counters that fall) and engines that come or go are handled.",
    )
    p.add_argument("source", metavar="URL|FILE", help="e.g. http://127.0.0.1:8000/metrics, or a file of one scrape")
    p.add_argument("--interval", type=positive, default=10.0, metavar="S", help="seconds between scrapes (default 10)")
    p.add_argument(
        "--count",
        type=positive_int,
        metavar="N",
        help="stop after this many scrapes (at least 2; default: Ctrl-C)",
    )
    p.add_argument(
        "--timeout", type=positive, default=5.0, metavar="S", help="seconds to wait for the server (default 5)"
    )
    p.add_argument(
        "--dump",
        nargs="+",
        metavar="DUMP",
        help="the verifier's " + CONTINUATIONS_HELP + ": report the fraction of the ceiling",
    )
    p.add_argument("--same-model", action="store_true", help="the server runs the dump's model whatever its name says")
    p.add_argument("--json", action="store_true", help="one JSON object per interval (and one for the summary)")
    p.set_defaults(run=run)


#: The longest interval and time-out accepted (a day, and an hour): longer ones are typing mistakes (and 1e300
#: overflows the timer).
MAX_INTERVAL = 86400.0
MAX_TIMEOUT = 3600.0


def _check_dump(path: str) -> None:
    """Refuse, at once, a --dump that cannot give the ceiling: missing, not a dump, no metadata, no continuations."""
    from ..readers import input_model
    from ..readers.dumpfile import read_metadata

    if path.lower().endswith(".npz"):
        read_metadata(path)
    else:
        input_model(path)


def _ceiling(dumps: list[str], k: int) -> tuple[float, float, float, float]:
    """Return the ceiling at P = k, averaged over generated positions: (dropped, lumped, CI low, CI high)."""
    from ..simulation.grafted import optimum

    res = optimum(dumps, pmax=k, positions="all", replicates=16, tail="both")
    lo, hi = res.lower, res.upper
    assert lo is not None
    assert hi is not None
    return float(lo.mean[k - 1]), float(hi.mean[k - 1]), float(lo.ci_low[k - 1]), float(hi.ci_high[k - 1])


def _warnings(args: argparse.Namespace, total: Any, ceiling: Any, models: list[str]) -> list[str]:
    """Return the sanity checks of ``compare`` on the whole watch: another model, above the ceiling, broken."""
    from ..analysis.checks import comparison_warnings
    from ..logs.result import Measured
    from ..readers import input_model

    if not ceiling or not math.isfinite(total.mean_accepted):
        return []
    dump_model = input_model(str(args.dump[0]))
    k, *at = ceiling
    ms = [
        Measured.build(
            args.source, "vllm-metrics", m, (total.mean_accepted, None, None, ""), total.drafts, "", P=k, model=m
        )
        for m in (models or [""])
    ]
    return comparison_warnings(ms, dump_model, lambda p: tuple(at) if p == k else None, acknowledged=args.same_model)


def _line(i: int, seconds: float, st: Any, ceiling: Any) -> str:
    if not math.isfinite(st.mean_accepted):
        text = f"[{i}] {seconds:5.1f} s: idle (no drafts)"
    else:
        ci = f" (95% CI {st.ci[0]:.2f}..{st.ci[1]:.2f})" if st.ci else ""
        text = (
            f"[{i}] {seconds:5.1f} s: X = {st.mean_accepted:.2f}{ci} accepted draft tokens per call, "
            f"{st.mean_accepted + 1:.2f} tokens per call, {st.drafts:g} drafts"
        )
        if st.per_position:
            text += "; per position " + ", ".join(f"{r:.2f}" for r in st.per_position)
        if ceiling:
            text += f"; {100 * st.mean_accepted / ceiling[1]:.0f}% of the ceiling {ceiling[1]:.2f} at P = {ceiling[0]}"
    for n in st.notes:
        if n != "idle: no drafts":
            text += f" [{n}]"
    return text


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight watch`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..logs.watch import fetch, interval, mean_draft, spec_counters, summarize

    if args.count is not None and args.count < 2:
        raise InputError("--count must be at least 2 (a baseline scrape and one to compare with)")
    for flag, v, most in (("--interval", args.interval, MAX_INTERVAL), ("--timeout", args.timeout, MAX_TIMEOUT)):
        if v > most:
            raise InputError(f"{flag} {v:g} is over {most:g} seconds; give a shorter one")
    for d in args.dump or []:
        if not str(d).lower().endswith((".npz", ".jsonl", ".json", ".ndjson")):
            raise InputError(f"--dump {d}: give a speedoflight dump (.npz) or an API log (.jsonl)")
        _check_dump(str(d))  # at the start, not after the first interval
    first = spec_counters(fetch(args.source, args.timeout), args.source)
    if not first:
        raise InputError(
            f"{args.source}: no vllm:spec_decode_num_* or llamacpp:spec_decode_num_* counters; is speculative "
            "decoding on (and stats logging; llama.cpp: --metrics)?"
        )
    prev, t_prev, t0 = first, time.monotonic(), time.monotonic()
    parts = []
    ceiling: tuple[int, float, float, float, float] | None = None
    scrapes, i = 1, 0
    if not args.json:
        print(f"speedoflight watch: {args.source}, every {args.interval:g} s; Ctrl-C for the summary", flush=True)
    try:
        while args.count is None or scrapes < args.count:
            time.sleep(args.interval)
            try:
                cur = spec_counters(fetch(args.source, args.timeout), args.source)
            except InputError as exc:
                scrapes += 1  # a failed scrape counts towards --count, so the watch always ends
                print(f"speedoflight watch: skipped a scrape: {message(exc)}", file=sys.stderr, flush=True)
                continue
            now = time.monotonic()
            scrapes += 1
            i += 1
            st = interval(prev, cur)
            parts.append(st)
            if args.dump and ceiling is None and (k := mean_draft(st)):
                ceiling = (k, *_ceiling(list(args.dump), k))
            _emit(args, i, now - t_prev, st, ceiling)
            prev, t_prev = cur, now
    except KeyboardInterrupt:
        pass
    total = summarize(parts)
    warned = _warnings(args, total, ceiling, sorted({key[0] for key in first if key[0]}))
    if args.json:
        d = {"summary": True, "seconds": t_prev - t0, "intervals": i, **total.to_dict(), "warnings": warned}
        if ceiling and math.isfinite(total.mean_accepted):
            d.update(
                {
                    "ceiling_P": ceiling[0],
                    "ceiling": ceiling[1],
                    "fraction_of_ceiling": total.mean_accepted / ceiling[1],
                }
            )
        print(json.dumps(d, allow_nan=False), flush=True)
    else:
        print("summary " + _line(i, t_prev - t0, total, ceiling).split(" ", 1)[1], flush=True)
        for w in warned:
            print(f"warning: {w}", flush=True)
    return 0


def _emit(args: argparse.Namespace, i: int, seconds: float, st: Any, ceiling: Any) -> None:
    if args.json:
        d = {"interval": i, "seconds": seconds, **st.to_dict()}
        if ceiling and math.isfinite(st.mean_accepted):
            d.update(
                {"ceiling_P": ceiling[0], "ceiling": ceiling[1], "fraction_of_ceiling": st.mean_accepted / ceiling[1]}
            )
        print(json.dumps(d, allow_nan=False), flush=True)
    else:
        print(_line(i, seconds, st, ceiling), flush=True)
