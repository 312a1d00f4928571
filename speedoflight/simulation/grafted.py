"""The real optimum predicted from logged continuations: the grafted tree (docs/theory.md section 8).

For a context (a prompt's end, or any position of a sampled continuation) the
continuations logged after it form a trie of contexts whose next-token rows
are known. The token tree below the context takes the logged row at every
node of that trie and a row drawn from a pool everywhere else (by default the
rows logged for the same prompt); the exact top-P search runs on it and the
result is averaged over draws of the unknown rows. Sampled paths are
distributed like path probabilities, so the known part of the tree is where
the heavy nodes are and the pool only fills in light subtrees.

Rows are a dump's top-k log-probabilities with their token ids. Where the
sampled token is not among the top k, it is added to its row with its exact
log-probability (``-next_surprisal``), so the continuation's subtree stays
reachable. The mass a row does not list is dropped (``tail="drop"``, a lower
estimate) or lumped into one extra token that is never in the trie (``"lump"``,
an upper estimate). Intervals come from a bootstrap over prompts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._config import DEFAULT_BOOTSTRAP, DEFAULT_CONFIDENCE
from .._util.stats import ratio_stats
from ..errors import InputError
from ..options import RunOptions, split_legacy
from ..readers.continuations import GraftedInput, grafted_inputs
from .optimum_result import OptimumResult, TailCurve

__all__ = ["OptimumResult", "TailCurve", "mean_over_roots", "optimum", "run_roots", "sample_roots"]

_MAX_BYTES = 4 * 2**30
#: The stream of :func:`numpy.random.default_rng` that samples roots (``[SAMPLE_STREAM, seed]``), apart from the draws.
SAMPLE_STREAM = 0x5A3F1E


def sample_roots(n: int, sample: int | None, seed: int) -> np.ndarray:
    """Return the indices of the roots kept: all ``n``, or a seeded uniform sample of ``sample`` of them, in order.

    Parameters
    ----------
    n
        Roots in all.
    sample
        Roots wanted (None: all).
    seed
        The run's seed; the sample uses its own stream (``[SAMPLE_STREAM, seed]``), apart from the draws.

    Returns
    -------
    ndarray
        Increasing indices.

    """
    if sample is None or n <= sample:
        return np.arange(n)
    return np.sort(np.random.default_rng([SAMPLE_STREAM, seed]).choice(n, sample, replace=False))


def _roots(g: GraftedInput, positions: str | Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Root nodes with their continuation and position (-1, 0 for a prompt's end)."""
    if isinstance(positions, str) and positions == "start":
        roots = g.prompt_root
        return roots, np.full(len(roots), -1, dtype=np.int64), np.zeros(len(roots), dtype=np.int64), "start"
    if isinstance(positions, str) and positions == "all":
        want = None
        label = "all"
    else:
        want = sorted({int(x) for x in positions})
        if not want or want[0] < 0:
            raise InputError(
                f"{{positions}} {positions!r}: give start, all, or positions >= 0 like 8,16,24", param="positions"
            )
        longest = max(len(p) for p in g.seq_nodes)
        if want[-1] >= longest:
            raise InputError(
                f"{{positions}} {want[-1]} is beyond the continuations (the longest has {longest} logged positions, "
                f"0..{longest - 1})",
                param="positions",
            )
        label = ",".join(map(str, want))
    lengths = np.array([len(p) for p in g.seq_nodes], dtype=np.int64)
    nodes = np.concatenate(g.seq_nodes).astype(np.int64) if len(lengths) else np.zeros(0, dtype=np.int64)
    seqs = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    poss = np.arange(len(nodes), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    if want is not None:  # continuation by continuation, its wanted positions in order
        keep = np.isin(poss, want)
        nodes, seqs, poss = nodes[keep], seqs[keep], poss[keep]
    return nodes, seqs, poss, label


def _seed_ids(seed: int, replicates: int) -> np.ndarray:
    """Replicate r's id: the simulator's root id of its r-th seed (:func:`speedoflight.simulation.simulate._seeds`)."""
    from ..kernels.seeded import root_id
    from .simulate import _seeds

    return np.array([root_id(int(x)) for x in _seeds(seed, replicates)], dtype=np.uint64)


def _search_args(g: GraftedInput, uniq: np.ndarray, seed: int, replicates: int) -> tuple[Any, ...]:
    """Return the arguments every grafted search kernel starts with, for the distinct root nodes ``uniq``.

    The tree, the roots with their pools and depths, and the replicates' ids, in the order
    :func:`~speedoflight.kernels.grafted.grafted_roots` and ``grafted_roots_caps`` take them.
    """
    prompt = g.node_prompt[uniq]
    return (
        g.neglogp,
        g.ids,
        g.node_row,
        g.child_ptr,
        g.child_tok,
        g.child_node,
        g.pool_rows,
        g.row_bin,
        g.depth_bin,
        uniq,
        g.prompt_pool_lo[prompt],
        g.prompt_pool_n[prompt],
        g.node_depth[uniq],
        _seed_ids(seed, replicates),
    )


def _run(
    g: GraftedInput,
    roots: np.ndarray,
    pmax: int,
    replicates: int,
    seed: int,
    max_depth: int | None = None,
    max_width: int | None = None,
    profile: tuple[int, int] = (0, 0),
    client: Any = None,
) -> tuple[np.ndarray, int, np.ndarray]:
    """Per-root curves (mean over replicates), computing each distinct root node once (on dask with ``client``)."""
    uniq, inverse = np.unique(roots, return_inverse=True)
    args = (pmax, replicates, seed, max_depth, max_width, profile)
    if client is None:
        curves, pops, masses = run_roots(g, uniq, *args)
    else:
        from .._util.dist import run_tasks

        # one task per batch of prompts; a root's curve does not depend on which other roots run beside it
        prompts = g.node_prompt[uniq]
        batches = np.array_split(np.unique(prompts), min(len(np.unique(prompts)), 64))
        shared = client.scatter(g, broadcast=True)
        parts = run_tasks(
            client, run_roots, [(shared, uniq[np.isin(prompts, b)], *args) for b in batches], what="batch"
        )
        order = np.concatenate([np.flatnonzero(np.isin(prompts, b)) for b in batches])
        curves = np.zeros((len(uniq), pmax))
        masses = np.zeros((len(uniq), profile[1]))
        curves[order] = np.concatenate([c for c, _, _ in parts])
        masses[order] = np.concatenate([m for _, _, m in parts])
        pops = sum(n for _, n, _ in parts)
    return curves[inverse], int(pops), masses[inverse]


def run_roots(
    g: GraftedInput,
    uniq: np.ndarray,
    pmax: int,
    replicates: int,
    seed: int,
    max_depth: int | None = None,
    max_width: int | None = None,
    profile: tuple[int, int] = (0, 0),
) -> tuple[np.ndarray, int, np.ndarray]:
    """Return the curves of the distinct root nodes ``uniq`` (a dask task when the optimum runs on a cluster).

    Parameters
    ----------
    g
        The grafted input.
    uniq
        Distinct root nodes.
    pmax, replicates, seed, max_depth, max_width, profile
        As for :func:`optimum`.

    Returns
    -------
    tuple
        Per root the mean curve over replicates ``[len(uniq), pmax]``, the nodes popped, and the per-depth masses.

    """
    from ..kernels.grafted import grafted_roots

    curves = np.zeros((len(uniq), pmax))
    masses = np.zeros((len(uniq), profile[1]))
    pops = grafted_roots(
        *_search_args(g, uniq, seed, replicates),
        pmax if max_depth is None else max_depth,  # a tree of P nodes is at most P deep: no cap
        g.neglogp.shape[1] if max_width is None else max_width,
        profile[0],
        masses,
        curves,
        np.zeros((0, 0)),  # no spread
    )
    return curves, int(pops), masses


def add_in_order(totals: np.ndarray, cluster: np.ndarray, rows: np.ndarray, index: np.ndarray | None = None) -> None:
    """Add ``rows[i]`` (``rows[index[i]]``) to ``totals[cluster[i]]`` for i = 0, 1, ...: each cluster's rows in order.

    The sums of ``np.add.at(totals, cluster, rows)``, bit for bit (the same additions in the same order per
    element), a step per rank within a cluster instead of a step per row.

    Parameters
    ----------
    totals
        ``[clusters, ...]`` sums, added to in place.
    cluster
        Per row, its cluster.
    rows
        ``[len(cluster), ...]`` values (or indexed by ``index``).
    index
        Per i, the row of ``rows`` to add (None: row i).

    """
    if not len(cluster):
        return
    order = np.argsort(cluster, kind="stable")  # by cluster, each cluster's rows in their order
    srt = cluster[order]
    first = np.searchsorted(srt, srt)  # where each row's cluster starts in ``order``
    rank = np.arange(len(order)) - first
    by_rank = np.argsort(rank, kind="stable")
    cuts = np.searchsorted(rank[by_rank], np.arange(int(rank.max()) + 2))
    for k in range(len(cuts) - 1):
        step = order[by_rank[cuts[k] : cuts[k + 1]]]  # the k-th row of every cluster that has one: no repeats
        totals[cluster[step]] += rows[step if index is None else index[step]]


def _cluster_totals(curves: np.ndarray, prompts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Roots per prompt and the per-prompt sums of their curves (summed in root order)."""
    _, cluster = np.unique(prompts, return_inverse=True)
    counts = np.bincount(cluster).astype(np.float64)
    totals = np.zeros((len(counts), curves.shape[1]))
    add_in_order(totals, cluster, curves)
    return counts, totals


def mean_over_roots(curves: np.ndarray, prompts: np.ndarray) -> np.ndarray:
    """Return the mean curve over roots, as :func:`optimum` computes it (sums per prompt, then over prompts).

    Parameters
    ----------
    curves
        ``[roots, pmax]`` per-root curves.
    prompts
        Per root, its prompt.

    Returns
    -------
    ndarray
        ``[pmax]``: bit for bit the ``mean`` of :func:`optimum` on these curves.

    """
    counts, totals = _cluster_totals(curves, prompts)
    return np.asarray(totals.sum(axis=0) / counts.sum())


def _summarise(
    tail: str, curves: np.ndarray, prompts: np.ndarray, pops: int, confidence: float, n_boot: int, seed: int
) -> TailCurve:
    counts, totals = _cluster_totals(curves, prompts)
    mean, se, ci = ratio_stats(counts, totals, n_boot > 0, confidence, n_boot, seed)
    return TailCurve(tail, mean, se, ci[:, 0], ci[:, 1], curves, pops)


def optimum(
    dumps: str | Sequence[str],
    *,
    pmax: int = 128,
    positions: str | Sequence[int] = "start",
    replicates: int = 64,
    tail: str = "drop",
    pool: str = "prompt",
    draw: str = "depth",
    confidence: float = DEFAULT_CONFIDENCE,
    n_boot: int = DEFAULT_BOOTSTRAP,
    parts: list[dict[str, Any]] | None = None,
    max_depth: int | None = None,
    max_width: int | None = None,
    profile: tuple[int, int] = (0, 0),
    inputs: Mapping[str, GraftedInput] | None = None,
    sample: int | None = None,
    caps: Sequence[int] = (),
    run: RunOptions | None = None,
    **legacy: Any,
) -> OptimumResult:
    """Predict the real optimum E[X*(P)] of the verifier that made ``dumps``, from its logged continuations.

    Parameters
    ----------
    dumps
        speedoflight dumps with sampled continuations (best: several per prompt, ``dump --samples-per-prompt``).
    pmax
        Largest tree size P (draft tokens per verifier call).
    positions
        ``"start"``: one root per prompt, at its end (what ``oracle`` computes); ``"all"``: every position of
        every continuation (the ceiling averaged over a generation); or a list of positions.
    replicates
        Draws of the rows of unknown nodes, per root.
    tail
        ``"drop"`` (lower estimate), ``"lump"`` (upper) or ``"both"``.
    pool
        Where unknown nodes draw their rows: ``"prompt"`` (the root's prompt's own rows) or ``"all"``.
    draw
        How: ``"uniform"`` (any row of the pool), ``"entropy"`` (a row that followed a parent of similar
        entropy) or ``"depth"`` (a row logged at a similar position), see
        :func:`~speedoflight.readers.continuations.grafted_input`.
    confidence
        Level of the intervals (bootstrap over prompts).
    n_boot
        Bootstrap replicates; 0: no bootstrap (the linearised interval of the ratio estimator, where only the
        mean is wanted).
    parts
        The dumps' arrays already read in a command's one pass (:class:`~speedoflight.readers.continuations.
        ContinuationScan`); None reads ``dumps``.
    max_depth
        Only trees at most this many levels deep (the best tree of depth <= D, for drafters that pay per level);
        None: any depth.
    max_width
        Only nodes of rank below this among their siblings (1: the greedy chain); None: any.
    profile
        ``(P, depth)``: also the mean over roots of P(X >= d), d = 1..depth, of the best tree of P nodes
        (``OptimumResult.profile``, of the headline tail); ``(0, 0)``: none.
    inputs
        The grafted inputs already built for these dumps, per tail
        (:func:`~speedoflight.readers.continuations.grafted_inputs`, with this ``pool`` and ``draw``): nothing is
        read or built again; ``dumps`` and ``parts`` are then unused.
    sample
        At most this many roots: a seeded uniform sample of the roots ``positions`` gives
        (:func:`sample_roots`; the same roots for both tails); None: every root.
    caps
        Depth caps D: the same searches also give, per tail, the mean curve of the best tree of depth <= D
        (``OptimumResult.capped``; :func:`~speedoflight.simulation.capped.run_caps`, bit for bit the mean of a run
        with ``max_depth=D``). Not with ``max_depth``, ``max_width`` or ``profile``.

    run
        The seed of the draws and of the bootstrap, and a dask client (:class:`~speedoflight.options.RunOptions`;
        its ``progress`` is unused): with a client, the grafted input is sent to every worker once and the roots run
        one task per batch of prompts; each root's curve is the single-process one bit for bit (its trees depend on
        its own seed only).
    **legacy
        Deprecated: the old keywords ``seed``, ``client``, folded into ``run`` with a DeprecationWarning.

    Returns
    -------
    OptimumResult
        The prediction, with per-root curves and the size of each root's known trie.

    """
    (run,) = split_legacy("optimum", legacy, run=(RunOptions, run))
    seed, client = run.seed, run.client
    if pmax < 1:
        raise InputError(f"{{pmax}} must be at least 1, got {pmax}", param="pmax")
    if replicates < 1:
        raise InputError(f"{{replicates}} must be at least 1, got {replicates}", param="replicates")
    if tail not in ("drop", "lump", "both"):
        raise InputError(f"{{tail}} must be drop, lump or both, got {tail!r}", param="tail")
    if not 0.0 < confidence < 1.0:
        raise InputError(f"{{confidence}} must lie in (0, 1), got {confidence}", param="confidence")
    if max_depth is not None and max_depth < 1:
        raise InputError(f"{{max_depth}} must be at least 1, got {max_depth}", param="max_depth")
    if len(caps) and (max_depth is not None or max_width is not None or profile[1]):
        raise ValueError("depth caps come from the uncapped search: no max_depth, max_width or profile beside them")
    tails = ("drop", "lump") if tail == "both" else (tail,)
    results: dict[str, TailCurve] = {}
    profiles: dict[str, np.ndarray] = {}
    per_root: dict[str, np.ndarray] = {}
    capped: dict[str, dict[int, np.ndarray]] = {}
    g = None
    roots = seqs = poss = None
    label = ""
    notes: list[str] = []
    if inputs is None:
        inputs = grafted_inputs(dumps, tails=tails, pool=pool, draw=draw, parts=parts)
    elif any(t not in inputs or inputs[t].draw != draw for t in tails):
        raise ValueError(f"the grafted inputs given hold {sorted(inputs)} drawn by {draw!r}; {list(tails)} asked")
    all_roots = 0
    for t in tails:
        g = inputs[t]
        roots, seqs, poss, label = _roots(g, positions)
        all_roots = len(roots)
        keep = sample_roots(len(roots), sample, seed)
        roots, seqs, poss = roots[keep], seqs[keep], poss[keep]
        need = len(roots) * pmax * 8 * (2 if tail == "both" else 1) + len(np.unique(roots)) * pmax * 8
        if need > _MAX_BYTES:
            raise InputError(
                f"{len(roots)} roots x P = {pmax} need about {need / 2**30:.1f} GiB of curves; lower {{pmax}} or use "
                "fewer {positions}",
                param=("pmax", "positions"),
            )
        if len(caps):
            from .capped import run_caps

            curves, capped[t], pops = run_caps(g, roots, pmax, replicates, seed, caps, client)
            masses = np.zeros((len(roots), 0))
        else:
            curves, pops, masses = _run(g, roots, pmax, replicates, seed, max_depth, max_width, profile, client)
        profiles[t] = masses.mean(axis=0) if len(masses) else masses.sum(axis=0)
        per_root[t] = masses
        results[t] = _summarise(t, curves, g.node_prompt[roots], pops, confidence, n_boot, seed)
    assert g is not None
    assert roots is not None
    assert seqs is not None
    assert poss is not None
    notes.append(
        f"rows: top-{g.ids.shape[1] - 1 - (g.tail == 'lump')} log-probabilities with token ids; the sampled token "
        f"was added to {g.added_sampled} rows that did not list it (its exact log-probability)"
    )
    how = {
        "depth": "logged at a position in the same block of 8 as the node's depth",
        "entropy": "that followed a parent of similar entropy",
        "uniform": "drawn uniformly",
    }[draw]
    notes.append(
        "unknown nodes draw rows from "
        + ("their prompt's own rows" if pool == "prompt" else "all the dumps' rows")
        + f", {how}; {replicates} draw{'s' if replicates != 1 else ''} per root"
    )
    if all_roots > len(roots):
        notes.append(f"roots: a seeded uniform sample of {len(roots)} of the {all_roots} roots (positions {label})")
    conts = np.bincount(g.seq_prompt).astype(np.float64)
    return OptimumResult(
        P=np.arange(1, pmax + 1),
        lower=results.get("drop"),
        upper=results.get("lump"),
        positions=label,
        root_prompt=g.prompts[g.node_prompt[roots]],
        root_seq=np.where(seqs >= 0, g.seq_ids[np.maximum(seqs, 0)], -1),
        root_pos=poss,
        root_continuations=g.node_conts[roots],
        root_known=g.node_known[roots],
        continuations_per_prompt=float(conts.mean()),
        replicates=replicates,
        seed=seed,
        confidence=confidence,
        notes=tuple(notes),
        pool=pool,
        draw=draw,
        profile=profiles[tails[0]] if profile[1] else None,
        profile_roots=per_root[tails[0]] if profile[1] else None,
        sampled_from=all_roots if all_roots > len(roots) else None,
        capped=capped if len(caps) else None,
    )
