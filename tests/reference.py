"""Plain float64 references for the kernels (scipy, loops): slow and obviously right."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import entr, logsumexp


def full_moments(x: np.ndarray, kind: str = "logits", temperature: float = 1.0) -> np.ndarray:
    """[n, 2] (H, M2) of full rows via scipy, in float64."""
    z = np.asarray(x, dtype=np.float64)
    if kind == "probs":
        with np.errstate(divide="ignore"):
            z = np.log(z)
    z = z / temperature
    logp = z - logsumexp(z, axis=1, keepdims=True)
    p = np.exp(logp)
    h = entr(p).sum(axis=1)
    safe = np.where(p > 0, logp, 0.0)
    m2 = (p * safe * safe).sum(axis=1)
    return np.stack([h, m2], axis=1)


def tail_packed(r: float, cap: float) -> list[float]:
    """The packed tail: as many tokens of probability ``cap`` as fit, then the remainder."""
    out = []
    while r > cap:
        out.append(cap)
        r -= cap
    if r > 0:
        out.append(r)
    return out


def topk_interval(listed: np.ndarray, vocab: int) -> tuple[float, float, float, float]:
    """(H_lo, H_hi, M2_lo, M2_hi) for one top-k row of probabilities, built token by token."""
    listed = np.asarray([p for p in listed if p > 0], dtype=np.float64)
    r = max(0.0, 1.0 - listed.sum())
    slots = vocab - len(listed)
    packed = np.concatenate([listed, tail_packed(r, listed.min())]) if r > 0 else listed
    spread = np.concatenate([listed, np.full(slots, r / slots)]) if r > 0 else listed

    def hm(p: np.ndarray) -> tuple[float, float]:
        p = p[p > 0]
        return float(-(p * np.log(p)).sum()), float((p * np.log(p) ** 2).sum())

    (h_lo, m_lo), (h_hi, m_hi) = hm(packed), hm(spread)
    return h_lo, h_hi, m_lo, m_hi


def loop_moments(row: list[float]) -> tuple[float, float]:
    """(H, M2) of one row of logits with plain Python loops (no numpy)."""
    m = max(row)
    z = sum(math.exp(v - m) for v in row if v > -math.inf)
    h = m2 = 0.0
    for v in row:
        if v == -math.inf:
            continue
        lp = v - m - math.log(z)
        p = math.exp(lp)
        h -= p * lp
        m2 += p * lp * lp
    return h, m2


def renewal_direct(measure: np.ndarray) -> np.ndarray:
    """sum_{n>=1} measure^{*n} on a grid by the recursion U = F + F * U (O(M^2), no FFT)."""
    f = np.asarray(measure, dtype=np.float64)
    u = np.zeros_like(f)
    for k in range(len(f)):
        acc = f[k] + sum(f[j] * u[k - j] for j in range(1, k + 1))
        u[k] = acc / (1.0 - f[0])
    return u


def threshold_infimum_brute(values: np.ndarray, weights: np.ndarray, p: float, t_cap: float) -> float:
    """min over t in a fine set of G(t) + P e^{-t}, G(t) = sum of weights of values <= t (t approached from below)."""
    cands = [0.0, t_cap] + [v - 1e-12 for v in values if v <= t_cap]
    best = math.inf
    for t in cands:
        if t < 0:
            continue
        g = float(weights[values <= t].sum())
        best = min(best, g + p * math.exp(-t))
    return best


def top_p_reference(neglogp: np.ndarray, draws: np.ndarray, pmax: int) -> list[float]:
    """Best-first top-P with heapq and explicit nodes: E[X*(P)] for P = 1..pmax on given draws.

    A node is (path surprisal, path of sibling ranks, its parent's distribution row);
    the i-th node expanded takes the distribution row draws[i] (draws[0]: the root).
    """
    import heapq

    width = neglogp.shape[1]
    heap: list[tuple[float, tuple[int, ...], int]] = []
    root = int(draws[0])
    if np.isfinite(neglogp[root, 0]):
        heapq.heappush(heap, (float(neglogp[root, 0]), (0,), root))
    curve, total = [], 0.0
    for i in range(pmax):
        if not heap:
            curve.append(total)
            continue
        v, path, row = heapq.heappop(heap)
        total += math.exp(-v)
        curve.append(total)
        rank = path[-1]
        if rank + 1 < width and np.isfinite(neglogp[row, rank + 1]):
            # the sibling's surprisal: this node's plus the gap between the two ranks
            gap = float(neglogp[row, rank + 1]) - float(neglogp[row, rank])
            heapq.heappush(heap, (v + gap, (*path[:-1], rank + 1), row))
        child_row = int(draws[i + 1])
        if np.isfinite(neglogp[child_row, 0]):
            heapq.heappush(heap, (v + float(neglogp[child_row, 0]), (*path, 0), child_row))
    return curve


_MASK = (1 << 64) - 1


def _mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def seeded_reference(
    neglogp: np.ndarray, seed: int, pmax: int, max_depth: int | None = None
) -> tuple[list[float], list[int]]:
    """Best-first top-P with heapq on the seeded tree: (E[X*(P)] for P = 1..pmax, depth of each popped node).

    The seeded tree, from its definition in splitmix64 terms with Python
    integers: the root's id is mix(seed); the child of rank r of the node
    with id u has id mix(u + (r + 1) * 0x9E3779B97F4A7C15 mod 2^64); a node's
    row is ((id >> 32) * rows) >> 32; a node's key is its parent's key plus
    -log p of its rank in the parent's row. With ``max_depth``, no node deeper than it enters the tree.
    """
    import heapq

    n_rows, width = neglogp.shape
    gamma = 0x9E3779B97F4A7C15

    def child(u: int, r: int) -> int:
        return _mix64((u + (r + 1) * gamma) & _MASK)

    def row(u: int) -> int:
        return ((u >> 32) * n_rows) >> 32

    root = _mix64(seed & _MASK)
    # entry: (key, parent key, parent id, rank, depth)
    heap = [(float(neglogp[row(root), 0]), 0.0, root, 0, 1)]
    curve, depths, total = [], [], 0.0
    for _ in range(pmax):
        if not heap:
            curve.append(total)
            continue
        key, pkey, pid, rank, depth = heapq.heappop(heap)
        total += math.exp(-key)
        curve.append(total)
        depths.append(depth)
        prow = row(pid)
        if rank + 1 < width and np.isfinite(neglogp[prow, rank + 1]):
            heapq.heappush(heap, (pkey + float(neglogp[prow, rank + 1]), pkey, pid, rank + 1, depth))
        me = child(pid, rank)
        if max_depth is None or depth < max_depth:
            heapq.heappush(heap, (key + float(neglogp[row(me), 0]), key, me, 0, depth + 1))
    return curve, depths


def grafted_reference(
    neglogp: np.ndarray,
    ids: np.ndarray,
    known: dict[tuple[int, ...], int],
    pool: list[int] | dict[int, list[int]],
    root_path: tuple[int, ...],
    rid: int,
    pmax: int,
    row_bin: Sequence[int] | None = None,
    depth_bin: Sequence[int] | None = None,
    root_depth: int = 0,
    max_depth: int | None = None,
    max_width: int | None = None,
    popped: list[tuple[float, int]] | None = None,
) -> list[float]:
    """Best-first top-P with heapq on the grafted tree, from its definition (docs/theory.md section 8).

    ``known`` maps a context (the token path from the prompt's end) to the
    row logged there. A node whose context is known gets that row; any other
    node gets ``pool[((id >> 32) * len(pool)) >> 32]``, its id hashed from its
    parent's as in :func:`seeded_reference` (the root's id is ``rid``); with
    ``row_bin``, ``pool`` maps a bin to its rows and the list used is
    ``pool[row_bin[parent's row]]``; with ``depth_bin``, ``pool[depth_bin[d]]``
    for a node at depth d below the prompt's end (the root is at ``root_depth``;
    past the end of ``depth_bin``, its last entry). A
    node's key is its parent's key plus -log p of its rank in the parent's row;
    the token of rank r is ``ids[row, r]`` (-1: no token, never known). With ``max_depth``, a node more than
    ``max_depth`` levels below the root never enters the tree; with ``max_width``, nor does a node of rank
    ``max_width`` or more among its siblings (1: the greedy chain). ``popped`` collects each popped node's
    (probability, depth below the root).
    """
    import heapq

    gamma = 0x9E3779B97F4A7C15
    width = neglogp.shape[1]

    def child(u: int, r: int) -> int:
        return _mix64((u + (r + 1) * gamma) & _MASK)

    def row_of(path: tuple[int, ...] | None, u: int, parent_row: int, depth: int) -> int:
        if path is not None and path in known:
            return known[path]
        if row_bin is not None:
            rows = pool[int(row_bin[parent_row])]  # type: ignore[index]
        elif depth_bin is not None:
            rows = pool[int(depth_bin[min(depth, len(depth_bin) - 1)])]  # type: ignore[index]
        else:
            rows = pool
        assert isinstance(rows, list)
        return rows[((u >> 32) * len(rows)) >> 32]

    root_row = known[root_path]
    # entry: (key, parent key, parent id, parent row, parent path or None, rank, parent depth)
    heap = [(float(neglogp[root_row, 0]), 0.0, rid, root_row, root_path, 0, root_depth)]
    curve, total = [], 0.0
    for _ in range(pmax):
        if not heap:
            curve.append(total)
            continue
        key, pkey, pid, prow, ppath, rank, pdepth = heapq.heappop(heap)
        total += math.exp(-key)
        curve.append(total)
        if popped is not None:
            popped.append((math.exp(-key), pdepth + 1 - root_depth))
        wide = width if max_width is None else min(width, max_width)
        if rank + 1 < wide and np.isfinite(neglogp[prow, rank + 1]):
            heapq.heappush(heap, (pkey + float(neglogp[prow, rank + 1]), pkey, pid, prow, ppath, rank + 1, pdepth))
        me = child(pid, rank)
        tok = int(ids[prow, rank])
        path = (*ppath, tok) if ppath is not None and tok >= 0 and (*ppath, tok) in known else None
        crow = row_of(path, me, prow, pdepth + 1)
        deep_enough = max_depth is not None and pdepth + 1 - root_depth >= max_depth
        if np.isfinite(neglogp[crow, 0]) and not deep_enough:
            heapq.heappush(heap, (key + float(neglogp[crow, 0]), key, me, crow, path, 0, pdepth + 1))
    return curve


def grafted_reference_caps(
    neglogp: np.ndarray,
    ids: np.ndarray,
    known: dict[tuple[int, ...], int],
    pool: list[int] | dict[int, list[int]],
    root_path: tuple[int, ...],
    rid: int,
    pmax: int,
    caps: Sequence[int],
    depth_bin: Sequence[int] | None = None,
    root_depth: int = 0,
) -> list[list[float]]:
    """Every depth cap from one heapq search (the twin of ``kernels.grafted.grafted_heap_caps``).

    The tree is :func:`grafted_reference`'s. One best-first search pops nodes in key order; a popped node at depth
    L below the root counts for every cap D >= L that holds fewer than ``pmax`` nodes, a node is pushed only
    while some cap that could hold it is open, and when a cap closes the heap drops the entries only it could
    hold. Returns one curve per cap (in the order of ``caps``, increasing),
    each equal to ``grafted_reference(..., max_depth=D)``.
    """
    import heapq

    gamma = 0x9E3779B97F4A7C15
    width = neglogp.shape[1]

    def child(u: int, r: int) -> int:
        return _mix64((u + (r + 1) * gamma) & _MASK)

    def row_of(path: tuple[int, ...] | None, u: int, depth: int) -> int:
        if path is not None and path in known:
            return known[path]
        if depth_bin is not None:
            rows = pool[int(depth_bin[min(depth, len(depth_bin) - 1)])]  # type: ignore[index]
        else:
            rows = pool
        assert isinstance(rows, list)
        return rows[((u >> 32) * len(rows)) >> 32]

    caps = sorted(caps)
    curves: list[list[float]] = [[] for _ in caps]
    totals = [0.0] * len(caps)

    def open_deepest() -> int:
        return max((d for d, c in zip(caps, curves, strict=True) if len(c) < pmax), default=0)

    root_row = known[root_path]
    heap = [(float(neglogp[root_row, 0]), 0.0, rid, root_row, root_path, 0, root_depth)]
    while heap and open_deepest() > 0:
        key, pkey, pid, prow, ppath, rank, pdepth = heapq.heappop(heap)
        level = pdepth + 1 - root_depth
        before = open_deepest()
        if level > before:
            continue
        for i, d in enumerate(caps):
            if d >= level and len(curves[i]) < pmax:
                totals[i] += math.exp(-key)
                curves[i].append(totals[i])
        deepest = open_deepest()
        if level <= deepest and rank + 1 < width and np.isfinite(neglogp[prow, rank + 1]):
            heapq.heappush(heap, (pkey + float(neglogp[prow, rank + 1]), pkey, pid, prow, ppath, rank + 1, pdepth))
        me = child(pid, rank)
        tok = int(ids[prow, rank])
        path = (*ppath, tok) if ppath is not None and tok >= 0 and (*ppath, tok) in known else None
        crow = row_of(path, me, pdepth + 1)
        if np.isfinite(neglogp[crow, 0]) and level < deepest:
            heapq.heappush(heap, (key + float(neglogp[crow, 0]), key, me, crow, path, 0, pdepth + 1))
        if deepest < before:  # a cap closed: the entries only it could hold leave the heap
            heap = [x for x in heap if x[6] + 1 - root_depth <= deepest]
            heapq.heapify(heap)
    return [c + [t] * (pmax - len(c)) for c, t in zip(curves, totals, strict=True)]


def trie_reference(
    order: np.ndarray,
    seq: np.ndarray,
    pos: np.ndarray,
    tok: np.ndarray,
    row_prompt: np.ndarray,
    parent: np.ndarray | None = None,
) -> tuple:
    """The tries of logged contexts one token at a time (the twin of ``readers.continuations._trie``).

    Continuation by continuation and token by token, a node is made the first time its context is reached, takes
    the first row logged there, and lists its children in the order they are made. A branch (``parent`` >= 0: the
    ``seq`` it leaves) starts at the node its parent reached after as many tokens as the branch's first position.
    """
    seqs, first = np.unique(seq[order], return_index=True)
    bounds = [*first.tolist(), len(order)]
    n_prompts = int(row_prompt.max()) + 1
    node_row: list[int] = []
    node_prompt: list[int] = []
    node_depth: list[int] = []
    node_conts: list[int] = []
    children: list[dict[int, int]] = []
    prompt_root = np.full(n_prompts, -1, dtype=np.int64)

    def new(p: int, depth: int) -> int:
        node_row.append(-1)
        node_prompt.append(p)
        node_depth.append(depth)
        node_conts.append(0)
        children.append({})
        return len(node_row) - 1

    seq_nodes: list[np.ndarray] = []
    reached: dict[int, list[int]] = {}  # per continuation (seq value), the node at each depth 0..L
    for si in range(len(seqs)):
        rows = order[bounds[si] : bounds[si + 1]]
        start = int(pos[rows[0]])
        assert np.array_equal(pos[rows], start + np.arange(len(rows)))
        p = int(row_prompt[rows[0]])
        up = -1 if parent is None else int(parent[rows[0]])
        if up < 0:
            assert start == 0
            if prompt_root[p] < 0:
                prompt_root[p] = new(p, 0)
            cur = int(prompt_root[p])
        else:
            cur = reached[up][start]
        nodes = [cur]
        path = np.empty(len(rows), dtype=np.int64)
        for i, r in enumerate(rows.tolist()):
            path[i] = cur
            node_conts[cur] += 1
            if node_row[cur] < 0:
                node_row[cur] = r
            t = int(tok[r])
            nxt = children[cur].get(t)
            if nxt is None:
                nxt = new(p, start + i + 1)
                children[cur][t] = nxt
            cur = nxt
            nodes.append(cur)
        node_conts[cur] += 1
        reached[int(seqs[si])] = nodes
        if up < 0:
            seq_nodes.append(path)
    n_nodes = len(node_row)
    child_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    for u, ch in enumerate(children):
        child_ptr[u + 1] = child_ptr[u] + len(ch)
    child_tok = np.array([t for ch in children for t in ch], dtype=np.int64)
    child_node = np.array([v for ch in children for v in ch.values()], dtype=np.int64)
    nrow = np.asarray(node_row, dtype=np.int64)
    known = (nrow >= 0).astype(np.int64)
    depth = np.asarray(node_depth, dtype=np.int64)
    for u in np.argsort(-depth, kind="stable").tolist():
        for c in range(child_ptr[u], child_ptr[u + 1]):
            known[u] += known[child_node[c]]
    return (
        nrow,
        np.asarray(node_prompt, dtype=np.int64),
        depth,
        np.asarray(node_conts, dtype=np.int64),
        child_ptr,
        child_tok,
        child_node,
        known,
        seq_nodes,
        prompt_root,
    )
