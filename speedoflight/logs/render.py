"""The table of formats rendered for the CLI's help, ``docs/cli.md`` and :mod:`.acceptance`'s docstring."""

from __future__ import annotations

import textwrap

from .table import TABLE

__all__ = ["markdown_table", "measured_help", "rst_list"]


def measured_help(width: int = 100) -> str:
    """Return the CLI's ``--measured`` help epilog: every format with its one line.

    Parameters
    ----------
    width
        The width to wrap at.

    Returns
    -------
    str
        The epilog.

    """
    pad = max(len(f.name) for f in TABLE) + 4
    lines = ["measured acceptance formats (detected from the content; X = accepted draft tokens per call):"]
    for f in TABLE:
        body = textwrap.wrap(f.help, width - pad)
        lines.append(f"  {f.name:<{pad - 2}}{body[0]}")
        lines += [" " * pad + rest for rest in body[1:]]
    return "\n".join(lines) + "\n"


def markdown_table() -> str:
    """Return the Markdown table of formats that ``docs/cli.md`` holds.

    Returns
    -------
    str
        A header and one row per format, in detection order.

    """
    rows = ["| format | source | what is read | X | uncertainty |", "|---|---|---|---|---|"]
    rows += [f"| `{f.name}` | {f.source} | {f.reads} | {f.x} | {f.uncertainty} |" for f in TABLE]
    return "\n".join(rows) + "\n"


def rst_list() -> str:
    """Return the formats as a reStructuredText definition list, for a docstring.

    Returns
    -------
    str
        Each format's name, then its help line, indented.

    """
    return "".join(f"``{f.name}``\n    {f.help}\n" for f in TABLE)
