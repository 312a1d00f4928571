"""speedoflight: the speed limit of speculative decoding.

The package turns logged verifier distributions into the moments that bound
how many draft tokens any drafter can get accepted per verifier call.

>>> from speedoflight import estimate
>>> m = estimate("data/smollm2-t1.npz")  # doctest: +SKIP
>>> m.mu, m.mu2, m.mu_ci                   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__
from .errors import InputError, SpeedOfLightError

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .analysis.report import run_report as run_report
    from .beyond.scaling import acceptance_by_layer as acceptance_by_layer
    from .beyond.scaling import fit_law as fit_law
    from .kernels.rowmoments import row_moments as row_moments
    from .logs.acceptance import Measured as Measured
    from .logs.acceptance import read_acceptance as read_acceptance
    from .readers import RowChunk as RowChunk
    from .readers import Source as Source
    from .readers import open_source as open_source
    from .readers.pairs import read_pair as read_pair
    from .simulation.grafted import optimum as optimum
    from .simulation.simulate import family as family
    from .simulation.simulate import pool as pool
    from .theory.curve import BoundCurve as BoundCurve
    from .theory.curve import bound_curve as bound_curve
    from .theory.estimator import Moments as Moments
    from .theory.estimator import PerRow as PerRow
    from .theory.estimator import estimate as estimate
    from .timing import GPUS as GPUS
    from .timing import Timing as Timing
    from .timing import speedup as speedup

#: Every other public name is loaded on first use, so ``import speedoflight`` (and the CLI's ``--help``) imports
#: neither numba nor scipy.stats nor ml_dtypes nor matplotlib (``tests/test_startup.py``). Functions named like
#: their module (``compare``, ``simulate``) are imported from it: ``from speedoflight.analysis.compare import compare``.
_LAZY = {
    "Moments": "theory.estimator",
    "PerRow": "theory.estimator",
    "estimate": "theory.estimator",
    "RowChunk": "readers",
    "Source": "readers",
    "open_source": "readers",
    "row_moments": "kernels.rowmoments",
    "Measured": "logs.acceptance",
    "read_acceptance": "logs.acceptance",
    "BoundCurve": "theory.curve",
    "bound_curve": "theory.curve",
    "pool": "simulation.simulate",
    "optimum": "simulation.grafted",
    "family": "simulation.simulate",
    "Timing": "timing",
    "GPUS": "timing",
    "speedup": "timing",
    "run_report": "analysis.report",
    "read_pair": "readers.pairs",
    "fit_law": "beyond.scaling",
    "acceptance_by_layer": "beyond.scaling",
}

__all__ = ["InputError", "SpeedOfLightError", "__version__", *_LAZY]


def __getattr__(name: str) -> object:
    """Load the public names of the heavier modules on first use."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """List the public names, loaded or not."""
    return sorted({*globals(), *_LAZY})
