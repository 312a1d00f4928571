"""Measured acceptance of one system: the result type every log reader returns, and the formats known."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

__all__ = ["Measured"]  # FORMATS too, through __getattr__ (it is built from the table of formats)


def __getattr__(name: str) -> Any:
    """Return ``FORMATS`` (format name -> what it counts) from the table of formats in :mod:`.table`, on first use."""
    if name == "FORMATS":
        from .table import FORMATS

        return FORMATS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Measured:
    """Measured acceptance of one system, as accepted draft tokens per iteration (X).

    Attributes
    ----------
    source : str
        The file it was read from.
    format : str
        One of :data:`FORMATS`.
    label : str
        Which system inside the file (drafter, model, implementation); may be empty.
    mean_accepted : float
        Mean X, accepted draft tokens per verifier call.
    iterations : float
        Verifier calls behind the mean (may be fractional where recovered from rounded printouts; NaN where the
        source reports a mean without its count).
    se : float or None
        Standard error of ``mean_accepted``; None where none can honestly be given.
    ci : tuple of float or None
        95% confidence interval.
    uncertainty : str
        How ``se`` was obtained.
    convention : str
        What the source counted and how it was converted to X.
    P : int or None
        Draft tokens per iteration (tree size, or speculative tokens of a chain) when the source records it.
    mean_draft_size : float or None
        Mean draft tokens actually proposed per iteration (drafters may propose fewer than P).
    groups : int or None
        Requests or sequences behind the mean.
    distribution : numpy.ndarray or None
        Estimated P(X = i), i = 0, 1, ..., when the source gives it.
    notes : tuple of str
        Anything the reader noticed (checks that needed a tolerance, skipped records).
    model : str or None
        The verifier the source names (vLLM's ``model_name`` label, a measure file's model), where it names one.
    kind : str or None
        The kind of text it was measured on (a ``kind`` column of a plain log), held against that kind's ceiling.

    """

    source: str
    format: str
    label: str
    mean_accepted: float
    iterations: float
    se: float | None
    ci: tuple[float, float] | None
    uncertainty: str
    convention: str
    P: int | None = None
    mean_draft_size: float | None = None
    groups: int | None = None
    distribution: np.ndarray | None = None
    notes: tuple[str, ...] = ()
    model: str | None = None
    kind: str | None = None

    @classmethod
    def build(
        cls,
        source: str,
        format: str,
        label: str,
        estimate: tuple[float, float | None, tuple[float, float] | None, str],
        iterations: float,
        convention: str,
        **fields: Any,
    ) -> Measured:
        """Return an entry from an estimate as the uncertainty functions give it.

        Parameters
        ----------
        source, format, label
            As the fields of the same name.
        estimate
            ``(mean, se, ci, how)``, as :mod:`.uncertainty`'s functions return them.
        iterations
            Verifier calls behind the mean.
        convention
            What the source counted and how it was converted to X.
        **fields
            Any other field (``P``, ``mean_draft_size``, ``groups``, ``distribution``, ``notes``, ``model``).

        Returns
        -------
        Measured
            The entry.

        """
        mean, se, ci, how = estimate
        return cls(
            source=source,
            format=format,
            label=label,
            mean_accepted=mean,
            iterations=iterations,
            se=se,
            ci=ci,
            uncertainty=how,
            convention=convention,
            **fields,
        )

    @property
    def tokens_per_call(self) -> float:
        """Tokens per verifier call, X + 1."""
        return self.mean_accepted + 1.0

    @property
    def name(self) -> str:
        """``label`` if set, else the file's name."""
        return self.label or os.path.basename(self.source)

    def with_p(self, p: int) -> Measured:
        """Return the same measurement with P given by the user.

        Parameters
        ----------
        p
            Draft tokens per iteration (P).

        Returns
        -------
        Measured
            A copy with ``P = p`` and a note saying so (and what the source recorded, if different).

        """
        note = f"P = {p} given by the user" + (f" (the source recorded {self.P})" if self.P not in (None, p) else "")
        return replace(self, P=int(p), notes=(*self.notes, note))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary.

        Returns
        -------
        dict
            Every field (``ci`` and ``distribution`` as lists), plus ``tokens_per_call``.

        """
        return {
            "source": self.source,
            "format": self.format,
            "label": self.label,
            "mean_accepted": self.mean_accepted,
            "tokens_per_call": self.tokens_per_call,
            "se": self.se,
            "ci": list(self.ci) if self.ci else None,
            "uncertainty": self.uncertainty,
            "iterations": self.iterations,
            "groups": self.groups,
            "P": self.P,
            "mean_draft_size": self.mean_draft_size,
            "convention": self.convention,
            "distribution": None if self.distribution is None else [float(x) for x in self.distribution],
            "notes": list(self.notes),
            "model": self.model,
            "kind": self.kind,
        }
