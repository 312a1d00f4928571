"""Many files of rows, opened one at a time: a fleet's 100,000 shards read under the default descriptor limit.

:class:`Sources` is what a command passes to :func:`speedoflight.readers.scan.scan` in place of a list of opened
sources: iterating it opens a file, hands it over, and closes it when the next one is asked for, so one file is open
at a time. The first time a file is opened it is checked against the first (:class:`~.verifier.OneVerifier`: one
vocabulary, model, view, temperature and kind) and its small facts are kept (:class:`SourceInfo`, about 300 bytes),
never its metadata or rows; the estimator's result and the CLI's listing read those facts after the files are
closed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..errors import InputError
from ._base import Source

__all__ = ["SourceInfo", "Sources"]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What is kept of an opened source once it is closed (the same names as :class:`~._base.Source`'s).

    Attributes
    ----------
    path, format, kind, kind_how, vocab_size, width, n_rows
        As for :class:`~._base.Source`.
    truncated
        Whether its rows are top-k rows.

    """

    path: str
    format: str
    kind: str
    kind_how: str
    vocab_size: int | None
    width: int | None
    n_rows: int | None
    truncated: bool

    @classmethod
    def of(cls, src: Source) -> SourceInfo:
        """Keep a source's facts.

        Parameters
        ----------
        src
            An opened source.

        Returns
        -------
        SourceInfo
            Its facts, without metadata or rows.

        """
        return cls(src.path, src.format, src.kind, src.kind_how, src.vocab_size, src.width, src.n_rows, src.truncated)


class Sources:
    """Files of rows, each opened when its turn comes and closed after it (iterate as often as needed).

    Parameters
    ----------
    files
        The files, in order (already expanded: :func:`speedoflight._util.paths.expand_paths`).
    kind, vocab_size, tensor
        As for :func:`speedoflight.readers.open_source`.

    Attributes
    ----------
    infos : list of SourceInfo
        The facts of the files opened so far, in order (all of them after one full pass or :meth:`check_all`).

    """

    def __init__(
        self, files: Sequence[str], *, kind: str | None = None, vocab_size: int | None = None, tensor: str | None = None
    ) -> None:
        from .verifier import OneVerifier

        self.files = [os.fspath(f) for f in files]
        self.open_kw = {"kind": kind, "vocab_size": vocab_size, "tensor": tensor}
        self.infos: list[SourceInfo] = []
        self._check = OneVerifier()
        self._vocab: tuple[str, int] | None = None

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[Source]:
        from . import open_source

        for i, path in enumerate(self.files):
            src = open_source(path, **self.open_kw)  # type: ignore[arg-type]
            try:
                if i == len(self.infos):  # first time: compare with the first file, keep the facts
                    self._admit(src)
                yield src
            finally:
                src.close()

    def _admit(self, src: Source) -> None:
        """Refuse a file of another verifier than the first's; keep its facts."""
        if src.vocab_size is not None:
            if self._vocab is None:
                self._vocab = (src.path, src.vocab_size)
            elif src.vocab_size != self._vocab[1]:
                first, v0 = self._vocab
                raise InputError(
                    f"{src.path}: vocabulary of {src.vocab_size} tokens, but {first} has {v0}: rows of different "
                    "models cannot be pooled; give one model's files at a time"
                )
        self._check.add(src)
        self.infos.append(SourceInfo.of(src))

    def check_all(self) -> list[SourceInfo]:
        """Open, check and close every file not yet seen (their metadata only; no rows are read).

        Returns
        -------
        list of SourceInfo
            Every file's facts, in order.

        """
        if len(self.infos) < len(self.files):
            for _ in self:
                pass
        return self.infos
