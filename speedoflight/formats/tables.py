"""Tables of measurements as CSV: read a user's table of numbers, write one atomically (``scaling``)."""

from __future__ import annotations

import csv
import math
import os
from typing import Any

import numpy as np

from .._util.text import is_number
from ..errors import InputError

__all__ = ["read_table", "write_table"]


def read_table(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a CSV with a header into float columns (empty cells are NaN; text columns are dropped).

    Parameters
    ----------
    path
        The CSV file, one row per measurement.

    Returns
    -------
    dict of str to np.ndarray
        Each numeric column's header name and its values.

    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file; check the path")
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            head = fh.read(4096)
            if "\0" in head:
                raise InputError(f"{path}: a binary file, not a CSV table")
            fh.seek(0)
            rows = list(csv.reader(fh))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; give a CSV table") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise InputError(f"{path}: needs a header line and at least one row")
    header = [h.strip() for h in rows[0]]
    if any(is_number(h) for h in header if h):
        raise InputError(f"{path}: the first line looks like data; add a header line naming the columns")
    cols: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        vals = [r[j].strip() if j < len(r) else "" for r in rows[1:]]
        if not all(v == "" or is_number(v) for v in vals):
            continue
        cols[name] = np.array([float(v) if v else math.nan for v in vals])
    return cols


def write_table(path: str, columns: dict[str, Any]) -> None:
    """Write columns of equal length as a CSV, atomically.

    Parameters
    ----------
    path
        The CSV file written.
    columns
        Header name to values, one value per row, in column order.

    """
    from .._util.atomic import atomic_path

    names = list(columns)
    n = len(next(iter(columns.values())))
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for i in range(n):
            w.writerow([_csv_cell(columns[k][i]) for k in names])


def _csv_cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.10g}"
    return str(v)
