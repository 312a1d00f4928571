"""speedoflight: the speed limit of speculative decoding.

The package turns logged verifier distributions into the moments that bound
how many draft tokens any drafter can get accepted per verifier call.

>>> from speedoflight import estimate
>>> m = estimate("data/smollm2-t1.npz")  # doctest: +SKIP
>>> m.mu, m.mu2, m.mu_ci                   # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import InputError, SpeedOfLightError
from .estimator import Moments, PerRow, estimate
from .readers import RowChunk, Source, open_source
from .rowmoments import row_moments

#: Public names loaded on first use (keeps ``import speedoflight`` and the CLI fast). Functions named like
#: their module (``compare``, ``simulate``) are imported from it: ``from speedoflight.compare import compare``.
_LAZY = {
    "Measured": "acceptance",
    "read_acceptance": "acceptance",
    "BoundCurve": "curve",
    "bound_curve": "curve",
    "pool": "simulate",
    "family": "simulate",
    "Timing": "timing",
    "GPUS": "timing",
    "speedup": "timing",
    "run_report": "report",
    "read_pair": "classic",
    "fit_law": "scaling",
    "acceptance_by_layer": "scaling",
}

__all__ = [
    "InputError",
    "Moments",
    "PerRow",
    "RowChunk",
    "Source",
    "SpeedOfLightError",
    "estimate",
    "open_source",
    "row_moments",
    *_LAZY,
]


def __getattr__(name: str) -> object:
    """Load the public names of the heavier modules on first use."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
