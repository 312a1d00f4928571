"""The grafted optimum of depth <= D for several caps D at once: one best-first search per root and draw.

A drafter that pays per level of its tree is held against the best tree of depth <= D, for each D it could use
(:func:`speedoflight.analysis.ceiling.ceiling_by_depth`). Run one cap at a time, that is one search per cap; here
one search serves every cap (:func:`~speedoflight.kernels.grafted.grafted_heap_caps`): on the grafted tree, whose
nodes draw their rows by their own identity and whose keys only grow along a path, the search capped at D pops
the depth <= D nodes of any deeper search in the same order. Each cap's curve is bit for bit the one
:func:`~speedoflight.simulation.grafted.optimum` gives with ``max_depth=D`` on the same roots and draws
(``tests/test_capped.py`` checks it against the separate runs and against the heapq twin).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..readers.continuations import GraftedInput
from .grafted import _roots, _search_args, add_in_order, run_roots

__all__ = ["BLOCK_ROOTS", "capped_means", "run_caps", "run_roots_caps"]

#: Distinct roots per batch (the batch's curves, ``[roots, caps, P]``, are summed per prompt before the next).
BLOCK_ROOTS = 1024


def run_roots_caps(
    g: GraftedInput, uniq: np.ndarray, pmax: int, replicates: int, seed: int, caps: np.ndarray
) -> tuple[np.ndarray, int]:
    """Return ``[len(uniq), len(caps), pmax]`` (per root and cap, the mean curve over replicates) and the pops.

    Parameters
    ----------
    g
        The grafted input.
    uniq
        Distinct root nodes.
    pmax, replicates, seed
        As for :func:`~speedoflight.simulation.grafted.optimum`.
    caps
        Non-decreasing depth caps.

    Returns
    -------
    tuple
        The curves of :func:`~speedoflight.simulation.grafted.run_roots` with ``max_depth=caps[c]``, bit for bit,
        and the nodes popped in all (a dask task).

    """
    from ..kernels.grafted import grafted_roots_caps

    curves = np.zeros((len(uniq), len(caps), pmax))
    if not np.all(g.neglogp >= 0):  # keys that shrink along a path: one search cannot stand for the caps
        pops = 0
        for c, d in enumerate(caps.tolist()):
            curves[:, c], n, _ = run_roots(g, uniq, pmax, replicates, seed, int(d))
            pops += n
        return curves, pops
    pops = grafted_roots_caps(*_search_args(g, uniq, seed, replicates), caps, curves)
    return curves, int(pops)


def run_caps(
    g: GraftedInput,
    roots: np.ndarray,
    pmax: int,
    replicates: int,
    seed: int,
    caps: Sequence[int],
    client: Any = None,
) -> tuple[np.ndarray, dict[int, np.ndarray], int]:
    """Return the roots' uncapped curves and, per depth cap, the mean curve over the roots, from one search each.

    Parameters
    ----------
    g
        The grafted input.
    roots
        Root nodes (repeats allowed), in the order of the result.
    pmax, replicates, seed
        As for :func:`~speedoflight.simulation.grafted.optimum`.
    caps
        Depth caps (each >= 1).
    client
        A dask client: one task per batch of prompts (the same curves).

    Returns
    -------
    tuple
        ``[len(roots), pmax]``: each root's curve with no cap (bit for bit :func:`~speedoflight.simulation.grafted.
        run_roots`'s); and ``{D: mean [pmax]}``, bit for bit the ``mean`` of ``optimum(max_depth=D)`` on these roots
        and draws; and the nodes popped. Batches of prompts are searched and summed one at a time, so memory holds
        one batch's curves.

    """
    want = np.array(sorted({int(d) for d in caps}), dtype=np.int64)
    if len(want) and want[0] < 1:
        raise InputError(f"{{max_depth}} must be at least 1, got {int(want[0])}", param="max_depth")
    every = np.append(np.minimum(want, pmax), pmax)  # a tree of pmax nodes is at most pmax deep: pmax is no cap
    _, cluster = np.unique(g.node_prompt[roots], return_inverse=True)
    n_clusters = int(cluster.max()) + 1 if len(roots) else 0
    counts = np.bincount(cluster, minlength=n_clusters).astype(np.float64)
    totals = np.zeros((n_clusters, len(want), pmax))
    curves = np.zeros((len(roots), pmax))
    n_batches = math.ceil(len(np.unique(roots)) / BLOCK_ROOTS)
    if client is not None:
        n_batches = max(n_batches, 64)
    batches = [b for b in np.array_split(np.arange(n_clusters), max(1, min(n_clusters, n_batches))) if len(b)]
    picks = [np.flatnonzero(np.isin(cluster, b)) for b in batches]  # root indices, in root order
    uniqs = [np.unique(roots[sel], return_inverse=True) for sel in picks]
    parts: Iterator[tuple[np.ndarray, int]]
    if client is None:
        parts = (run_roots_caps(g, u, pmax, replicates, seed, every) for u, _ in uniqs)
    else:
        from .._util.dist import run_tasks

        shared = client.scatter(g, broadcast=True)
        calls = [(shared, u, pmax, replicates, seed, every) for u, _ in uniqs]
        parts = iter(run_tasks(client, run_roots_caps, calls, what="batch"))
    pops = 0
    for sel, (_, inv), (cur, n) in zip(picks, uniqs, parts, strict=True):
        pops += n
        curves[sel] = cur[inv, -1]
        add_in_order(totals, cluster[sel], cur[:, :-1], inv)  # per prompt and cap, its roots in order: optimum's sums
    means = {int(d): np.ascontiguousarray(totals[:, c]).sum(axis=0) / counts.sum() for c, d in enumerate(want.tolist())}
    return curves, means, pops


def capped_means(
    inputs: Mapping[str, GraftedInput],
    positions: str | Sequence[int],
    pmax: int,
    caps: Sequence[int],
    *,
    replicates: int,
    seed: int = 0,
    client: Any = None,
    sample: int | None = None,
) -> dict[str, dict[int, np.ndarray]]:
    """Return, per tail and depth cap D, the mean over roots of E[X*(P)] of the best tree of depth <= D.

    Parameters
    ----------
    inputs
        The grafted inputs per tail (:func:`~speedoflight.readers.continuations.grafted_inputs`).
    positions, sample
        Root positions and the sample of them (as for :func:`~speedoflight.simulation.grafted.optimum`).
    pmax
        Largest P.
    caps
        Depth caps (each >= 1).
    replicates, seed
        Draws per root and their seed.
    client
        A dask client: one task per batch of prompts (the same curves).

    Returns
    -------
    dict
        ``{tail: {D: mean [pmax]}}``: bit for bit the ``mean`` of ``optimum(positions=positions, sample=sample,
        max_depth=D, replicates=replicates, seed=seed)`` for that tail (and the ``capped`` of
        ``optimum(caps=caps)``).

    """
    from .grafted import sample_roots

    out: dict[str, dict[int, np.ndarray]] = {}
    for tail, g in inputs.items():
        roots = _roots(g, positions)[0]
        roots = roots[sample_roots(len(roots), sample, seed)]
        out[tail] = run_caps(g, roots, pmax, replicates, seed, caps, client)[1] if len(caps) else {}
    return out
