"""The exact optimal draft tree of a real model: best-first search with real forward passes.

For a prefix, the best deterministic draft tree of P nodes is the set of the P
paths of highest probability under the verifier (docs/theory.md section 2.3), and
E[X*(P)] is the sum of their probabilities. Here every node's distribution is
the real model's, computed with the tree attention of :class:`~speedoflight.models.treelm.TreeBatch`
(the prefix's KV cache reused, one token per node). The search pops the
candidate of highest path probability, adds it to E[X], and pushes its next
sibling and its first child; a popped candidate whose distribution is not yet
known is forwarded together with up to ``lookahead - 1`` other unforwarded
candidates of highest probability (one forward pass for several nodes, which
costs about as much as one node on a memory-bound CPU). Lookahead changes
only the work done, never the result: a node's distribution depends on its
path alone.
"""

from __future__ import annotations

import heapq
import math
import os
import sys
import time
from collections.abc import Generator
from typing import Any

import numpy as np

from .._config import DEFAULT_CONFIDENCE
from .._util.stats import t_interval
from ..errors import InputError
from ..formats.oracle import OracleResult

__all__ = [
    "oracle",
    "oracle_batch",
    "oracle_curve",
    "prefixes_from_dump",
    "run_oracle",
]


def _search(root: tuple[np.ndarray, np.ndarray], pmax: int, lookahead: int) -> Generator[Any, Any, Any]:
    """Best-first search of one prefix's tree, as a generator.

    Yields lists of nodes to forward, ``(parent, token)`` (parents are local
    node ids, -1 for the prefix); receives, for each, ``(surprisals, ids)``
    of its top tokens. Returns ``(curve, depths)``.
    """
    surpr: dict[int, np.ndarray] = {-1: root[0]}
    ids: dict[int, np.ndarray] = {-1: root[1]}
    node_key = {-1: 0.0}
    depth = {-1: 0}
    forwarded: dict[tuple[int, int], int] = {}
    heap: list[tuple[float, int, int, int]] = [(float(surpr[-1][0]), 0, -1, 0)]
    count = 1
    n_nodes = 0
    curve = np.empty(pmax)
    depths = np.zeros(pmax, dtype=np.int32)
    total = 0.0
    for i in range(pmax):
        if not heap:  # a finite tree (all mass on few paths)
            curve[i:] = total
            break
        key, _, par, rank = heapq.heappop(heap)
        total += math.exp(-key)
        curve[i] = total
        node = forwarded.get((par, rank))
        if node is None:
            batch = [(par, rank)]
            for _, _, p2, r2 in heapq.nsmallest(2 * lookahead, heap):
                if len(batch) >= lookahead:
                    break
                if (p2, r2) not in forwarded:
                    batch.append((p2, r2))
            rows = yield [(p, int(ids[p][r])) for p, r in batch]
            for (p, r), row in zip(batch, rows, strict=True):
                forwarded[(p, r)] = n_nodes
                node_key[n_nodes] = node_key[p] + float(surpr[p][r])
                depth[n_nodes] = depth[p] + 1
                surpr[n_nodes], ids[n_nodes] = row
                n_nodes += 1
            node = forwarded[(par, rank)]
        depths[i] = depth[node]
        if rank + 1 < len(surpr[par]) and np.isfinite(surpr[par][rank + 1]):
            heapq.heappush(heap, (node_key[par] + float(surpr[par][rank + 1]), count, par, rank + 1))
            count += 1
        if np.isfinite(surpr[node][0]):
            heapq.heappush(heap, (key + float(surpr[node][0]), count, node, 0))
            count += 1
    return curve, depths


def oracle_batch(
    model: Any, prefixes: list[list[int]], pmax: int, temperature: float, lookahead: int = 2
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Exact E[X*(P)], P = 1..pmax, for a batch of prefixes searched in lockstep.

    Each step, every prefix whose search needs distributions adds its nodes,
    and one forward pass serves the whole batch.

    Parameters
    ----------
    model
        A transformers causal LM, the verifier.
    prefixes
        Token ids per prefix.
    pmax
        Largest tree size P (>= 1).
    temperature
        Verifier temperature (> 0).
    lookahead
        Candidates forwarded per prefix and pass (>= 1; changes only the work).

    Returns
    -------
    curves : numpy.ndarray
        float64 ``[len(prefixes), pmax]``: running sums of popped path probabilities.
    depths : numpy.ndarray
        int32 ``[len(prefixes), pmax]``: depth of each popped node.
    work : dict
        ``forwards``, ``tokens_forwarded``, ``nodes_forwarded``.

    """
    from .treelm import TreeBatch

    if pmax < 1:
        raise InputError(f"{{pmax}} must be >= 1, got {pmax}", param="pmax")
    if lookahead < 1:
        raise InputError(f"{{lookahead}} must be >= 1, got {lookahead}", param="lookahead")
    tb = TreeBatch(model, prefixes, temperature)
    width = pmax + 1  # no node has more than pmax popped children
    n = len(prefixes)
    searches = [_search(root, pmax, lookahead) for root in tb.root_top(width)]
    curves = np.empty((n, pmax))
    depths = np.empty((n, pmax), dtype=np.int32)
    pending: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    live = list(range(n))

    def advance(b: int, value: Any) -> bool:
        try:
            pending[b] = searches[b].send(value)
            return True
        except StopIteration as stop:
            curves[b], depths[b] = stop.value
            pending[b] = []
            return False

    live = [b for b in live if advance(b, None)]
    while live:
        rows = tb.extend_top(pending, width)
        live = [b for b in live if advance(b, rows[b])]
    work = {
        "forwards": tb.forwards,
        "tokens_forwarded": tb.tokens_forwarded,
        "nodes_forwarded": sum(tb.size(b) for b in range(n)),
    }
    return curves, depths, work


def oracle_curve(
    model: Any, prefix: list[int], pmax: int, temperature: float, lookahead: int = 2
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Exact E[X*(P)] for P = 1..pmax after one prefix: (curve, depths, work), see :func:`oracle_batch`.

    Parameters
    ----------
    model, pmax, temperature, lookahead
        As in :func:`oracle_batch`.
    prefix
        Token ids of the prefix.

    Returns
    -------
    curve, depths, work
        ``[pmax]`` E[X*(P)] (X accepted draft tokens per verifier call, P the tree size), ``[pmax]`` depth of
        each popped node, and the work counts of :func:`oracle_batch`.

    """
    curves, depths, work = oracle_batch(model, [prefix], pmax, temperature, lookahead)
    return curves[0], depths[0], work


def oracle(
    model: Any,
    prefixes: list[list[int]],
    pmax: int,
    temperature: float = 1.0,
    *,
    kinds: list[str] | None = None,
    lookahead: int = 2,
    batch_size: int = 16,
    confidence: float = DEFAULT_CONFIDENCE,
    progress: bool = False,
) -> OracleResult:
    """Exact optimal-tree curves for several prefixes, with their mean and a t-interval over prefixes.

    Parameters
    ----------
    model
        A transformers causal LM.
    prefixes
        Token ids per prefix (tokenised by the caller, no chat template).
    pmax
        Largest tree size P.
    temperature
        Verifier temperature (> 0).
    kinds
        Optional label per prefix (for example ``prose``/``code``).
    confidence
        Level of the t-interval over prefixes.
    progress
        Show a progress bar on stderr.
    lookahead
        Candidates forwarded per prefix and pass (>= 1; changes only the work).
    batch_size
        Prefixes searched together, one forward pass per step for all.

    Returns
    -------
    OracleResult
        Per-prefix curves E[X*(P)] for P = 1..pmax, their mean with a t-interval, depths and work counts.

    """
    if not prefixes:
        raise InputError("no prefixes to run the oracle on")
    if not temperature > 0:
        raise InputError(
            f"{{temperature}} must be > 0 for the oracle, got {temperature} (at 0 every tree gives X = P)",
            param="temperature",
        )
    from tqdm import tqdm

    curves = np.empty((len(prefixes), pmax))
    depths = np.empty((len(prefixes), pmax), dtype=np.int32)
    work = {"forwards": 0, "tokens_forwarded": 0, "nodes_forwarded": 0}
    started = time.perf_counter()
    bar = tqdm(total=len(prefixes), disable=not progress, file=sys.stderr, unit="prefix")
    for lo in range(0, len(prefixes), batch_size):
        hi = min(lo + batch_size, len(prefixes))
        curves[lo:hi], depths[lo:hi], w = oracle_batch(model, prefixes[lo:hi], pmax, temperature, lookahead)
        for k in work:
            work[k] += w[k]
        bar.update(hi - lo)
    bar.close()
    seconds = time.perf_counter() - started
    if len(prefixes) > 1:
        mean, se, ci_lo, ci_hi = t_interval(curves, confidence)
    else:
        mean = curves[0].copy()
        se, ci_lo, ci_hi = (np.full(pmax, np.nan) for _ in range(3))
    return OracleResult(
        P=np.arange(1, pmax + 1),
        curves=curves,
        mean=mean,
        se=se,
        ci_low=ci_lo,
        ci_high=ci_hi,
        depths=depths,
        kinds=list(kinds) if kinds is not None else ["text"] * len(prefixes),
        temperature=float(temperature),
        confidence=confidence,
        lookahead=lookahead,
        seconds=seconds,
        forwards=work["forwards"],
        tokens_forwarded=work["tokens_forwarded"],
        nodes_forwarded=work["nodes_forwarded"],
    )


def prefixes_from_dump(
    dump: str, prompt_ids: list[list[int]], positions: list[int], continuations: int | None = None
) -> tuple[list[list[int]], list[int], list[int], list[int]]:
    """Prefixes = a prompt's tokens + the first ``pos`` tokens the dump sampled after it.

    ``prompt_ids[i]`` are the tokens of prompt i of the prompt file the dump
    was made from. Returns (prefixes, prompt index, sequence, position) for
    every sequence and every position in ``positions`` the dump reaches.

    Parameters
    ----------
    dump
        A speedoflight dump file.
    prompt_ids
        Token ids of every prompt of the dump's prompt file, in file order.
    positions
        Numbers of sampled tokens appended to the prompt (each kept where the sequence has that many).
    continuations
        Use only the first this many continuations of each prompt (all by default).

    Returns
    -------
    prefixes, prompts, sequences, positions : list
        The prefixes' token ids, and for each its prompt index, dump sequence and position.

    """
    from ..readers.dumpfile import read_dump_arrays, read_metadata

    meta = read_metadata(dump)
    per_prompt = int(meta.get("samples_per_prompt", 1))
    recorded = [int(i) for i in meta.get("prompt_index") or []]
    arrays = read_dump_arrays(dump, ("seq", "pos", "next_token"))
    seq, pos, nxt = arrays["seq"], arrays["pos"], arrays["next_token"]
    try:
        prompt_of_row = read_dump_arrays(dump, ("prompt",))["prompt"]
    except InputError:
        prompt_of_row = None
    n_seq = int(seq.max()) + 1 if seq.size else 0
    longest = int(np.bincount(seq).max()) if seq.size else 0
    if any(p < 0 for p in positions) or max(positions, default=0) > longest:
        bad = min(positions) if any(p < 0 for p in positions) else max(positions)
        raise InputError(
            f"{{positions}} {bad} is beyond the continuations (the longest has {longest} logged tokens: positions "
            f"0..{longest}); give positions inside them, as `speedoflight optimum --positions` does",
            param="positions",
        )
    if (n_seq + per_prompt - 1) // per_prompt > len(prompt_ids):
        raise InputError(f"{dump}: {n_seq} sequences but only {len(prompt_ids)} prompts; give the dump's prompt file")
    out: list[list[int]] = []
    prompts: list[int] = []
    seqs: list[int] = []
    poss: list[int] = []
    seen: dict[int, int] = {}
    for s in np.unique(seq).tolist():
        rows = np.flatnonzero(seq == s)
        # the prompt file's index of this sequence's prompt: the dump's prompt array, else its recorded list
        if prompt_of_row is not None:
            i = int(prompt_of_row[rows[0]])
        elif recorded:
            i = recorded[s // per_prompt]
        else:
            i = s // per_prompt
        if i >= len(prompt_ids):
            raise InputError(f"{dump}: sequence {s} continues prompt {i}, beyond the prompt file; give the dump's own")
        seen[i] = seen.get(i, 0) + 1
        if continuations is not None and seen[i] > continuations:
            continue
        tokens = nxt[rows[np.argsort(pos[rows], kind="stable")]]
        for p in positions:
            if 0 <= p <= len(tokens):
                out.append(list(prompt_ids[i]) + [int(t) for t in tokens[:p]])
                prompts.append(i)
                seqs.append(s)
                poss.append(p)
    if not out:
        raise InputError(f"{dump}: no sequence reaches the positions {positions}")
    return out, prompts, seqs, poss


def _check_budget(model: Any, prefixes: list[list[int]], pmax: int, batch_size: int) -> None:
    """Refuse a search that runs past the model's context or cannot fit in memory, before any forward pass.

    A tree of P nodes may be a chain of P tokens after its prefix; a batch of B prefixes holds, per prefix, the
    ancestor mask of its nodes (at least P x P booleans) and their keys and values (P tokens' worth), and the
    result holds P floats and depths per prefix.
    """
    from .budget import check_context, check_memory, kv_bytes_per_token

    check_context(model, [len(p) for p in prefixes], pmax, "pmax", what="prefix")
    b = min(max(1, batch_size), len(prefixes))
    need = b * (pmax * pmax + pmax * kv_bytes_per_token(model)) + len(prefixes) * pmax * 12
    check_memory(
        need, f"{{pmax}} {pmax} (batches of {b} prefixes)", "lower {pmax} or {batch_size}", param=("pmax", "batch_size")
    )


def run_oracle(
    *,
    model: str,
    prompts: str,
    pmax: int,
    temperature: float = 1.0,
    lookahead: int = 2,
    batch_size: int = 16,
    per_kind: int | None = None,
    limit: int | None = None,
    dump: str | None = None,
    positions: list[int] | None = None,
    continuations: int | None = None,
    progress: bool = False,
    command: str | None = None,
) -> OracleResult:
    """Load ``model``, tokenise the prompts as they are (no chat template) and run :func:`oracle`.

    With ``dump``, prefixes are each prompt plus the first ``positions``
    tokens the dump sampled after it (the dump must come from the same
    prompt file; its recorded checksum is compared).

    Parameters
    ----------
    model
        ``smollm2``, ``gemma3-270m`` or a local model folder (see :func:`~speedoflight.models.dump.load_model`).
    prompts
        The prompt file (see :func:`~speedoflight.models.dump.read_prompts`).
    pmax, temperature, lookahead, batch_size, progress
        As in :func:`oracle`.
    per_kind
        Use only the first N prompts of each kind (None: all).
    limit
        Keep at most this many prefixes (None: all).
    dump
        Optional dump made from ``prompts`` whose sampled tokens extend the prefixes.
    positions
        With ``dump``: sampled tokens appended to each prompt (default ``[0]``).
    continuations
        With ``dump``: only the first this many continuations of each prompt (all by default).
    command
        The command line recorded in the metadata (as typed, quoted for a shell), or None.

    Returns
    -------
    OracleResult
        The result of :func:`oracle`, its ``meta`` filled with the model, prompt source and prefix origins.

    """
    from .._util.provenance import sha256_file, versions
    from .dump import choose_prompts, load_model, read_prompts

    if pmax < 1:
        raise InputError(f"{{pmax}} must be >= 1, got {pmax}", param="pmax")
    items = read_prompts(prompts)
    lm = load_model(model, progress=progress)
    chosen = choose_prompts(items, per_kind)
    if dump is not None:
        from ..readers.dumpfile import read_metadata

        meta = read_metadata(dump)
        recorded = (meta.get("prompt_source") or {}).get("sha256")
        if recorded is not None and recorded != sha256_file(prompts):
            raise InputError(f"{dump} was made from another prompt file than {prompts}; give the dump's prompt file")
        ids = [lm.tokenizer(text).input_ids for text, _ in items]
        every, from_prompt, seqs, poss = prefixes_from_dump(dump, ids, positions or [0], continuations)
        wanted = set(chosen)
        keep = [j for j, i in enumerate(from_prompt) if i in wanted][:limit]
        prefixes = [every[j] for j in keep]
        prompt_index = [from_prompt[j] for j in keep]
        seqs, poss = [seqs[j] for j in keep], [poss[j] for j in keep]
    else:
        prompt_index = chosen[:limit]
        prefixes = [lm.tokenizer(items[i][0]).input_ids for i in prompt_index]
        seqs, poss = list(prompt_index), [0] * len(prompt_index)
    _check_budget(lm.model, prefixes, pmax, batch_size)
    kinds = [items[i][1] for i in prompt_index]
    res = oracle(
        lm.model,
        prefixes,
        pmax,
        temperature,
        kinds=kinds,
        lookahead=lookahead,
        batch_size=batch_size,
        progress=progress,
    )
    res.meta.update(
        {
            "model": lm.description,
            "prompt_source": {
                "path": os.path.basename(prompts),
                "sha256": sha256_file(prompts),
                "n_prompts": len(items),
            },
            "dump": os.path.basename(dump) if dump else None,
            "per_kind": per_kind,
            "batch_size": batch_size,
            "prompt_index": prompt_index,
            "sequence": seqs,
            "position": poss,
            "versions": versions("numpy", "torch", "transformers"),
            "command": command,
            "tokenization": "tokenizer default (no chat template)",
        }
    )
    return res
