"""matplotlib without a display: Agg unless the caller (a notebook) has already chosen a backend."""

from __future__ import annotations

import sys
from typing import Any


def pyplot() -> Any:
    """Return ``matplotlib.pyplot``, selecting the Agg backend first when pyplot is not loaded yet."""
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
