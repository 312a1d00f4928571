"""The [model] extra: loading real models, dumps, tree attention, the exact oracle, measured drafters.

:func:`run_dump` (dump a model's distributions), :func:`run_oracle` (the
exact optimal tree with real forward passes; the module :mod:`.oracle` holds
the name ``oracle`` here), :func:`run_measure` (real drafters on a real
verifier) and :func:`load_model`. torch and transformers are imported only
inside them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._util.lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .dump import run_dump as run_dump
    from .loading import LoadedModel as LoadedModel
    from .loading import load_model as load_model
    from .measure import run_measure as run_measure
    from .oracle import oracle_curve as oracle_curve
    from .oracle import run_oracle as run_oracle

#: The public names by the module that defines them, each imported on first use.
_LAZY = {
    ".dump": ["run_dump"],
    ".oracle": ["run_oracle", "oracle_curve"],
    ".measure": ["run_measure"],
    ".loading": ["load_model", "LoadedModel"],
}

__all__ = [
    "LoadedModel",
    "load_model",
    "oracle_curve",
    "run_dump",
    "run_measure",
    "run_oracle",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
