"""``speedoflight scaling``: fit Scylla-style log-linear laws of acceptance (CSV, or early-exit views of a dump)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

from .._config import DEFAULT_CONFIDENCE
from ..errors import InputError
from ._common import emit, figure_file, finite, float_list, out_file
from ._flags import check_confidence

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight scaling`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "scaling",
        help="fit Scylla-style log-linear laws of acceptance (CSV, or early-exit views of a dump)",
        description="Fits y = b0 + b1 ln x by least squares for each x column (or jointly with --joint) of a CSV "
        "(--from) or of the table --pairs builds (the acceptance of each early-exit view of a `dump --early-exit` "
        "run against the full model, by layer), with parameter intervals, R^2, a chi-square test when --y-se is "
        "given, and predictions with confidence and prediction intervals (--at).",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--from", dest="table", metavar="CSV", help="a CSV with a header, one measurement per row")
    src.add_argument("--pairs", metavar="DUMP", help="the full model's dump of a `speedoflight dump --early-exit` run")
    p.add_argument("--y", metavar="COL", help="response column (default acceptance)")
    p.add_argument(
        "--x", metavar="COL,...", help="comma-separated predictor columns, one law each (with --pairs: draft_layers)"
    )
    p.add_argument("--y-se", metavar="COL", help="column of standard errors of y (weights the fit)")
    p.add_argument("--joint", action="store_true", help="one law in all x columns together")
    p.add_argument("--at", type=float_list, metavar="X,...", help="predict at these x values (one x per law)")
    p.add_argument(
        "--confidence",
        type=finite,
        default=DEFAULT_CONFIDENCE,
        metavar="LEVEL",
        help="level of the intervals (default 0.95)",
    )
    p.add_argument(
        "--plot", type=figure_file, metavar="FILE", help="figure file; with several laws, one file per x (NAME-X.png)"
    )
    p.add_argument(
        "--table-out",
        type=out_file(".csv"),
        metavar="FILE.csv",
        help="with --pairs: also write the table as CSV",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--csv",
        nargs="?",
        const=True,
        default=False,
        metavar="",
        help="print the laws as CSV rows (`--csv FILE`, the old spelling of --from FILE, still reads FILE)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight scaling`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..analysis.plots import law_figure
    from ..beyond.scaling import acceptance_by_layer, fit_law
    from ..formats.tables import read_table, write_table

    check_confidence(args.confidence)
    if isinstance(args.csv, str):  # the old input spelling
        print("speedoflight: note: --csv FILE is deprecated; use --from FILE", file=sys.stderr)
        if args.table or args.pairs:
            raise InputError("give one input: --from CSV or --pairs DUMP")
        args.table, args.csv = args.csv, False
    if args.json and args.csv:
        raise InputError("--json and --csv: give one of them")
    if not (args.table or args.pairs):
        raise InputError("give the measurements: --from CSV, or --pairs DUMP of a `dump --early-exit` run")
    if args.pairs:
        cols_raw = acceptance_by_layer(args.pairs, args.confidence)
        if args.table_out:
            write_table(args.table_out, cols_raw)
        table = {k: np.asarray(v, dtype=float) for k, v in cols_raw.items()}
        y_name = args.y or "acceptance"
        x_names = args.x.split(",") if args.x else ["draft_layers"]
        y_se_name = args.y_se or "acceptance_se"
    else:
        if args.table_out:
            raise InputError("--table-out goes with --pairs (a CSV is already a table)")
        table = read_table(args.table)
        y_name = args.y or "acceptance"
        if not args.x:
            raise InputError("--x: name the predictor column(s), e.g. --x draft_params,pretrain_tokens")
        x_names = [x.strip() for x in args.x.split(",") if x.strip()]
        y_se_name = args.y_se
    where = args.pairs or args.table
    for name in [y_name, *x_names, *([y_se_name] if y_se_name else [])]:
        if name not in table:
            raise InputError(f"{where}: no numeric column {name!r} (columns: {', '.join(table)})")
    groups = [x_names] if args.joint else [[x] for x in x_names]
    fits = []
    for xs in groups:
        cols = [table[y_name], *(table[x] for x in xs)] + ([table[y_se_name]] if y_se_name else [])
        ok = np.all([np.isfinite(c) for c in cols], axis=0)
        fit = fit_law(
            np.column_stack([table[x][ok] for x in xs]),
            table[y_name][ok],
            y_se=table[y_se_name][ok] if y_se_name else None,
            x_names=xs,
            y_name=y_name,
            confidence=args.confidence,
        )
        at = None
        if args.at:
            if len(xs) != 1:
                raise InputError("--at predicts one x at a time; leave out --joint")
            at = np.array(args.at)
        fits.append((fit, at))
        if args.plot:
            from .._util.atomic import atomic_path
            from ..analysis.plots import save_figure

            path = args.plot
            if len(groups) > 1:
                stem, ext = os.path.splitext(args.plot)
                path = f"{stem}-{xs[0]}{ext}"
            with atomic_path(path) as tmp:
                save_figure(law_figure(fit, extend_to=max(args.at) if args.at and len(xs) == 1 else None), tmp)
    if args.json or args.csv:
        laws = [f.to_dict(at) for f, at in fits]
        emit(args, {"source": where, "laws": laws}, rows=[{"source": where, **law} for law in laws])
        return 0
    for f, at in fits:
        print(f.text(at))
    return 0
