"""The timing model's old address, kept so that code written before the move goes on working.

Deprecated: import from :mod:`speedoflight.timing` (the model is in :mod:`speedoflight.timing.roofline`, the
devices in :mod:`speedoflight.timing.hardware`). This module only re-exports that package's names.
"""

from .. import timing as _timing
from ..timing import *  # noqa: F403  (the old address: every public name of the new one)

__all__ = list(_timing.__all__)
