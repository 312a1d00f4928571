"""Other theories: classical speculative sampling, the Markov-chain view, Scylla's laws, HiSpec's hierarchy.

:mod:`.classic` (one draft model, chains of gamma tokens; its function
``classic`` is imported from the module, whose name it shares),
:mod:`.markov` (rejections and multi-draft trade-offs), :mod:`.scaling`
(log-linear laws of acceptance) and :mod:`.hierarchy` (hierarchical
verification).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._util.lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .classic import ClassicResult as ClassicResult
    from .classic import best_gamma as best_gamma
    from .classic import chain_speedup as chain_speedup
    from .hierarchy import Costs as Costs
    from .hierarchy import compare_schemes as compare_schemes
    from .hierarchy import simulate_bernoulli as simulate_bernoulli
    from .hierarchy import simulate_tokens as simulate_tokens
    from .markov import RejectionResult as RejectionResult
    from .markov import expected_rejections as expected_rejections
    from .markov import multi_draft_rejection as multi_draft_rejection
    from .markov import tradeoff as tradeoff
    from .scaling import LawFit as LawFit
    from .scaling import acceptance_by_layer as acceptance_by_layer
    from .scaling import fit_law as fit_law

#: The public names by the module that defines them, each imported on first use.
_LAZY = {
    ".classic": ["ClassicResult", "best_gamma", "chain_speedup"],
    ".markov": ["expected_rejections", "multi_draft_rejection", "tradeoff", "RejectionResult"],
    ".scaling": ["fit_law", "acceptance_by_layer", "LawFit"],
    ".hierarchy": ["compare_schemes", "simulate_bernoulli", "simulate_tokens", "Costs"],
}

__all__ = [
    "ClassicResult",
    "Costs",
    "LawFit",
    "RejectionResult",
    "acceptance_by_layer",
    "best_gamma",
    "chain_speedup",
    "compare_schemes",
    "expected_rejections",
    "fit_law",
    "multi_draft_rejection",
    "simulate_bernoulli",
    "simulate_tokens",
    "tradeoff",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
