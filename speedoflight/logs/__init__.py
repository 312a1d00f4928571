"""Serving logs in: measured acceptance from every source, normalised to accepted draft tokens per call.

:func:`read_acceptance` reads one file of any format it knows (``FORMATS``),
each parsed by its engine's module; :mod:`.watch` follows a live server's
``/metrics``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._util.lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .acceptance import FORMATS as FORMATS
    from .acceptance import Measured as Measured
    from .acceptance import detect as detect
    from .acceptance import read_acceptance as read_acceptance
    from .acceptance import read_many as read_many

#: The public names by the module that defines them, each imported on first use.
_LAZY = {
    ".acceptance": ["read_acceptance", "read_many", "detect", "Measured", "FORMATS"],
}

__all__ = [
    "FORMATS",
    "Measured",
    "detect",
    "read_acceptance",
    "read_many",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
