"""Seeded trees for pools: a node's row is a hash of its identity, and the top-P set is listed below a threshold.

The tree is a fixed function of the seed, whatever order a search visits it
in. The heap finds the top-P set one pop at a time
(:func:`top_p_seeded_heap`, also the tree export and the fallback), while
:func:`top_p_seeded` lists every node below a threshold breadth first and
reads the curve off the list: the same set, several times faster, since no
heap outgrows the cache.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._jit import _jit
from .heap import _count_pop, _sift_down, _sift_up

__all__ = [
    "GAMMA",
    "below_threshold",
    "child_id",
    "curve_from_level",
    "level_cap",
    "mix64",
    "root_id",
    "row_of",
    "top_p_pool_heap",
    "top_p_pool_seeded",
    "top_p_seeded",
    "top_p_seeded_heap",
]

# ---------------------------------------------------------------------------------------------
# Seeded trees: every node's distribution row is a hash of its identity, so the tree is a fixed
# function of the seed, whatever order a search visits it in. Node ids follow splitmix64: the
# children of the node with id u have the ids mix(u + (r + 1) * GAMMA), r = 0, 1, ... (the stream
# of a splitmix64 generator seeded with u), and a node's row is the top 32 bits of its id scaled
# to the pool size by a multiply-shift (integer arithmetic only, so tests/reference.py repeats it
# exactly). A key is always the parent's key plus the row's -log p of that rank, in one addition.

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@_jit()
def mix64(z):
    """Return the splitmix64 finaliser of the uint64 ``z`` (a bijection of 64-bit words)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@_jit()
def child_id(parent, rank):
    """Return the id of the child of sibling rank ``rank`` (0-based) of the node with id ``parent``."""
    return mix64(parent + np.uint64(rank + 1) * GAMMA)


@_jit()
def row_of(node, n_rows):
    """Return the pool row of the node with id ``node``: ((node >> 32) * n_rows) >> 32."""
    return np.int64(((node >> np.uint64(32)) * np.uint64(n_rows)) >> np.uint64(32))


@_jit()
def root_id(seed):
    """Return the id of the root (the verifier's current position) for a replicate seed."""
    return mix64(np.uint64(seed))


@_jit()
def top_p_seeded_heap(neglogp, root, pmax, at, curve_out, depth_hist, tree_parent, tree_rank, tree_depth, max_depth):
    """Best-first top-P search (the 4-ary heap of :func:`top_p_one`) on the seeded tree of ``root``.

    Per slot it keeps the parent's key, row and id with the node's rank and
    depth; a node's key is ``parent key + neglogp[parent row, rank]``. Counts
    popped nodes per depth and, when ``tree_parent`` is non-empty, records
    each popped node's parent (pop index, -1 for the root's children),
    sibling rank and depth. Only nodes at depth <= ``max_depth`` enter the tree (the best tree of that
    depth). Returns the number of nodes popped.
    """
    cap = pmax + 2
    hp = np.empty(2 * cap)
    p_key = np.empty(cap)
    p_id = np.empty(cap, dtype=np.uint64)
    p_row = np.empty(cap, dtype=np.int64)
    s_rank = np.empty(cap, dtype=np.int64)
    s_depth = np.empty(cap, dtype=np.int64)
    s_par = np.empty(cap, dtype=np.int64)
    n_rows, width = neglogp.shape
    rid = np.uint64(root)
    r0 = row_of(rid, n_rows)
    p_key[0], p_id[0], p_row[0], s_rank[0], s_depth[0], s_par[0] = 0.0, rid, r0, 0, 1, -1
    hp[0] = neglogp[r0, 0]
    hp[1] = 0.0
    n = 1 if neglogp[r0, 0] < np.inf else 0
    used = 1
    total = 0.0
    j = 0
    popped = 0
    for i in range(pmax):
        if n == 0:
            break
        k = hp[0]
        e = np.int64(hp[1])
        rank, depth, row, pk, pid, par = s_rank[e], s_depth[e], p_row[e], p_key[e], p_id[e], s_par[e]
        popped += 1
        total, j = _count_pop(
            i, k, depth, par, rank, total, j, at, curve_out, depth_hist, tree_parent, tree_rank, tree_depth
        )
        sib = rank + 1 < width and neglogp[row, rank + 1] < np.inf
        me = child_id(pid, rank)
        cr = row_of(me, n_rows)
        if neglogp[cr, 0] < np.inf and depth < max_depth:
            # the child reuses the popped slot and replaces the root
            p_key[e], p_id[e], p_row[e], s_rank[e], s_depth[e], s_par[e] = k, me, cr, 0, depth + 1, i
            _sift_down(hp, n, k + neglogp[cr, 0], float(e))
        else:
            n -= 1
            if n > 0:
                _sift_down(hp, n, hp[2 * n], hp[2 * n + 1])
        if sib:
            s = used
            used += 1
            p_key[s], p_id[s], p_row[s], s_rank[s], s_depth[s], s_par[s] = pk, pid, row, rank + 1, depth, par
            n += 1
            _sift_up(hp, n - 1, pk + neglogp[row, rank + 1], float(s))
    while j < at.shape[0]:
        curve_out[j] = total
        j += 1
    return popped


@_jit()
def _bucket(key, lo, inv_w, nb):
    return min(np.int64((key - lo) * inv_w), nb - 1)


@_jit()
def below_threshold(neglogp, root, tmax, keys, ids, depths, lo, inv_w, counts):
    """List, breadth first, every node of the seeded tree with key <= ``tmax``.

    Writes their keys, ids and depths (saturating at 65,535) to the arrays,
    whose length is the cap, and counts them in ``counts``: equal-width
    buckets of key over [lo, tmax]. A node's row is read only when the node
    is reached in the queue, so the loads of successive nodes overlap.
    Returns the number of nodes, or -1 when there are more than the cap.
    """
    n_rows, width = neglogp.shape
    cap = keys.shape[0]
    nb = counts.shape[0]
    counts[:] = 0
    n = 0
    rid = np.uint64(root)
    row = row_of(rid, n_rows)
    for r in range(width):
        ck = neglogp[row, r]
        if not ck <= tmax:
            break
        if n == cap:
            return -1
        keys[n] = ck
        ids[n] = child_id(rid, r)
        depths[n] = 1
        n += 1
    i = 0
    while i < n:
        k = keys[i]
        u = ids[i]
        d = min(np.int64(depths[i]) + 1, 65535)
        counts[_bucket(k, lo, inv_w, nb)] += 1
        row = row_of(u, n_rows)
        for r in range(width):
            ck = k + neglogp[row, r]
            if not ck <= tmax:
                break
            if n == cap:
                return -1
            keys[n] = ck
            ids[n] = child_id(u, r)
            depths[n] = d
            n += 1
        i += 1
    return n


@_jit()
def _stable_order(x, a, b):
    """Sort the indices ``0..len(x)-1`` by ``x``, ties in index order (bottom-up merge sort, like a stable argsort).

    ``a`` and ``b`` are int64 buffers of ``len(x)``; returns the one that holds
    the result. Written out rather than ``np.argsort(kind="mergesort")``: the
    same order, and a fraction of its compile time (which a first run pays).
    """
    n = x.shape[0]
    for i in range(n):
        a[i] = i
    src, dst = a, b
    width = 1
    while width < n:
        for start in range(0, n, 2 * width):
            mid = min(start + width, n)
            end = min(start + 2 * width, n)
            i, j = start, mid
            for k in range(start, end):
                if j < end and (i >= mid or x[src[j]] < x[src[i]]):
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
        src, dst = dst, src
        width *= 2
    return src


@_jit()
def curve_from_level(keys, depths, n, counts, lo, inv_w, pmax, at, curve_out, depth_hist):
    """E[X*(P)] at ``at`` and nodes per depth at ``pmax`` from the nodes listed by :func:`below_threshold`.

    The P-th smallest key lies in the first bucket whose cumulative count
    reaches P. Only those boundary buckets are sorted; every other bucket
    below the last one adds its sum of ``e^-key`` whole. Needs n >= pmax and
    ``at`` increasing, at most ``pmax`` (as :func:`~speedoflight.simulation.simulate.simulate` gives it).
    """
    nb = counts.shape[0]
    max_depth = depth_hist.shape[0] - 1
    # plain loops below where numpy calls would cost compile time (a first run pays it) for nothing
    cum = np.empty(nb, dtype=np.int64)
    c = 0
    for b in range(nb):
        c += counts[b]
        cum[b] = c
    nt = at.shape[0] + 1
    targets = np.empty(nt, dtype=np.int64)
    for j in range(nt - 1):
        targets[j] = at[j]
    targets[nt - 1] = pmax
    bnd = np.empty(nt, dtype=np.int64)  # first bucket whose cumulative count reaches the target
    ub = np.empty(nt, dtype=np.int64)  # the distinct boundary buckets (targets are increasing, so is bnd)
    m = 0
    b = 0
    for j in range(nt):
        while b < nb - 1 and cum[b] < targets[j]:
            b += 1
        bnd[j] = b
        if m == 0 or b != ub[m - 1]:
            ub[m] = b
            m += 1
    bmax = ub[m - 1]
    b_index = np.full(bmax + 1, -1, dtype=np.int64)
    seg = np.empty(bmax + 1, dtype=np.int64)
    s = 0
    for b in range(bmax + 1):
        if s < m and ub[s] == b:
            b_index[b] = s
            s += 1
        seg[b] = s  # boundary buckets below b: the open segment before boundary s
    start = np.zeros(m + 1, dtype=np.int64)
    for s in range(m):
        start[s + 1] = start[s] + counts[ub[s]]
    fill = np.empty(m, dtype=np.int64)
    for s in range(m):
        fill[s] = start[s]
    gk = np.empty(start[m])
    gd = np.empty(start[m], dtype=np.int64)
    between = np.zeros(m + 1)
    for i in range(n):
        b = _bucket(keys[i], lo, inv_w, nb)
        if b > bmax:
            continue
        s = b_index[b]
        if s >= 0:
            gk[fill[s]] = keys[i]
            gd[fill[s]] = depths[i]
            fill[s] += 1
        else:
            between[seg[b]] += math.exp(-keys[i])
            depth_hist[min(np.int64(depths[i]), max_depth)] += 1
    # the boundary buckets in key order (ties: list order, itself deterministic), with prefix sums
    prefix = np.empty(start[m])
    before = np.empty(m)
    buf_a = np.empty(start[m], dtype=np.int64)
    buf_b = np.empty(start[m], dtype=np.int64)
    gd_sorted = np.empty(start[m], dtype=np.int64)
    running = 0.0
    for s in range(m):
        lo_s, hi_s = start[s], start[s + 1]
        order = _stable_order(gk[lo_s:hi_s], buf_a[lo_s:hi_s], buf_b[lo_s:hi_s])
        acc = 0.0
        for t in range(hi_s - lo_s):
            acc += math.exp(-gk[lo_s + order[t]])
            prefix[lo_s + t] = acc
            gd_sorted[lo_s + t] = gd[lo_s + order[t]]
        running += between[s]
        before[s] = running
        running += acc
    for j in range(targets.shape[0]):
        b = bnd[j]
        s = b_index[b]
        taken = targets[j] - (cum[b - 1] if b > 0 else 0)
        total = before[s] + prefix[start[s] + taken - 1]
        if j < at.shape[0]:
            curve_out[j] = total
        else:
            # every boundary bucket below the last is whole; of the last, the ``taken`` smallest
            for t in range(start[s] + taken):
                depth_hist[min(gd_sorted[t], max_depth)] += 1


@_jit()
def level_cap(pmax):
    """Return the number of nodes :func:`top_p_seeded` may list for ``pmax`` (18 bytes each)."""
    return pmax + pmax // 4 + 1024


@_jit()
def top_p_seeded(neglogp, root, pmax, at, curve_out, depth_hist, keys, ids, depths, growth):
    """One replicate of the optimal tree on the seeded tree of ``root``: the top ``pmax`` nodes by threshold.

    The top-P set is every node with key <= the P-th smallest key, whatever
    order a search lists them in, and the seeded tree does not depend on that
    order. So instead of popping a heap, list every node below a threshold
    breadth first (:func:`below_threshold`) and pick the curve out of the
    list (:func:`curve_from_level`). The threshold grows from the smallest
    key. The number of nodes with key <= t grows like e^(growth t), with
    ``growth`` the pool's Malthusian parameter (the root of
    E[sum_i p_i^lambda] = 1; 1 for rows that sum to one), so once a try lists
    256 nodes or more the next aims straight at ``pmax + pmax / 32`` nodes;
    smaller tries grow 64-fold. With ``growth`` 0 (unknown) the rate is
    measured on each try instead (the nodes below the middle of its range
    against all) and the aim is ``pmax + pmax / 8``. A try that lists more than
    the cap halves the step. If tries run out (keys that tie in bulk, such as
    a pool of one uniform row), the heap search :func:`top_p_seeded_heap`
    answers instead, on the same tree. ``depth_hist`` must be zero on entry.
    Returns the number of nodes listed (0 when the heap answered).
    """
    n_rows = neglogp.shape[0]
    lo = neglogp[row_of(np.uint64(root), n_rows), 0]
    nb = min(65536, max(256, pmax // 16))
    counts = np.zeros(nb, dtype=np.int64)
    target = pmax + (pmax // 32 if growth > 0 else pmax // 8) + 16
    t = lo + 1.0
    t_low = lo
    t_high = np.inf
    n_low = -1
    overflows = 0
    for _ in range(48):
        span = t - lo
        inv_w = nb / span if span > 0 else 0.0
        n = below_threshold(neglogp, root, t, keys, ids, depths, lo, inv_w, counts)
        if n >= pmax:
            curve_from_level(keys, depths, n, counts, lo, inv_w, pmax, at, curve_out, depth_hist)
            return n
        if n < 0:
            overflows += 1
            if overflows > 4:
                break
            t_high = t
            t = 0.5 * (t_low + t_high)
            continue
        if n == n_low and t_high < np.inf:
            break  # no node between the two thresholds below the cap: keys tie in bulk
        t_low = t
        n_low = n
        half = np.sum(counts[: nb // 2])
        if growth > 0:
            goal = target if n >= 256 else min(target, 64 * n)
            t_new = t + math.log(goal / n) / growth
        elif span > 0 and 1 <= half < n:
            goal = target if 64 * n >= pmax else 64 * n
            t_new = t + math.log(goal / n) / (math.log(n / half) / (0.5 * span))
        else:
            t_new = t + max(span, 1.0)
        if t_new >= t_high:
            t_new = 0.5 * (t + t_high)
        t = t_new
    empty = np.empty(0, dtype=np.int64)
    depth_hist[:] = 0
    top_p_seeded_heap(neglogp, root, pmax, at, curve_out, depth_hist, empty, empty, empty, pmax)
    return 0


@_jit(parallel=True)
def top_p_pool_seeded(neglogp, seeds, pmax, at, curves, depth_hists, workers, growth):
    """Replicates in parallel with :func:`top_p_seeded`, replicate i on the tree of ``root_id(seeds[i])``.

    Each of ``workers`` (one per thread) takes replicates w, w + workers, ...
    and keeps its node arrays from one replicate to the next (fresh pages cost
    as much as the search itself). Which worker runs a replicate changes
    nothing in it.
    """
    cap = level_cap(pmax)
    n_rep = seeds.shape[0]
    workers = max(1, min(workers, n_rep))
    for w in numba.prange(workers):
        keys = np.empty(cap)
        ids = np.empty(cap, dtype=np.uint64)
        depths = np.empty(cap, dtype=np.uint16)
        for rep in range(w, n_rep, workers):
            top_p_seeded(
                neglogp, root_id(seeds[rep]), pmax, at, curves[rep], depth_hists[rep], keys, ids, depths, growth
            )


@_jit(parallel=True)
def top_p_pool_heap(neglogp, seeds, pmax, at, curves, depth_hists, max_depth):
    """Replicates in parallel with :func:`top_p_seeded_heap` capped at ``max_depth`` levels (replicate i: seed i)."""
    empty = np.empty(0, dtype=np.int64)
    for rep in numba.prange(seeds.shape[0]):
        top_p_seeded_heap(
            neglogp, root_id(seeds[rep]), pmax, at, curves[rep], depth_hists[rep], empty, empty, empty, max_depth
        )
