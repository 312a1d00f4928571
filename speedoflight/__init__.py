"""speedoflight: the speed limit of speculative decoding.

The package turns logged verifier distributions into the moments that bound
how many draft tokens any drafter can get accepted per verifier call, and
holds measured drafters against that ceiling.

>>> import speedoflight as sol
>>> m = sol.estimate("data/smollm2-t1.npz")            # doctest: +SKIP
>>> curve = sol.bound_curve([8, 64], mu=m.mu, mu2=m.mu2)  # doctest: +SKIP

The names here are the curated public API (``__all__``); each subpackage
(:mod:`speedoflight.theory`, :mod:`speedoflight.simulation`,
:mod:`speedoflight.analysis`, ...) lists more of its own. Words are defined in
``docs/glossary.md``. Every name is loaded on first use, so ``import
speedoflight`` (and the CLI's ``--help``) imports neither numba nor
scipy.stats nor ml_dtypes nor matplotlib (``tests/test_startup.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._util.lazy import lazy_exports
from ._version import __version__
from .errors import InputError, SpeedOfLightError

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from ._util.shipped import shipped_data as shipped_data
    from .analysis.compare import Comparison as Comparison
    from .analysis.compare import compare as compare
    from .analysis.evidence import figure as evidence_figure
    from .analysis.export import Export as Export
    from .analysis.export import export_ceiling as export_ceiling
    from .analysis.export import export_measured as export_measured
    from .analysis.figures import compare_figure as compare_figure
    from .analysis.figures import position_figure as position_figure
    from .analysis.plots import law_figure as law_figure
    from .analysis.plots import tradeoff_figure as tradeoff_figure
    from .analysis.report import run_report as run_report
    from .logs.acceptance import Measured as Measured
    from .logs.acceptance import read_acceptance as read_acceptance
    from .readers import open_source as open_source
    from .serving.collect import collect as collect
    from .simulation.grafted import OptimumResult as OptimumResult
    from .simulation.grafted import optimum as optimum
    from .simulation.simulate import SimulationResult as SimulationResult
    from .simulation.simulate import pool as pool
    from .simulation.simulate import simulate as simulate
    from .theory.curve import BoundCurve as BoundCurve
    from .theory.curve import bound_curve as bound_curve
    from .theory.estimator import Moments as Moments
    from .theory.estimator import estimate as estimate
    from .timing import Timing as Timing

#: The public names by the module that defines them, in the order of a run: read, estimate and bound, simulate
#: the optimum, compare and report, export and collect; then one function per figure, and where the example data is.
_LAZY = {
    ".readers": ["open_source"],
    ".logs.acceptance": ["read_acceptance", "Measured"],
    ".theory.estimator": ["estimate", "Moments"],
    ".theory.curve": ["bound_curve", "BoundCurve"],
    ".timing": ["Timing"],
    ".simulation.simulate": ["pool", "simulate", "SimulationResult"],
    ".simulation.grafted": ["optimum", "OptimumResult"],
    ".analysis.compare": ["compare", "Comparison"],
    ".analysis.report": ["run_report"],
    ".analysis.export": ["export_ceiling", "export_measured", "Export"],
    ".serving.collect": ["collect"],
    ".analysis.figures": ["compare_figure", "position_figure"],
    ".analysis.evidence": ["evidence_figure=figure"],
    ".analysis.plots": ["tradeoff_figure", "law_figure"],
    "._util.shipped": ["shipped_data"],
}

#: Names this namespace listed before it was curated: they still resolve, with a DeprecationWarning that names
#: their subpackage.
_MOVED = {
    "PerRow": "speedoflight.theory",
    "RowChunk": "speedoflight.readers",
    "Source": "speedoflight.readers",
    "row_moments": "speedoflight.kernels",
    "family": "speedoflight.simulation",
    "GPUS": "speedoflight.timing",
    "speedup": "speedoflight.timing",
    "read_pair": "speedoflight.readers",
    "fit_law": "speedoflight.beyond",
    "acceptance_by_layer": "speedoflight.beyond",
}

__all__ = [
    "BoundCurve",
    "Comparison",
    "Export",
    "InputError",
    "Measured",
    "Moments",
    "OptimumResult",
    "SimulationResult",
    "SpeedOfLightError",
    "Timing",
    "__version__",
    "bound_curve",
    "collect",
    "compare",
    "compare_figure",
    "estimate",
    "evidence_figure",
    "export_ceiling",
    "export_measured",
    "law_figure",
    "open_source",
    "optimum",
    "pool",
    "position_figure",
    "read_acceptance",
    "run_report",
    "shipped_data",
    "simulate",
    "tradeoff_figure",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, _MOVED)
