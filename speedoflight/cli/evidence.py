"""``speedoflight evidence``: the real-model comparison: oracle optimum vs i.i.d. simulation, bounds and measured drafters."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InputError
from ._common import add_output_flags, command_line, csv_rows, emit, out_dir, positive_int, progress, seed_int
from ._flags import deprecated_alias

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight evidence`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "evidence",
        help="the real-model comparison: oracle optimum vs i.i.d. simulation, bounds and measured drafters",
        description="Compares each model's real optimum (an `oracle` file) over P = 1, 2, 4, ..., Pmax with the "
        "theory fed by the same model's dump (the i.i.d. simulation, the exact i.i.d. curve, the renewal "
        "prediction, the Lorden and trajectory bounds, the published form) and with its measured drafters, in one "
        "table and one figure per model, and says where the i.i.d. model over- or under-predicts and whether every "
        "bound held.",
    )
    p.add_argument(
        "--oracle",
        nargs="+",
        required=True,
        metavar="FILE",
        help="oracle files (speedoflight oracle --out), one per model",
    )
    p.add_argument(
        "--oracle-dump",
        nargs="+",
        metavar="DUMP",
        help="the speedoflight dump of each --oracle file's model, in the same order (required)",
    )
    deprecated_alias(p, "--pool", "--oracle-dump", "oracle_dump", here=True, nargs="+", metavar="DUMP")
    p.add_argument(
        "--measured",
        nargs="*",
        default=[],
        metavar="FILE",
        help="measured acceptance of the same models: speedoflight-measured JSONL (speedoflight measure --out), "
        "matched by model",
    )
    p.add_argument(
        "--out", type=out_dir, metavar="DIR", help="write evidence.md, evidence.png and evidence.json into DIR"
    )
    p.add_argument(
        "--replicates", type=positive_int, default=2000, metavar="N", help="i.i.d. simulation replicates (2000)"
    )
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="seed of the simulations and bootstraps (0)")
    add_output_flags(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight evidence`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..analysis.evidence import compare_real, write_evidence
    from ..formats.measured import read_measured
    from ..formats.oracle import load_oracle

    dumps = args.oracle_dump or []
    if len(args.oracle) != len(dumps):
        raise InputError(
            f"give one --oracle-dump per --oracle ({len(args.oracle)} oracle files, {len(dumps)} dumps): the dump of "
            "each oracle file's model, in the same order"
        )
    by_model: dict[str, list[str]] = {}
    for f in args.measured:
        name = str(read_measured(f).meta.get("model", {}).get("name"))
        by_model.setdefault(name, []).append(f)
    comps = []
    for o, p in zip(args.oracle, dumps, strict=True):
        name = str(load_oracle(o).meta.get("model", {}).get("name"))
        comps.append(
            compare_real(
                o,
                p,
                by_model.pop(name, []),
                replicates=args.replicates,
                seed=args.seed,
                progress=progress(args),
            )
        )
    if by_model:
        raise InputError(f"measured files of models with no oracle file: {', '.join(sorted(by_model))}")
    if args.out:
        write_evidence(args.out, comps, command=command_line(args))
    from .._util.progress import finish

    finish()  # the progress line goes before the answer is printed
    if args.json or args.csv:
        emit(args, [c.to_dict() for c in comps], rows=[r for c in comps for r in _csv_rows(c)])
        return 0
    from .._util.text import plain

    for c in comps:  # plain text: Markdown only in the files --out writes
        print(f"{c.model}\n")
        print("\n".join(plain(c.markdown())))
        print()
        for line in c.summary_lines():
            print(f"- {line}")
        print()
    if args.out:
        print(f"wrote {args.out}/evidence.md, evidence.png, evidence.json")
    return 0


def _csv_rows(c: Any) -> list[dict[str, Any]]:
    """Return the per-P table of one model's comparison, with the model on every row."""
    return [{"model": c.model, **r} for r in csv_rows(c.to_dict())]
