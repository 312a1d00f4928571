"""Shards of one verifier: the facts that must agree before rows of several files are pooled.

Rows pool only when they come from one distribution: the same model (and the same view of it: a dump's
early-exit views are other distributions of the same model), vocabulary, sampling temperature and kind of row.
:class:`OneVerifier` takes the sources one at a time, so a reader that opens, reads and closes one file at a time
checks them without holding them all open.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._util.provenance import model_name
from ..errors import InputError
from ._base import Source
from .dumpfile import dump_view

__all__ = ["OneVerifier", "check_shards", "source_facts"]


def source_facts(src: Source) -> dict[str, Any]:
    """Return what must agree across shards; None where the file does not say.

    Parameters
    ----------
    src
        An opened source.

    Returns
    -------
    dict
        ``vocabulary``, ``model``, ``view`` (dumps: ``"full"`` or ``"early-exit:L"``), ``temperature`` (dumps and
        API logs) and ``kind``.

    """
    meta = src.metadata or {}
    is_dump = src.format.startswith("speedoflight")
    return {
        "vocabulary": src.vocab_size,
        "model": model_name(meta) or None,
        "view": dump_view(meta) if is_dump else None,
        "temperature": meta.get("temperature") if is_dump or src.format.endswith("-jsonl") else None,
        "kind": src.kind,
    }


class OneVerifier:
    """Check shards one at a time against the first: each must come from the same verifier.

    Examples
    --------
    >>> check = OneVerifier()
    >>> for src in sources:  # doctest: +SKIP
    ...     check.add(src)

    """

    def __init__(self) -> None:
        self.first: dict[str, Any] | None = None
        self.first_path = ""

    def add(self, src: Source) -> None:
        """Compare one more source with the first one seen.

        Parameters
        ----------
        src
            An opened source.

        Raises
        ------
        InputError
            Naming the source and the first fact that differs from the first source's.

        """
        mine = source_facts(src)
        if self.first is None:
            self.first, self.first_path = mine, src.path
            return
        for key, v in mine.items():
            first = self.first[key]
            if v is not None and first is not None and v != first:
                hint = (
                    "; a dump's early-exit views are other distributions than the model's own: give the full "
                    "model's dump, or one view, at a time"
                    if key == "view"
                    else ""
                )
                raise InputError(
                    f"{src.path}: its {key} is {v!r} but {self.first_path}'s is {first!r}; shards must come from "
                    f"one verifier, run them separately{hint}"
                )


def check_shards(sources: Iterable[Source]) -> None:
    """Refuse shards that do not come from one verifier (see :class:`OneVerifier`).

    Parameters
    ----------
    sources
        The opened shards, in order.

    Raises
    ------
    InputError
        Naming the first shard that differs from the first.

    """
    check = OneVerifier()
    for src in sources:
        check.add(src)
