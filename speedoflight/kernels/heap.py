"""The best-first heap search of a draft tree on pre-drawn rows: Dirichlet families and one-row families.

The best-first top-P search (docs/theory.md section 5): a 4-ary heap of
candidate nodes keyed by ``V = -log pi`` (path surprisal). Popping the node of
smallest V adds ``pi = e^{-V}`` to E[X]; then its next sibling (same parent, next rank)
and its first child (the popped node's own distribution, drawn when it is
popped) are pushed. A sibling's key is the popped key plus the gap between
the two ranks' surprisals, ``k + (s[r + 1] - s[r])``; every kernel and the
test reference use exactly this arithmetic, so they pop in the same order bit
for bit. Each pop pushes at most two entries, so the queue never holds more
than Pmax + 1 entries.

Distributions are rows of ``neglogp`` (``-log p`` sorted increasingly, ``inf``
padding); ``draws`` gives, in pop order, the row each newly expanded node uses
(index 0: the root). :func:`top_p_one` serves fresh Dirichlet draws per node
(:func:`top_p_dirichlet`); the packed, pruned :func:`top_p_fast` serves
one-row families (``uniform:K``, ``geometric:q``, ``zipf:s:V``), where every
node has the same row. Pools use the seeded trees of :mod:`.seeded`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._jit import _jit

__all__ = ["top_p_dirichlet", "top_p_fast", "top_p_one", "top_p_pool_fast"]


@_jit()
def _sift_down(hp, n, key, slot):
    """Place (key, slot) at the root hole of the 4-ary heap ``hp`` (pairs key, slot) of size n.

    Children of i are 4i+1 .. 4i+4: half the levels of a binary heap, and the
    four candidates of a level sit side by side in memory.
    """
    i = 0
    while True:
        c = 4 * i + 1
        if c >= n:
            break
        best = c
        bk = hp[2 * c]
        last = min(c + 4, n)
        for t in range(c + 1, last):
            if hp[2 * t] < bk:
                bk = hp[2 * t]
                best = t
        if bk >= key:
            break
        hp[2 * i] = bk
        hp[2 * i + 1] = hp[2 * best + 1]
        i = best
    hp[2 * i] = key
    hp[2 * i + 1] = slot


@_jit()
def _sift_up(hp, i, key, slot):
    """Place (key, slot) at the hole ``i`` (a new last position) of the 4-ary heap and move it up."""
    while i > 0:
        p = (i - 1) >> 2
        if hp[2 * p] <= key:
            break
        hp[2 * i] = hp[2 * p]
        hp[2 * i + 1] = hp[2 * p + 1]
        i = p
    hp[2 * i] = key
    hp[2 * i + 1] = slot


@_jit()
def _count_pop(i, k, depth, parent, rank, total, j, at, curve_out, depth_hist, tree_parent, tree_rank, tree_depth):
    """Book pop number ``i`` (key ``k``) and return (total, j), j the next index into ``at``.

    Adds e^-k to the running total, counts the depth, records the node when
    ``tree_parent`` is non-empty and fills the curve at every capacity reached.
    """
    total += math.exp(-k)
    depth_hist[min(depth, depth_hist.shape[0] - 1)] += 1
    if tree_parent.shape[0] > 0:
        tree_parent[i] = parent
        tree_rank[i] = rank
        tree_depth[i] = depth
    while j < at.shape[0] and at[j] == i + 1:
        curve_out[j] = total
        j += 1
    return total, j


@_jit()
def top_p_one(neglogp, draws, pmax, at, curve_out, depth_hist, tree_parent, tree_rank, tree_depth):
    """One replicate of the optimal tree: E[X*(P)] at the capacities ``at`` (sorted, 1-based).

    The 4-ary heap holds (key, slot) pairs side by side in one float64 array,
    so a level of the heap is one or two cache lines; a node's other fields live in
    per-slot arrays, touched only when it is pushed or popped. A pop with a
    child to push puts the child at the root and sifts it down once
    ("replace top"); the sibling is then pushed with a short sift up. The
    popped node's slot is reused by its child, so at most Pmax + 2 slots exist.

    Also counts popped nodes per depth into ``depth_hist`` and, when
    ``tree_parent`` is non-empty, records each popped node's parent (pop
    index, -1 for the root's children), sibling rank and depth.
    Returns the number of nodes popped (< pmax only if the tree is finite).
    """
    cap = pmax + 2
    hp = np.empty(2 * cap)
    # per slot, one row: parent's key, distribution row, sibling rank, depth, parent pop index
    # (integers stored as float64, exact below 2^53), so a node's fields share a cache line
    pl = np.empty((cap, 5))
    width = neglogp.shape[1]
    n = 0
    used = 0
    r0 = draws[0]
    if neglogp[r0, 0] < np.inf:
        pl[0, 0], pl[0, 1], pl[0, 2], pl[0, 3], pl[0, 4] = 0.0, r0, 0.0, 1.0, -1.0
        hp[0] = neglogp[r0, 0]
        hp[1] = 0.0
        n = 1
        used = 1
    total = 0.0
    j = 0
    popped = 0
    for i in range(pmax):
        if n == 0:
            break
        k = hp[0]
        e = np.int64(hp[1])
        kp = pl[e, 0]
        kr = np.int64(pl[e, 1])
        kk = np.int64(pl[e, 2])
        kd = np.int64(pl[e, 3])
        kpar = np.int64(pl[e, 4])
        popped += 1
        total, j = _count_pop(
            i, k, kd, kpar, kk, total, j, at, curve_out, depth_hist, tree_parent, tree_rank, tree_depth
        )
        r = draws[i + 1]
        if neglogp[r, 0] < np.inf:
            # the child reuses the popped slot and replaces the root
            pl[e, 0], pl[e, 1], pl[e, 2], pl[e, 3], pl[e, 4] = k, r, 0.0, kd + 1, i
            _sift_down(hp, n, k + neglogp[r, 0], float(e))
        else:
            n -= 1
            if n > 0:
                _sift_down(hp, n, hp[2 * n], hp[2 * n + 1])
        if kk + 1 < width and neglogp[kr, kk + 1] < np.inf:
            s = used
            used += 1
            pl[s, 0], pl[s, 1], pl[s, 2], pl[s, 3], pl[s, 4] = kp, kr, kk + 1, kd, kpar
            n += 1
            _sift_up(hp, n - 1, k + (neglogp[kr, kk + 1] - neglogp[kr, kk]), float(s))
    while j < at.shape[0]:
        curve_out[j] = total
        j += 1
    return popped


@_jit()
def _top_p_packed(first, gap, draws, pmax, at, curve_out, depth_hist, tmax, bd, bw, mark):
    """One replicate with packed heap entries and pushes above ``tmax`` pruned.

    A heap entry is (key, payload) with payload = row << (bd + bw) | rank << bd | depth,
    stored exactly in a float64 (callers keep it below 2^53), so a pop needs no
    per-node record: the sibling's key is ``key + gap[row, rank]`` and the
    child's ``key + first[row']``. Pushes with a key above ``tmax`` are dropped:
    nothing below them in the search order can be popped before them, so the
    pops with keys <= tmax come out exactly as without pruning, while the heap
    stays a fraction of Pmax (cache-resident for much larger Pmax).
    Returns (pops, pruned pushes, key of pop number ``mark``, last key).
    """
    hp = np.empty(2 * (pmax + 2))
    width = gap.shape[1] + 1
    max_depth = depth_hist.shape[0] - 1
    dmask = (1 << bd) - 1
    rmask = (1 << bw) - 1
    rshift = bd + bw
    n = 0
    r0 = draws[0]
    pruned = 0
    if first[r0] <= tmax:
        hp[0] = first[r0]
        hp[1] = float((r0 << rshift) | 1)
        n = 1
    elif first[r0] < np.inf:
        pruned += 1
    total = 0.0
    j = 0
    popped = 0
    k_mark = np.nan
    k = np.nan
    for i in range(pmax):
        if n == 0:
            break
        k = hp[0]
        e = np.int64(hp[1])
        depth = e & dmask
        rank = (e >> bd) & rmask
        row = e >> rshift
        total += math.exp(-k)
        popped += 1
        if i + 1 == mark:
            k_mark = k
        depth_hist[min(depth, max_depth)] += 1
        while j < at.shape[0] and at[j] == i + 1:
            curve_out[j] = total
            j += 1
        r = draws[i + 1]
        ck = k + first[r]
        if ck <= tmax:
            _sift_down(hp, n, ck, float((r << rshift) | (depth + 1)))
        else:
            if ck < np.inf:
                pruned += 1
            n -= 1
            if n > 0:
                _sift_down(hp, n, hp[2 * n], hp[2 * n + 1])
        if rank + 1 < width:
            sk = k + gap[row, rank]
            if sk <= tmax:
                n += 1
                _sift_up(hp, n - 1, sk, float((row << rshift) | ((rank + 1) << bd) | depth))
            elif sk < np.inf:
                pruned += 1
    while j < at.shape[0]:
        curve_out[j] = total
        j += 1
    return popped, pruned, k_mark, k


@_jit()
def top_p_fast(first, gap, draws, pmax, at, curve_out, depth_hist, bd, bw):
    """One replicate, exact, with a threshold chosen per replicate (see :func:`_top_p_packed`).

    A pilot search of Pmax/16 nodes (unpruned, small) gives the path
    surprisal at Pmax/256 and Pmax/16; their slope extrapolates the threshold
    at Pmax, plus a margin. If the pruned search then runs dry before Pmax
    pops (the threshold was too low), it is rerun with a larger one; the
    result is always the unpruned search's, pop for pop.
    """
    scratch = np.zeros_like(depth_hist)
    tmax = np.inf
    if pmax >= 4096:
        p1 = pmax // 16
        at1 = np.array([p1], dtype=np.int64)
        out1 = np.zeros(1)
        got, _, ka, kb = _top_p_packed(first, gap, draws, p1, at1, out1, scratch, np.inf, bd, bw, p1 // 16)
        if got == p1 and ka == ka:
            slope = max((kb - ka) / math.log(16.0), 0.0)
            tmax = kb + slope * math.log(pmax / p1) + 0.25 + 0.25 * slope
    while True:
        depth_hist[:] = 0
        got, pruned, _, _ = _top_p_packed(first, gap, draws, pmax, at, curve_out, depth_hist, tmax, bd, bw, 0)
        if got == pmax or pruned == 0:
            return got
        tmax += 1.0 + (tmax - first[draws[0]]) * 0.1


@_jit(parallel=True)
def top_p_pool_fast(first, gap, seeds, pmax, at, curves, depth_hists, bd, bw):
    """Replicates in parallel with :func:`top_p_fast` (rows drawn with numba's generator seeded per replicate)."""
    n_rows = first.shape[0]
    for rep in numba.prange(seeds.shape[0]):
        np.random.seed(seeds[rep])
        draws = np.empty(pmax + 1, dtype=np.int64)
        for i in range(pmax + 1):
            draws[i] = np.random.randint(0, n_rows)
        top_p_fast(first, gap, draws, pmax, at, curves[rep], depth_hists[rep], bd, bw)


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
