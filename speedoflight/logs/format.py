"""One format of measured acceptance (:class:`Format`), and the adapters that fit a reader to the table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._text import _json_objects
from .result import Measured

__all__ = ["Format", "any_object", "first_object", "on_json", "on_text"]

#: A reader as the table holds it: ``(path, text, num_speculative_tokens) -> entries``.
Reader = Callable[[str, str, "int | None"], list[Measured]]


@dataclass(frozen=True)
class Format:
    """One format of measured acceptance: how to recognise it, how to read it, and what to say about it.

    Attributes
    ----------
    name : str
        What ``--measured-format`` takes and ``Measured.format`` records.
    help : str
        One line: what the format holds (the CLI's ``--measured`` help).
    source : str
        Who writes it, and the source its reader was written from (Markdown).
    reads : str
        What is read (Markdown).
    x : str
        How X is obtained (Markdown).
    uncertainty : str
        How the interval is obtained (Markdown).
    sniff : callable
        ``sniff(objs)`` for JSON formats (the file's JSON objects), ``sniff(text)`` for text formats: whether a file
        is this format. Formats are tried in the order of the table.
    read : callable
        ``read(path, text, num_speculative_tokens)``: the entries.
    json : bool
        Whether :attr:`sniff` takes the parsed JSON objects rather than the text.
    marks : tuple of str
        Text that makes a file starting with ``[`` or ``{`` that is not JSON still a log of this format (log lines
        that begin with a bracketed date).

    """

    name: str
    help: str
    source: str
    reads: str
    x: str
    uncertainty: str
    sniff: Callable[[Any], bool]
    read: Reader
    json: bool = False
    marks: tuple[str, ...] = ()


def first_object(objs: list[Any]) -> dict[str, Any]:
    """Return the first JSON object of a file.

    Parameters
    ----------
    objs
        The file's JSON values.

    Returns
    -------
    dict
        The first that is an object; an empty dict when none is.

    """
    return next((o for o in objs if isinstance(o, dict)), {})


def any_object(objs: list[Any], test: Callable[[dict[str, Any]], bool]) -> bool:
    """Return whether one of a file's first 50 JSON objects passes ``test``: how a JSON format is recognised.

    Parameters
    ----------
    objs
        The file's JSON values.
    test
        Whether one object is of the format.

    Returns
    -------
    bool
        True when an object among the first 50 values passes.

    """
    return any(isinstance(o, dict) and test(o) for o in objs[:50])


def on_json(reader: Callable[[str, list[Any]], list[Measured]]) -> Reader:
    """Fit a reader of JSON objects, ``reader(path, objs)``, to the table.

    Parameters
    ----------
    reader
        Reads the file's JSON objects.

    Returns
    -------
    callable
        ``read(path, text, num_speculative_tokens)``.

    """
    return lambda path, text, k: reader(path, _json_objects(path, text))


def on_text(reader: Callable[[str, str], list[Measured]]) -> Reader:
    """Fit a reader of text, ``reader(path, text)``, to the table.

    Parameters
    ----------
    reader
        Reads the file's text.

    Returns
    -------
    callable
        ``read(path, text, num_speculative_tokens)``.

    """
    return lambda path, text, k: reader(path, text)
