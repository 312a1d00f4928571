"""The tree-search kernels, in one namespace: the heap search (:mod:`.heap`), seeded trees (:mod:`.seeded`), the positional DP.

Callers import this module (``from ..kernels import tree as KT``); the
kernels live in the modules named above, all through the one jit factory of
:mod:`.moments`. Every kernel has a plain twin in ``tests/reference.py``.
"""

from __future__ import annotations

from .heap import top_p_dirichlet, top_p_fast, top_p_one, top_p_pool_fast
from .positional import positional_dp
from .seeded import (
    GAMMA,
    below_threshold,
    child_id,
    curve_from_level,
    level_cap,
    mix64,
    root_id,
    row_of,
    top_p_pool_heap,
    top_p_pool_seeded,
    top_p_seeded,
    top_p_seeded_heap,
)

__all__ = [
    "GAMMA",
    "below_threshold",
    "child_id",
    "curve_from_level",
    "level_cap",
    "mix64",
    "positional_dp",
    "root_id",
    "row_of",
    "top_p_dirichlet",
    "top_p_fast",
    "top_p_one",
    "top_p_pool_fast",
    "top_p_pool_heap",
    "top_p_pool_seeded",
    "top_p_seeded",
    "top_p_seeded_heap",
]
