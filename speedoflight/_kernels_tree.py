"""Private numba kernels of the branching-random-walk simulator (same factory as ``_kernels``).

The best-first top-P search of a draft tree (THEORY.md section 4): a heap of
candidate nodes keyed by ``V = -log pi`` (path surprisal). Popping the node of
smallest V adds ``pi = e^{-V}`` to E[X]; then its next sibling (same parent,
next rank) and its first child (the popped node's own distribution, drawn
when it is popped) are pushed. Each pop pushes at most two entries, so the
heap never holds more than Pmax + 1 entries.

Distributions are rows of ``neglogp`` (``-log p`` sorted increasingly, ``inf``
padding); ``draws`` gives, in pop order, the row each newly expanded node
uses (index 0: the root).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._kernels import _jit


@_jit()
def _sift_up(key, pv, row, rank, depth, par, i):
    while i > 0:
        parent = (i - 1) >> 1
        if key[parent] <= key[i]:
            break
        key[parent], key[i] = key[i], key[parent]
        pv[parent], pv[i] = pv[i], pv[parent]
        row[parent], row[i] = row[i], row[parent]
        rank[parent], rank[i] = rank[i], rank[parent]
        depth[parent], depth[i] = depth[i], depth[parent]
        par[parent], par[i] = par[i], par[parent]
        i = parent


@_jit()
def _sift_down(key, pv, row, rank, depth, par, n):
    i = 0
    while True:
        left = 2 * i + 1
        if left >= n:
            break
        small = left
        right = left + 1
        if right < n and key[right] < key[left]:
            small = right
        if key[i] <= key[small]:
            break
        key[small], key[i] = key[i], key[small]
        pv[small], pv[i] = pv[i], pv[small]
        row[small], row[i] = row[i], row[small]
        rank[small], rank[i] = rank[i], rank[small]
        depth[small], depth[i] = depth[i], depth[small]
        par[small], par[i] = par[i], par[small]
        i = small


@_jit()
def top_p_one(neglogp, draws, pmax, at, curve_out, depth_hist, tree_parent, tree_rank, tree_depth):
    """One replicate of the optimal tree: E[X*(P)] at the capacities ``at`` (sorted, 1-based).

    Also counts popped nodes per depth into ``depth_hist`` and, when
    ``tree_parent`` is non-empty, records each popped node's parent (pop
    index, -1 for the root's children), sibling rank and depth.
    Returns the number of nodes popped (< pmax only if the tree is finite).
    """
    cap = pmax + 2
    key = np.empty(cap)
    pv = np.empty(cap)
    row = np.empty(cap, dtype=np.int64)
    rank = np.empty(cap, dtype=np.int64)
    depth = np.empty(cap, dtype=np.int64)
    par = np.empty(cap, dtype=np.int64)
    width = neglogp.shape[1]
    max_depth = depth_hist.shape[0] - 1
    record = tree_parent.shape[0] > 0
    n = 0
    r0 = draws[0]
    if neglogp[r0, 0] < np.inf:
        key[0] = neglogp[r0, 0]
        pv[0] = 0.0
        row[0] = r0
        rank[0] = 0
        depth[0] = 1
        par[0] = -1
        n = 1
    total = 0.0
    j = 0
    popped = 0
    for i in range(pmax):
        if n == 0:
            break
        k = key[0]
        kp, kr, kk, kd, kpar = pv[0], row[0], rank[0], depth[0], par[0]
        n -= 1
        if n > 0:
            key[0], pv[0], row[0], rank[0], depth[0], par[0] = key[n], pv[n], row[n], rank[n], depth[n], par[n]
            _sift_down(key, pv, row, rank, depth, par, n)
        total += math.exp(-k)
        popped += 1
        depth_hist[min(kd, max_depth)] += 1
        if record:
            tree_parent[i] = kpar
            tree_rank[i] = kk
            tree_depth[i] = kd
        while j < at.shape[0] and at[j] == i + 1:
            curve_out[j] = total
            j += 1
        if kk + 1 < width and neglogp[kr, kk + 1] < np.inf:
            key[n] = kp + neglogp[kr, kk + 1]
            pv[n], row[n], rank[n], depth[n], par[n] = kp, kr, kk + 1, kd, kpar
            n += 1
            _sift_up(key, pv, row, rank, depth, par, n - 1)
        r = draws[i + 1]
        if neglogp[r, 0] < np.inf:
            key[n] = k + neglogp[r, 0]
            pv[n], row[n], rank[n], depth[n], par[n] = k, r, 0, kd + 1, i
            n += 1
            _sift_up(key, pv, row, rank, depth, par, n - 1)
    while j < at.shape[0]:
        curve_out[j] = total
        j += 1
    return popped


@_jit(parallel=True)
def top_p_pool(neglogp, seeds, pmax, at, curves, depth_hists):
    """Replicates in parallel: each seeds numba's generator with its own seed and draws pool rows."""
    n_rows = neglogp.shape[0]
    empty = np.empty(0, dtype=np.int64)
    for rep in numba.prange(seeds.shape[0]):
        np.random.seed(seeds[rep])
        draws = np.empty(pmax + 1, dtype=np.int64)
        for i in range(pmax + 1):
            draws[i] = np.random.randint(0, n_rows)
        top_p_one(neglogp, draws, pmax, at, curves[rep], depth_hists[rep], empty, empty, empty)


@_jit(parallel=True)
def top_p_dirichlet(alpha, vocab, seeds, pmax, at, curves, depth_hists):
    """Replicates with a fresh Dirichlet(alpha, ..., alpha) distribution for every expanded node."""
    empty = np.empty(0, dtype=np.int64)
    for rep in numba.prange(seeds.shape[0]):
        np.random.seed(seeds[rep])
        rows = np.empty((pmax + 1, vocab))
        for i in range(pmax + 1):
            s = 0.0
            for v in range(vocab):
                g = np.random.gamma(alpha, 1.0)
                rows[i, v] = g
                s += g
            srt = np.sort(rows[i])[::-1]
            for v in range(vocab):
                p = srt[v] / s
                rows[i, v] = -math.log(p) if p > 0 else np.inf
        draws = np.arange(pmax + 1)
        top_p_one(rows, draws, pmax, at, curves[rep], depth_hists[rep], empty, empty, empty)
