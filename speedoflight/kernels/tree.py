"""Private numba kernels of the branching-random-walk simulator (same factory as ``_kernels``).

The best-first top-P search of a draft tree (THEORY.md section 4): a 4-ary
heap of candidate nodes keyed by ``V = -log pi`` (path surprisal). Popping the node of
smallest V adds ``pi = e^{-V}`` to E[X]; then its next sibling (same parent,
next rank) and its first child (the popped node's own distribution, drawn
when it is popped) are pushed. A sibling's key is the popped key plus the
gap between the two ranks' surprisals, ``k + (s[r + 1] - s[r])``; every
kernel and the test reference use exactly this arithmetic, so they pop in
the same order bit for bit. Each pop pushes at most two entries, so the
queue never holds more than Pmax + 1 entries.

Distributions are rows of ``neglogp`` (``-log p`` sorted increasingly, ``inf``
padding); ``draws`` gives, in pop order, the row each newly expanded node
uses (index 0: the root).

Pools use seeded trees instead (see the section below): a node's row is a
hash of its identity, so the tree does not depend on the order a search visits
it in. The heap then finds the top-P set one pop at a time
(:func:`top_p_seeded_heap`), while :func:`top_p_seeded` lists every node below a
threshold breadth first and reads the curve off the list: the same set, several
times faster, since no heap outgrows the cache.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .moments import _jit


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
def top_p_seeded_heap(neglogp, root, pmax, at, curve_out, depth_hist, tree_parent, tree_rank, tree_depth):
    """Best-first top-P search (the 4-ary heap of :func:`top_p_one`) on the seeded tree of ``root``.

    Per slot it keeps the parent's key, row and id with the node's rank and
    depth; a node's key is ``parent key + neglogp[parent row, rank]``. Counts
    popped nodes per depth and, when ``tree_parent`` is non-empty, records
    each popped node's parent (pop index, -1 for the root's children),
    sibling rank and depth. Returns the number of nodes popped.
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
        if neglogp[cr, 0] < np.inf:
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
    ``at`` increasing, at most ``pmax`` (as :func:`~speedoflight.simulate.simulate` gives it).
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
    top_p_seeded_heap(neglogp, root, pmax, at, curve_out, depth_hist, empty, empty, empty)
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
def top_p_pool_fast(first, gap, seeds, pmax, at, curves, depth_hists, bd, bw):
    """Replicates in parallel with :func:`top_p_fast` (same draws as :func:`top_p_pool`)."""
    n_rows = first.shape[0]
    for rep in numba.prange(seeds.shape[0]):
        np.random.seed(seeds[rep])
        draws = np.empty(pmax + 1, dtype=np.int64)
        for i in range(pmax + 1):
            draws[i] = np.random.randint(0, n_rows)
        top_p_fast(first, gap, draws, pmax, at, curves[rep], depth_hists[rep], bd, bw)


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
