"""The grafted search's draws per root, with their spread (per-root intervals, docs/theory.md section 8.9).

:func:`grafted_roots_spread` is :func:`~speedoflight.kernels.grafted.grafted_roots` (no depth profile) that also
keeps, per root and tree size, the variance of the replicates' curves (squares taken about the first replicate's): the mean is the same bit for bit
(the same additions in the same order), and the spread of the draws comes from the same searches.
"""

from __future__ import annotations

import numba
import numpy as np

from ._jit import _jit
from .grafted import grafted_heap
from .seeded import child_id

__all__ = ["grafted_roots_spread"]


@_jit(parallel=True)
def grafted_roots_spread(
    neglogp,
    ids,
    node_row,
    child_ptr,
    child_tok,
    child_node,
    pool_rows,
    row_bin,
    depth_bin,
    root_node,
    root_pool_lo,
    root_pool_n,
    root_depth,
    seed_ids,
    curves,
    var,
):
    """Every root times every replicate: ``curves[j]`` the mean over replicates, ``var[j]`` their variance.

    The arguments are those of :func:`~speedoflight.kernels.grafted.grafted_roots` without the depth cap, width
    cap and profile. Returns the total number of nodes popped.
    """
    n_roots, pmax = curves.shape
    n_rep = seed_ids.shape[0]
    pops = np.zeros(n_roots, dtype=np.int64)
    for j in numba.prange(n_roots):
        mass = np.zeros(0)
        buf = np.empty(pmax)
        acc = np.zeros(pmax)
        acc2 = np.zeros(pmax)
        ref = np.zeros(pmax)  # the first replicate's curve: squares are taken about it (no cancellation)
        node = root_node[j]
        row = node_row[node]
        for r in range(n_rep):
            rid = child_id(seed_ids[r], node)
            pops[j] += grafted_heap(
                neglogp,
                ids,
                node_row,
                child_ptr,
                child_tok,
                child_node,
                pool_rows,
                row_bin,
                depth_bin,
                root_pool_lo[j],
                root_pool_n[j],
                node,
                row,
                root_depth[j],
                rid,
                pmax,
                neglogp.shape[1],
                0,
                mass,
                buf,
            )
            if r == 0:
                for t in range(pmax):
                    ref[t] = buf[t]
            for t in range(pmax):
                acc[t] += buf[t]
                acc2[t] += (buf[t] - ref[t]) * (buf[t] - ref[t])
        for t in range(pmax):
            curves[j, t] = acc[t] / n_rep
            d = curves[j, t] - ref[t]
            var[j, t] = max(acc2[t] / n_rep - d * d, 0.0)
    return pops.sum()
