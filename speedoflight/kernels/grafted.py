"""The best-first top-P search on the grafted tree (docs/theory.md section 8): logged rows where known, pool rows elsewhere.

Rows are ``neglogp [n, w]`` (``-log p`` increasing, ``inf`` padding) with
their token ids ``ids [n, w]`` (-1 where a slot is no real token: the lumped
tail, padding). The trie of logged contexts is flat: node ``u`` has the
logged row ``node_row[u]`` (-1: none) and its children in
``child_tok/child_node[child_ptr[u]:child_ptr[u + 1]]``. A node of the trie
gets its logged row; every other node (a token never sampled there, or past
the logged length) gets the pool row ``pool_rows[pool_lo[b] + row_of(id, pool_n[b])]``,
where ``b = row_bin[parent row] + depth_bin[min(depth, len(depth_bin) - 1)]``
picks the pool segment (one segment when pool rows are drawn uniformly;
segments by the parent's entropy, or by the node's depth below the prompt's
end, otherwise), and its id is hashed from its parent's as in the seeded simulator
(:func:`~speedoflight.kernels.seeded.child_id`), so a replicate's tree is a
fixed function of its seed whatever order the search visits it in. Keys are
``parent key + neglogp[parent row, rank]``, popped from the 4-ary heap of
:mod:`.heap`; ``tests/reference.py`` has a heapq twin that pops the same
nodes.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._jit import _jit
from .heap import _sift_down, _sift_up
from .seeded import child_id, row_of

__all__ = ["grafted_heap", "grafted_heap_caps", "grafted_roots", "grafted_roots_caps"]


@_jit()
def _child_in_trie(node, token, child_ptr, child_tok, child_node):
    """Return the trie child of ``node`` for ``token``, or -1 (also for ``node`` -1 or ``token`` -1)."""
    if node < 0 or token < 0:
        return -1
    for c in range(child_ptr[node], child_ptr[node + 1]):
        if child_tok[c] == token:
            return child_node[c]
    return -1


@_jit()
def grafted_heap(
    neglogp,
    ids,
    node_row,
    child_ptr,
    child_tok,
    child_node,
    pool_rows,
    row_bin,
    depth_bin,
    pool_lo,
    pool_n,
    root,
    root_row,
    root_depth,
    rid,
    max_depth,
    max_width,
    profile_p,
    depth_mass,
    curve,
):
    """One replicate on the grafted tree below trie node ``root`` (logged row ``root_row``, id ``rid``).

    Only nodes at most ``max_depth`` levels below the root, and of rank below ``max_width`` among their siblings,
    enter the tree (``max_width`` 1: the greedy chain). The path probabilities of the first ``profile_p`` nodes
    popped (the best tree of that size) are added to ``depth_mass[d - 1]`` by their depth d below the root (depths
    past its end are left out): P(X >= d) for that tree.

    ``pool_lo[b], pool_n[b]`` is the root's pool segment of bin
    ``b = row_bin[parent row] + depth_bin[min(depth, len(depth_bin) - 1)]``, ``depth`` the node's depth below the
    prompt's end (the root's is ``root_depth``).

    Fills ``curve[i]`` with E[X] of the best tree of i + 1 nodes (the running
    sum of popped path probabilities; capacities past the last node keep the
    total). Returns the number of nodes popped.
    """
    pmax = curve.shape[0]
    width = neglogp.shape[1]
    cap = pmax + 2
    hp = np.empty(2 * cap)
    p_key = np.empty(cap)
    p_id = np.empty(cap, dtype=np.uint64)
    p_row = np.empty(cap, dtype=np.int64)
    p_node = np.empty(cap, dtype=np.int64)
    s_rank = np.empty(cap, dtype=np.int64)
    p_depth = np.empty(cap, dtype=np.int64)
    last_depth = depth_bin.shape[0] - 1
    p_key[0], p_id[0], p_row[0], p_node[0], s_rank[0], p_depth[0] = 0.0, rid, root_row, root, 0, root_depth
    hp[0] = neglogp[root_row, 0]
    hp[1] = 0.0
    n = 1 if neglogp[root_row, 0] < np.inf else 0
    used = 1
    total = 0.0
    popped = 0
    for i in range(pmax):
        if n == 0:
            for t in range(i, pmax):
                curve[t] = total
            break
        k = hp[0]
        e = np.int64(hp[1])
        rank, row, pk, pid, pnode, pdep = s_rank[e], p_row[e], p_key[e], p_id[e], p_node[e], p_depth[e]
        total += math.exp(-k)
        curve[i] = total
        popped += 1
        level = pdep - root_depth  # the popped node is at depth level + 1 below the root
        if i < profile_p and level < depth_mass.shape[0]:
            depth_mass[level] += math.exp(-k)
        sib = rank + 1 < min(width, max_width) and neglogp[row, rank + 1] < np.inf
        me = child_id(pid, rank)
        node = _child_in_trie(pnode, ids[row, rank], child_ptr, child_tok, child_node)
        cr = node_row[node] if node >= 0 else -1
        if cr < 0:
            node = -1  # past the logged length: the subtree is the pool's
            b = row_bin[row] + depth_bin[min(pdep + 1, last_depth)]
            cr = pool_rows[pool_lo[b] + row_of(me, pool_n[b])]
        if neglogp[cr, 0] < np.inf and pdep + 1 - root_depth < max_depth:
            # the child reuses the popped slot and replaces the root
            p_key[e], p_id[e], p_row[e], p_node[e], s_rank[e], p_depth[e] = k, me, cr, node, 0, pdep + 1
            _sift_down(hp, n, k + neglogp[cr, 0], float(e))
        else:
            n -= 1
            if n > 0:
                _sift_down(hp, n, hp[2 * n], hp[2 * n + 1])
        if sib:
            s = used
            used += 1
            p_key[s], p_id[s], p_row[s], p_node[s], s_rank[s], p_depth[s] = pk, pid, row, pnode, rank + 1, pdep
            n += 1
            _sift_up(hp, n - 1, pk + neglogp[row, rank + 1], float(s))
    return popped


@_jit(parallel=True)
def grafted_roots(
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
    max_depth,
    max_width,
    profile_p,
    masses,
    curves,
    var,
):
    """Every root (in parallel) times every replicate: ``curves[j]`` = the mean over replicates for root j.

    With ``var`` of ``curves``' shape, ``var[j]`` is also the variance of root j's replicate curves (squares
    taken about its first replicate's, so nothing cancels; the mean is unchanged bit for bit: the same additions
    in the same order); a ``var`` with no rows skips it.

    ``root_pool_lo[j], root_pool_n[j]`` are root j's pool segments, one per bin of ``row_bin``.
    Replicate r of root j uses the tree of id ``child_id(seed_ids[r], root_node[j])``, so a root's result does not
    depend on which other roots are computed.
    Trees are at most ``max_depth`` levels deep and ``max_width`` wide per node; ``masses[j]`` is the mean over
    replicates of :func:`grafted_heap`'s ``depth_mass`` for root j. Returns the total number of nodes popped.
    """
    n_roots, pmax = curves.shape
    n_rep = seed_ids.shape[0]
    pops = np.zeros(n_roots, dtype=np.int64)
    spread = var.shape[0] > 0
    for j in numba.prange(n_roots):
        buf = np.empty(pmax)
        acc = np.zeros(pmax)
        acc2 = np.zeros(pmax if spread else 0)
        ref = np.zeros(pmax if spread else 0)  # the first replicate's curve: squares are taken about it
        mass = np.zeros(masses.shape[1])
        node = root_node[j]
        row = node_row[node]
        for r in range(n_rep):
            rid = child_id(seed_ids[r], node)  # by the root's identity: the same tree whatever else is asked
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
                max_depth,
                max_width,
                profile_p,
                mass,
                buf,
            )
            for t in range(pmax):
                acc[t] += buf[t]
            if spread:
                if r == 0:
                    for t in range(pmax):
                        ref[t] = buf[t]
                for t in range(pmax):
                    acc2[t] += (buf[t] - ref[t]) * (buf[t] - ref[t])
        for t in range(pmax):
            curves[j, t] = acc[t] / n_rep
        if spread:
            for t in range(pmax):
                d = curves[j, t] - ref[t]
                var[j, t] = max(acc2[t] / n_rep - d * d, 0.0)
        for t in range(masses.shape[1]):
            masses[j, t] = mass[t] / n_rep
    return pops.sum()


@_jit()
def _keep_shallow(hp, n, p_depth, max_parent_depth):
    """Keep the heap entries whose slot's parent depth is at most ``max_parent_depth``; rebuild the heap; return n.

    The entries kept are rearranged into a valid 4-ary heap (bottom-up); pops then come out in the same key order
    as before (ties aside), so the sums they feed are unchanged.
    """
    m = 0
    for i in range(n):
        if p_depth[np.int64(hp[2 * i + 1])] <= max_parent_depth:
            hp[2 * m] = hp[2 * i]
            hp[2 * m + 1] = hp[2 * i + 1]
            m += 1
    for i in range((m - 2) // 4, -1, -1):
        key = hp[2 * i]
        slot = hp[2 * i + 1]
        j = i
        while True:
            c = 4 * j + 1
            if c >= m:
                break
            best = c
            bk = hp[2 * c]
            for t in range(c + 1, min(c + 4, m)):
                if hp[2 * t] < bk:
                    bk = hp[2 * t]
                    best = t
            if bk >= key:
                break
            hp[2 * j] = bk
            hp[2 * j + 1] = hp[2 * best + 1]
            j = best
        hp[2 * j] = key
        hp[2 * j + 1] = slot
    return m


@_jit()
def grafted_heap_caps(
    neglogp,
    ids,
    node_row,
    child_ptr,
    child_tok,
    child_node,
    pool_rows,
    row_bin,
    depth_bin,
    pool_lo,
    pool_n,
    root,
    root_row,
    root_depth,
    rid,
    caps,
    curves,
):
    """One replicate, one search for every depth cap: ``curves[c]`` is :func:`grafted_heap`'s curve at ``caps[c]``.

    ``caps`` are non-decreasing depth caps (levels below the root). The tree is a fixed function of ``rid`` and keys
    only grow along a path (``-log p >= 0``), so a search capped at D pops the depth <= D nodes of the uncapped
    search in the same key order: one best-first search feeds every cap, each popped node of level L counting for
    every cap D >= L that still has fewer than ``pmax`` nodes. A cap that holds ``pmax`` nodes is full; deeper caps
    fill first (they count every node a shallower one counts), so the caps still open are ``caps[:live]`` and no
    node deeper than ``caps[live - 1]`` is pushed; when a cap closes, the heap drops the entries only it could hold
    (:func:`_keep_shallow`), and one popped deeper than the open caps is dropped. Returns the nodes popped
    (rows with a negative ``-log p`` break the premise: the caller runs the caps one by one there).
    """
    n_caps, pmax = curves.shape
    width = neglogp.shape[1]
    cap = n_caps * pmax + 2  # a counted pop adds at most one slot and one heap entry; a dropped one, none
    hp = np.empty(2 * cap)
    p_key = np.empty(cap)
    p_id = np.empty(cap, dtype=np.uint64)
    p_row = np.empty(cap, dtype=np.int64)
    p_node = np.empty(cap, dtype=np.int64)
    s_rank = np.empty(cap, dtype=np.int64)
    p_depth = np.empty(cap, dtype=np.int64)
    count = np.zeros(n_caps, dtype=np.int64)
    total = np.zeros(n_caps)
    last_depth = depth_bin.shape[0] - 1
    p_key[0], p_id[0], p_row[0], p_node[0], s_rank[0], p_depth[0] = 0.0, rid, root_row, root, 0, root_depth
    hp[0] = neglogp[root_row, 0]
    hp[1] = 0.0
    n = 1 if neglogp[root_row, 0] < np.inf else 0
    used = 1
    live = n_caps
    popped = 0
    while n > 0 and live > 0:
        k = hp[0]
        e = np.int64(hp[1])
        rank, row, pk, pid, pnode, pdep = s_rank[e], p_row[e], p_key[e], p_id[e], p_node[e], p_depth[e]
        popped += 1
        level = pdep - root_depth + 1  # the popped node's depth below the root
        deepest = caps[live - 1]
        if level > deepest:  # no open cap holds it: dropped, nothing below or beside it is wanted
            n -= 1
            if n > 0:
                _sift_down(hp, n, hp[2 * n], hp[2 * n + 1])
            continue
        x = math.exp(-k)
        for c in range(live - 1, -1, -1):
            if caps[c] < level:
                break
            total[c] += x
            curves[c, count[c]] = total[c]
            count[c] += 1
        while live > 0 and count[live - 1] == pmax:
            live -= 1
        if live == 0:
            break
        closed = caps[live - 1] < deepest
        deepest = caps[live - 1]
        sib = rank + 1 < width and neglogp[row, rank + 1] < np.inf and level <= deepest
        me = child_id(pid, rank)
        node = _child_in_trie(pnode, ids[row, rank], child_ptr, child_tok, child_node)
        cr = node_row[node] if node >= 0 else -1
        if cr < 0:
            node = -1  # past the logged length: the subtree is the pool's
            b = row_bin[row] + depth_bin[min(pdep + 1, last_depth)]
            cr = pool_rows[pool_lo[b] + row_of(me, pool_n[b])]
        if neglogp[cr, 0] < np.inf and level < deepest:
            # the child reuses the popped slot and replaces the root
            p_key[e], p_id[e], p_row[e], p_node[e], s_rank[e], p_depth[e] = k, me, cr, node, 0, pdep + 1
            _sift_down(hp, n, k + neglogp[cr, 0], float(e))
        else:
            n -= 1
            if n > 0:
                _sift_down(hp, n, hp[2 * n], hp[2 * n + 1])
        if sib:
            s = used
            used += 1
            p_key[s], p_id[s], p_row[s], p_node[s], s_rank[s], p_depth[s] = pk, pid, row, pnode, rank + 1, pdep
            n += 1
            _sift_up(hp, n - 1, pk + neglogp[row, rank + 1], float(s))
        if closed:  # what only the closed caps could hold leaves the heap at once, not one pop at a time
            n = _keep_shallow(hp, n, p_depth, root_depth + deepest - 1)
    for c in range(n_caps):
        for t in range(count[c], pmax):
            curves[c, t] = total[c]
    return popped


@_jit(parallel=True)
def grafted_roots_caps(
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
    caps,
    curves,
):
    """Every root (in parallel) times every replicate, every depth cap from one search (:func:`grafted_heap_caps`).

    ``curves[j, c]`` is the mean over replicates for root j at cap ``caps[c]``: :func:`grafted_roots` with
    ``max_depth=caps[c]``, bit for bit (the same trees, the same sums in the same order). Returns the nodes popped.
    """
    n_roots, n_caps, pmax = curves.shape
    n_rep = seed_ids.shape[0]
    pops = np.zeros(n_roots, dtype=np.int64)
    for j in numba.prange(n_roots):
        buf = np.empty((n_caps, pmax))
        acc = np.zeros((n_caps, pmax))
        node = root_node[j]
        row = node_row[node]
        for r in range(n_rep):
            rid = child_id(seed_ids[r], node)  # by the root's identity: the same tree whatever else is asked
            pops[j] += grafted_heap_caps(
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
                caps,
                buf,
            )
            for c in range(n_caps):
                for t in range(pmax):
                    acc[c, t] += buf[c, t]
        for c in range(n_caps):
            for t in range(pmax):
                curves[j, c, t] = acc[c, t] / n_rep
    return pops.sum()
