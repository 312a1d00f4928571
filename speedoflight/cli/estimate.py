"""``speedoflight estimate``: estimate mu and mu2 from logged verifier distributions (dumps, arrays, API logs)."""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Any

import numpy as np

from .._config import DEFAULT_BOOTSTRAP, DEFAULT_CONFIDENCE
from .._util.atomic import atomic_path
from ..options import ReadOptions, RunOptions
from ._common import add_output_flags, bootstrap_count, emit, finite, fmt, out_file, progress, seed_int
from ._flags import FORMATS_HELP, add_reading_flags, add_scheduler_flag, scheduler_client

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight estimate`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "estimate",
        help="estimate mu and mu2 from logged verifier distributions: dumps, arrays or API logs",
        description="Estimates mu (the expected entropy) and mu2 (the expected second log-moment) of the verifier's "
        "next-token distributions, in nats with their confidence intervals, from dumps, arrays of logits, "
        "log-probabilities or probabilities, or API logs (the JSONL responses of an OpenAI-compatible server with "
        "top-k logprobs, e.g. from `speedoflight collect`).",
        epilog=FORMATS_HELP,
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="dumps, arrays or API logs: files, globs or folders of shards; all are aggregated",
    )
    add_reading_flags(p)
    add_output_flags(p)
    p.add_argument(
        "--per-row",
        metavar="FILE",
        type=out_file(".csv", ".npz"),
        help="write per-row H and M2 to FILE (.csv or .npz), atomically",
    )
    p.add_argument(
        "--confidence",
        type=finite,
        default=DEFAULT_CONFIDENCE,
        metavar="LEVEL",
        help="confidence level (default 0.95)",
    )
    p.add_argument(
        "--bootstrap",
        type=bootstrap_count,
        default=DEFAULT_BOOTSTRAP,
        metavar="N",
        help="bootstrap replicates (default 2000)",
    )
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="bootstrap seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_scheduler_flag(p)
    p.set_defaults(run=run)


#: Files the table lists one by one; past it, the first half of that and a count (a fleet's shards are many).
_LISTED = 20


def _print_table(m: Any, sources: list[Any]) -> None:
    seqs = f", {m.n_sequences} sequences" if m.n_sequences is not None else ""
    level = f"{100 * m.confidence:g}% CI"
    print(  # the answer first: the two moments every bound takes
        f"speedoflight estimate: mu = {fmt(m.mu)} nats ({level} {fmt(m.mu_ci[0])}..{fmt(m.mu_ci[1])}), "
        f"mu2 = {fmt(m.mu2)} nats^2 ({level} {fmt(m.mu2_ci[0])}..{fmt(m.mu2_ci[1])})"
    )
    print(f"  from {m.n_rows} rows{seqs}, {len(sources)} file(s), temperature {m.temperature:g}")
    shown = sources if len(sources) <= _LISTED else sources[: _LISTED // 2]
    for s in shown:
        how = {
            "given": "given by --kind",
            "format": "fixed by the format",
            "detected": "detected",
            "file": "recorded in the file",
        }[s.kind_how]
        top = f", top-{s.width} of {s.vocab_size}" if s.truncated else ""
        print(f"  {s.path}: {s.format}, {s.kind} ({how}){top}")
    if len(shown) < len(sources):
        print(f"  ... and {len(sources) - len(shown):,} more files of one verifier (every file: --json)")
    print()
    print(f"  {'':28s}{'value':>10s}{'se':>10s}   {level}")
    for name, unit, v, se, ci in (
        ("mu  (expected entropy)", "nats", m.mu, m.mu_se, m.mu_ci),
        ("mu2 (2nd log-moment)", "nats^2", m.mu2, m.mu2_se, m.mu2_ci),
    ):
        print(f"  {name + ', ' + unit:28s}{fmt(v):>10s}{fmt(se):>10s}   {fmt(ci[0])}..{fmt(ci[1])}")
    print(f"  {'mu2 - mu^2 (surprisal var)':28s}{fmt(m.surprisal_variance):>10s}")
    if m.sampled_surprisal_mean is not None:
        print(f"  {'mean sampled surprisal':28s}{fmt(m.sampled_surprisal_mean):>10s}   (should be close to mu)")
    if m.truncated:
        print()
        print("  top-k input: the unlisted tail is unknown; point values are midpoints of")
        print(
            f"    mu  in {fmt(m.mu_interval[0])}..{fmt(m.mu_interval[1])}   with sampling error {fmt(m.mu_interval_ci[0])}..{fmt(m.mu_interval_ci[1])}"
        )
        print(
            f"    mu2 in {fmt(m.mu2_interval[0])}..{fmt(m.mu2_interval[1])}   with sampling error {fmt(m.mu2_interval_ci[0])}..{fmt(m.mu2_interval_ci[1])}"
        )
        if m.n_exact_rows:
            print(f"    ({m.n_exact_rows} rows carry exact full-vocabulary moments)")
    print(f"\n  CI method: {m.ci_method}")


def _write_per_row(path: str, m: Any) -> None:
    pr = m.per_row
    cols = {
        "source": pr.source,
        "row": pr.row,
        "seq": pr.seq,
        "pos": pr.pos,
        "H_lo": pr.h_lo,
        "H_hi": pr.h_hi,
        "M2_lo": pr.m2_lo,
        "M2_hi": pr.m2_hi,
        "surprisal": pr.surprisal,
    }
    with atomic_path(path) as tmp:
        if path.lower().endswith(".npz"):
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **cols)
        else:
            with open(tmp, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(cols)
                for row in zip(*(c.tolist() for c in cols.values()), strict=True):
                    w.writerow(row)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight estimate`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    sources: list[Any] = []
    show_progress = progress(args)
    with scheduler_client(args) as client:
        m = _estimate(args, sources, show_progress, client)
    for s in sources:
        if s.kind_how == "detected" and not args.quiet:
            print(f"speedoflight: note: {s.path}: detected kind '{s.kind}' (pass --kind to override)", file=sys.stderr)
    if args.per_row:
        _write_per_row(args.per_row, m)
    if args.json or args.csv:
        d = m.to_dict()
        d["kind_how"] = [s.kind_how for s in sources]
        emit(args, d, indent=2)
    else:
        _print_table(m, sources)
    return 0


def _estimate(args: argparse.Namespace, sources: list[Any], show_progress: bool, client: Any) -> Any:
    """Run the estimator with the parsed flags (on dask when ``client`` is given)."""
    from ..theory.estimator import estimate

    return estimate(
        args.paths,
        confidence=args.confidence,
        n_boot=args.bootstrap,
        per_row=bool(args.per_row),
        sources_out=sources,
        read=ReadOptions(kind=args.kind, temperature=args.temperature, vocab_size=args.vocab_size, tensor=args.tensor),
        run=RunOptions(seed=args.seed, progress=show_progress, client=client),
    )
