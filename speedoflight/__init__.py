"""speedoflight: the speed limit of speculative decoding.

The package turns logged verifier distributions into the moments that bound
how many draft tokens any drafter can get accepted per verifier call.
"""

from __future__ import annotations

from .errors import InputError, SpeedOfLightError
from .rowmoments import row_moments

__all__ = ["InputError", "SpeedOfLightError", "row_moments"]
__version__ = "0.1.0"
