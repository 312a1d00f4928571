"""Small text helpers for table and log readers."""

from __future__ import annotations

import re

__all__ = ["ci", "is_number", "plain", "plain_table", "span"]


def is_number(text: str) -> bool:
    """Return whether ``text`` parses as a float.

    Parameters
    ----------
    text
        A cell of a table.

    Returns
    -------
    bool
        True for anything ``float()`` accepts.

    """
    try:
        float(text)
    except ValueError:
        return False
    return True


def span(lo: float, hi: float, fmt: str = ".2f", unit: str = "") -> str:
    """Return a range the one way every output writes it: ``lo..hi`` (``1.24..1.51``, ``14%..16%``, ``1.05x..1.19x``).

    Parameters
    ----------
    lo, hi
        Its ends.
    fmt
        The format of each number.
    unit
        What follows each number (``"%"``, ``"x"``).

    Returns
    -------
    str

    """
    return f"{lo:{fmt}}{unit}..{hi:{fmt}}{unit}"


def ci(lo: float, hi: float, fmt: str = ".2f", unit: str = "") -> str:
    """Return a 95% confidence interval, written as every range is: ``95% CI 1.18..1.57``.

    Parameters
    ----------
    lo, hi
        Its ends.
    fmt, unit
        As :func:`span`.

    Returns
    -------
    str

    """
    return f"95% CI {span(lo, hi, fmt, unit)}"


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)]*)\)")


def _inline(line: str) -> str:
    """Return one line without inline Markdown: bold and code marks dropped, links as their text."""
    line = _BOLD.sub(r"\1", line)
    line = _CODE.sub(lambda m: f"'{m[1]}'" if " " in m[1] else m[1], line)  # a command stays quoted
    return _LINK.sub(r"\1", line).replace("&nbsp;", " ")


def _cells(row: str) -> list[str]:
    return [_inline(c.strip()) for c in row.strip().strip("|").split("|")]


def plain_table(rows: list[str], indent: str = "") -> list[str]:
    """Return a Markdown table as fixed-width plain text: columns padded, the ``|---|`` line a rule of dashes.

    Parameters
    ----------
    rows
        The table's lines, ``| a | b |`` each (the second one the separator).
    indent
        Put before every line.

    Returns
    -------
    list of str
        Text columns left-aligned, numeric ones right-aligned, two spaces apart; a dashed rule under the head.

    """
    body = [_cells(r) for r in rows if not re.fullmatch(r"\s*\|?(\s*:?-+:?\s*\|)+\s*:?-*:?\s*", r)]
    if not body:
        return []
    n = max(len(r) for r in body)
    body = [r + [""] * (n - len(r)) for r in body]
    width = [max(len(r[j]) for r in body) for j in range(n)]
    numeric = [all(_looks_numeric(r[j]) for r in body[1:] if r[j]) for j in range(n)]

    def line(r: list[str]) -> str:
        cells = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, width, numeric, strict=True)]
        return (indent + "  ".join(cells)).rstrip()

    return [line(body[0]), indent + "  ".join("-" * w for w in width), *(line(r) for r in body[1:])]


def _looks_numeric(cell: str) -> bool:
    num = r"[-+]?[\d.,]+(e[-+]?\d+)?[x%]?"
    return bool(re.fullmatch(f"{num}(\\.\\.{num})?", cell))


def plain(text: str | list[str], bullets: bool = True) -> list[str]:
    """Return Markdown as plain text for a terminal: tables in fixed-width columns, no bold, code or link marks.

    Parameters
    ----------
    text
        Markdown, as one string or its lines.
    bullets
        Keep list marks (``- ``); False drops them and keeps a nested item's indent.

    Returns
    -------
    list of str
        The lines; headings lose their ``#`` marks.

    """
    lines = text.splitlines() if isinstance(text, str) else [x for t in text for x in t.splitlines() or [""]]
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("|"):
            j = i
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            out += plain_table(lines[i:j])
            i = j
            continue
        x = re.sub(r"^#+\s+", "", lines[i])
        if not bullets:
            x = re.sub(r"^(\s*)- ", r"\1", x)
        out.append(_inline(x))
        i += 1
    return out
