"""The positional dynamic program: the best tree under a per-rank acceptance vector (checks the search)."""

from __future__ import annotations

import numpy as np

from ._jit import _jit

__all__ = ["positional_dp"]


@_jit()
def positional_dp(acc, budget, max_depth):
    """Best expected accepted tokens of a tree under a positional acceptance vector, by dynamic program.

    ``g[d, n]``: the best sum of path products of at most n nodes hanging
    below a root, at most d levels deep. A root's children use distinct ranks
    i (acceptance ``acc[i]``, any subset, any order); child i with a subtree of
    m - 1 further nodes is worth ``acc[i] * (1 + g[d - 1, m - 1])``. Over the
    ranks, ``h[i, n]`` is the best using ranks i.. only (skip rank i, or give
    it m nodes). Independent of the best-first search, which it checks.
    Returns ``g[max_depth, 0..budget]``.
    """
    k = acc.shape[0]
    g = np.zeros((max_depth + 1, budget + 1))
    h = np.zeros((k + 1, budget + 1))
    for d in range(1, max_depth + 1):
        for n in range(budget + 1):
            h[k, n] = 0.0
        for i in range(k - 1, -1, -1):
            for n in range(budget + 1):
                best = h[i + 1, n]
                for m in range(1, n + 1):
                    v = acc[i] * (1.0 + g[d - 1, m - 1]) + h[i + 1, n - m]
                    if v > best:
                        best = v
                h[i, n] = best
        for n in range(budget + 1):
            g[d, n] = h[0, n]
    return g[max_depth]
