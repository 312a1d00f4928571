"""What every subcommand shares: the parser class, argument types, progress and printing (JSON, CSV, cells).

The flag groups that several subcommands add are in :mod:`._flags`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any

from .._util.jsonsafe import finite_or_none
from ..errors import InputError
from ._params import message

__all__ = [
    "FIGURE_SUFFIXES",
    "TABLE_KEYS",
    "HelpFormatter",
    "Parser",
    "add_output_flags",
    "bootstrap_count",
    "cell",
    "command_line",
    "csv_rows",
    "emit",
    "figure_file",
    "finite",
    "float_list",
    "fmt",
    "fraction",
    "int_list",
    "list_of",
    "nonneg",
    "nonneg_int",
    "out_dir",
    "out_file",
    "positive",
    "positive_int",
    "progress",
    "run_count",
    "seed_int",
    "typed",
]


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout, but a block with line breaks of its own (a table, an example) is printed as written.

    A description or an epilog is split into blocks at blank lines: a block of one line is a paragraph, wrapped to
    the terminal as usual; a block of several lines keeps its layout.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks = []
        for block in text.split("\n\n"):
            if "\n" in block.strip("\n"):
                blocks.append("".join(indent + line for line in block.strip("\n").splitlines(keepends=True)))
            else:
                blocks.append(super()._fill_text(block, width, indent))
        return "\n\n".join(blocks)


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line with the package's prefix, and epilogs keep their layout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        """Exit with status 2 and one line ``speedoflight: error: MESSAGE``.

        Parameters
        ----------
        message
            What argparse found wrong.

        """
        self.exit(2, f"speedoflight: error: {message} (see `{self.prog} --help`)\n")


def typed(conv: Any, ok: Any, what: str) -> Any:
    """Make an argparse type: ``conv(text)`` that must satisfy ``ok``, else a one-line error naming ``what``.

    Parameters
    ----------
    conv
        Converts the text (``int``, ``float``); a ValueError is a user error.
    ok
        The check the converted value must pass.
    what
        What is expected, for the error (``"a positive integer"``).

    Returns
    -------
    callable
        The type, ``parse(text)``.

    """

    def parse(text: str) -> Any:
        """Convert one value of the command line, or raise argparse's one-line error.

        Parameters
        ----------
        text
            The value as typed.

        Returns
        -------
        object
            The converted value.

        """
        try:
            v = conv(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return v

    return parse


def list_of(conv: Any, ok: Any, what: str) -> Any:
    """Make an argparse type for comma-separated values, each converted with ``conv`` and checked with ``ok``.

    Parameters
    ----------
    conv
        Converts one value.
    ok
        The check every value must pass.
    what
        What is expected, for the error.

    Returns
    -------
    callable
        The type: ``parse(text)`` gives the list (at least one value).

    """
    return typed(lambda t: [conv(x) for x in t.split(",") if x.strip()], lambda v: bool(v) and all(map(ok, v)), what)


def out_file(*suffixes: str) -> Any:
    """Make an argparse type for an output file, checked before any work.

    Parameters
    ----------
    *suffixes
        The suffixes allowed (none: any).

    Returns
    -------
    callable
        The type: the path must be new or a regular file, in an existing folder, ending in one of ``suffixes``
        (:func:`~speedoflight._util.atomic.check_out_file`).

    """

    def parse(text: str) -> str:
        """Check one output file of the command line, or raise argparse's one-line error.

        Parameters
        ----------
        text
            The path as typed.

        Returns
        -------
        str
            The same text, once checked.

        """
        from .._util.atomic import check_out_file

        try:
            check_out_file(text, suffixes or None)
        except InputError as exc:
            raise argparse.ArgumentTypeError(message(exc)) from None
        return text

    parse.suffixes = suffixes  # type: ignore[attr-defined]  # what the file may end in, for the help's tests
    return parse


def out_dir(text: str) -> str:
    """Argparse type for an output folder (``--out DIR``), checked before any work: a folder or a new name in one.

    Parameters
    ----------
    text
        The folder as typed.

    Returns
    -------
    str
        The same text, once checked.

    """
    from .._util.atomic import check_out_dir

    try:
        check_out_dir(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(message(exc)) from None
    return text


FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


#: Every ``--plot FILE``: a figure, written atomically.
figure_file = out_file(*FIGURE_SUFFIXES)


positive_int = typed(int, lambda v: v >= 1, "a positive integer")


#: Every ``--bootstrap``: a million replicates already pin an interval's ends far below their sampling error.
bootstrap_count = typed(int, lambda v: 1 <= v <= 1_000_000, "a number of bootstrap replicates from 1 to 1,000,000")


#: Every ``--simulate`` count: each run holds a few numbers per array, so ten million stay under a GiB.
run_count = typed(int, lambda v: 0 <= v <= 10_000_000, "a number of simulated runs from 0 to 10,000,000")


#: Every ``--seed``: numpy's generators and the tree hashes take 0 <= seed < 2**63.
seed_int = typed(int, lambda v: 0 <= v < 2**63, "a seed: a whole number from 0 to 2**63 - 1")


nonneg_int = typed(int, lambda v: v >= 0, "an integer >= 0")


finite = typed(float, math.isfinite, "a finite number")


positive = typed(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")


nonneg = typed(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")


fraction = typed(float, lambda v: math.isfinite(v) and 0 < v <= 1, "a fraction, 0 < f <= 1")


def bounded_int(most: int, why: str) -> Any:
    """Return an argparse type: a whole number from 1 to ``most``, refused beyond it with ``why``, before any work."""

    def conv(text: str) -> int:
        v = positive_int(text)
        if v > most:
            raise argparse.ArgumentTypeError(f"{v} is more than {most:,}: {why}")
        return v

    return conv


int_list = list_of(int, lambda v: True, "comma-separated integers")


float_list = list_of(float, math.isfinite, "comma-separated finite numbers")


def command_line(args: argparse.Namespace) -> str:
    """Return the command line that ran, for "regenerate with" lines.

    Parameters
    ----------
    args
        The parsed command line (``main`` keeps ``argv`` on it).

    Returns
    -------
    str
        ``speedoflight ...``, quoted for a shell.

    """
    import shlex

    return "speedoflight " + shlex.join(getattr(args, "argv", []))


def api_key(env_name: str | None) -> str | None:
    """Read the API key from the environment variable named by ``--api-key-env``.

    Parameters
    ----------
    env_name
        The variable's name, or None when the flag was not given.

    Returns
    -------
    str or None
        The key, or None when no variable was named.

    Raises
    ------
    InputError
        The variable is named but not set, or empty.

    """
    if not env_name:
        return None
    key = os.environ.get(env_name)
    if not key:
        raise InputError(f"--api-key-env {env_name}: that environment variable is not set or is empty")
    return key


def progress(args: argparse.Namespace) -> bool:
    """Return whether to show progress (bars, the compile notice): on a terminal, unless ``--quiet``.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    bool
        True to show it.

    """
    stderr = sys.stderr  # None when the process started with stderr closed
    return not getattr(args, "quiet", False) and stderr is not None and stderr.isatty()


def cell(v: float) -> str:
    """Return a number as a cell of a fixed-width table: 13 characters, 3 decimals, or 4 digits when large.

    Parameters
    ----------
    v
        The number.

    Returns
    -------
    str
        The cell.

    """
    return f"{v:>13.3f}" if abs(v) < 1e6 else f"{v:>13.4g}"


def fmt(x: float | None, digits: int = 4) -> str:
    """Return a number with ``digits`` decimals, or ``"n/a"`` for None and NaN.

    Parameters
    ----------
    x
        The number.
    digits
        Decimals.

    Returns
    -------
    str
        The text.

    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def add_output_flags(p: argparse.ArgumentParser, json_help: str = "print one JSON object") -> None:
    """Add ``--json`` and ``--csv`` (one of them): every command with a table prints it either way.

    Parameters
    ----------
    p
        The subcommand's parser.
    json_help
        The help of ``--json``.

    """
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help=json_help)
    out.add_argument("--csv", action="store_true", help="print the table as CSV rows (a header, then one row each)")


def _cell(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    if isinstance(v, (list, tuple)):
        return ";".join(str(_cell(x)) for x in v)
    return "" if v is None else v


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}_"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def csv_rows(obj: Any) -> list[dict[str, Any]]:
    """Return the table of a command's JSON object: per-P columns, a list of rows, or one row of its scalars.

    Parameters
    ----------
    obj
        What ``--json`` prints.

    Returns
    -------
    list of dict
        A list of dicts is its rows (nested dicts flattened as ``name_key``); otherwise, where a field of
        :data:`TABLE_KEYS` is a list, it and every list of its length are columns, one row per entry, with the other
        scalars (and short lists, joined by ``;``) repeated on every row; else one row of every field.

    """
    if isinstance(obj, list):
        return [_flat(x) if isinstance(x, dict) else {"value": x} for x in obj]
    flat = _flat(obj)
    lists = {k: v for k, v in flat.items() if isinstance(v, list) and v and not isinstance(v[0], (dict, list))}
    key = next((k for k in TABLE_KEYS if k in lists), None)
    if key is None:  # no per-P table: one row, short lists joined
        return [{k: v for k, v in flat.items() if not isinstance(v, dict)}]
    n = len(lists[key])
    cols = {k: v for k, v in lists.items() if len(v) == n and "per_depth" not in k}  # by depth: not by P
    rest = {k: v for k, v in flat.items() if k not in cols and not (isinstance(v, list) and len(v) > 8)}
    return [{**{k: v[i] for k, v in cols.items()}, **rest} for i in range(n)]


#: Fields that index a command's table (its rows), in order of preference.
TABLE_KEYS = ("P", "budget", "gamma")


def emit(args: argparse.Namespace, obj: Any, rows: Any = None, indent: int | None = None) -> None:
    """Print ``obj`` as JSON, or with ``--csv`` its table.

    Parameters
    ----------
    args
        The parsed command line (``--csv``).
    obj
        What ``--json`` prints: non-finite numbers become null.
    rows
        The table for ``--csv``; None: :func:`csv_rows` of ``obj``.
    indent
        JSON indentation; None: one line.

    """
    import csv

    if getattr(args, "csv", False):
        table = csv_rows(obj if rows is None else rows)
        fields = list(dict.fromkeys(k for r in table for k in r))
        w = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in table:
            w.writerow({k: _cell(r.get(k)) for k in fields})
        return
    print(json.dumps(finite_or_none(obj), indent=indent, allow_nan=False))
