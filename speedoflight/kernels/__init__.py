"""The numba kernels behind the one jit factory, and the row moments they compute.

The kernels are private; :func:`row_moments` is their public face (entropy
and second log-moment per row, with the checks that turn a bad row into an
``InputError``). numba is imported only when it is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._util.lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .rowmoments import row_moments as row_moments

#: The public names by the module that defines them, each imported on first use.
_LAZY = {
    ".rowmoments": ["row_moments"],
}

__all__ = [
    "row_moments",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
