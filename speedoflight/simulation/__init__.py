"""Simulated draft trees: the optimal tree under the i.i.d. model, the grafted optimum, practical policies.

:mod:`.simulate` (a pool of rows, the optimal tree E[X*(P)] simulated under
the i.i.d. model), :mod:`.grafted` (the grafted prediction of the real
optimum from logged continuations), :mod:`.policies` (chains, K-ary, static
and dynamic trees) and :mod:`.positional` (static trees for a positional
acceptance vector). The simulator itself is ``speedoflight.simulate`` (or
``speedoflight.simulation.simulate.simulate``): this package's ``simulate``
is its module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._util.lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .grafted import OptimumResult as OptimumResult
    from .grafted import optimum as optimum
    from .policies import POLICIES as POLICIES
    from .policies import dynamic_curve as dynamic_curve
    from .policies import policy_curve as policy_curve
    from .positional import PositionalTree as PositionalTree
    from .positional import best_chain as best_chain
    from .positional import best_tree as best_tree
    from .simulate import Distribution as Distribution
    from .simulate import SimulationResult as SimulationResult
    from .simulate import family as family
    from .simulate import optimal_tree as optimal_tree
    from .simulate import pool as pool

#: The public names by the module that defines them, each imported on first use.
_LAZY = {
    ".simulate": ["pool", "family", "Distribution", "SimulationResult", "optimal_tree"],
    ".grafted": ["optimum", "OptimumResult"],
    ".policies": ["policy_curve", "dynamic_curve", "POLICIES"],
    ".positional": ["best_tree", "best_chain", "PositionalTree"],
}

__all__ = [
    "POLICIES",
    "Distribution",
    "OptimumResult",
    "PositionalTree",
    "SimulationResult",
    "best_chain",
    "best_tree",
    "dynamic_curve",
    "family",
    "optimal_tree",
    "optimum",
    "policy_curve",
    "pool",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
