"""Small text helpers for table and log readers."""

from __future__ import annotations

__all__ = ["is_number"]


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
