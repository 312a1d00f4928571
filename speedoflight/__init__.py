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
]
