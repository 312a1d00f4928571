"""Logged continuations as tries of known contexts: the input of the grafted tree (docs/theory.md section 8).

A dump with sampled continuations (``topk_ids``, ``topk_logprobs``, ``next_token``, ``next_surprisal``, ``seq``,
``pos`` and, for several continuations per prompt, ``prompt``) becomes: rows sorted by ``-log p`` with their token
ids, one trie per prompt whose nodes are the contexts the continuations visited (each with the row logged there),
and each prompt's own rows as its pool.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._util.paths import expand_paths
from .._util.remote import open_input
from ..errors import InputError
from .contscan import BRANCH_ARRAYS, ContinuationScan, api_log_parts

__all__ = [
    "BRANCH_ARRAYS",
    "DEPTH_BLOCK",
    "DRAWS",
    "ENTROPY_BINS",
    "NEEDED",
    "ContinuationScan",
    "GraftedInput",
    "api_log_parts",
    "grafted_input",
    "grafted_inputs",
    "listed_entropy",
]

_LOG_SUFFIXES = (".jsonl", ".json", ".ndjson")


#: Arrays the grafted tree needs from a dump.
#: Bins (quantiles of the listed entropy over the dump's rows) of ``draw="entropy"``.
ENTROPY_BINS = 4
#: Positions per block of ``draw="depth"``.
DEPTH_BLOCK = 8
#: How an unknown node draws its pool row.
DRAWS = ("uniform", "entropy", "depth")
NEEDED = ("topk_ids", "topk_logprobs", "next_token", "next_surprisal", "seq", "pos")


@dataclass(frozen=True)
class GraftedInput:
    """A dump's rows, tries and pools, ready for the search.

    Attributes
    ----------
    neglogp, ids : ndarray
        ``[rows, w]`` rows (``-log p`` increasing, ``inf`` padding) and their token ids (-1: no token).
    node_row, child_ptr, child_tok, child_node : ndarray
        The tries of all prompts as flat arrays (see :mod:`speedoflight.kernels.grafted`).
    node_prompt, node_depth, node_conts, node_known : ndarray
        Per trie node: its prompt (index into ``prompts``), depth below the prompt's end, continuations
        through it, and known nodes (logged rows) in its subtrie, itself included.
    prompt_root : ndarray
        The root node of each prompt's trie.
    prompts : ndarray
        The dump's prompt index of each prompt, in the order of first appearance.
    seq_nodes : list of ndarray
        Per sampled continuation (sequence), the trie node after 0, 1, ..., L - 1 of its tokens (branches from
        ``dump --branch-at`` join the tries but are not listed here: the roots are the sampled text's positions).
    seq_prompt : ndarray
        Per continuation, its prompt (index into ``prompts``).
    seq_ids : ndarray
        Per continuation, its ``seq`` value in the dump (offset past the earlier files' when several are given).
    pool_rows, prompt_pool_lo, prompt_pool_n : ndarray
        The pools as slices of ``pool_rows``: ``[prompts, bins]`` offsets and lengths. An unknown node whose
        parent row ``r`` lies in bin ``row_bin[r]`` draws from its prompt's (or the dump's) segment of that bin.
    row_bin : ndarray
        Per row, its bin as a parent (all 0 unless rows are drawn by entropy).
    depth_bin : ndarray
        Per depth below the prompt's end (position), its bin; deeper nodes take the last (``[0]`` unless rows are
        drawn by depth). An unknown node's bin is ``row_bin[parent row] + depth_bin[its depth]``.
    draw : str
        ``"uniform"``, ``"entropy"`` (pool rows by the parent row's entropy) or ``"depth"`` (by position).
    tail : str
        ``"drop"`` or ``"lump"``.
    added_sampled : int
        Rows where the sampled token was outside the top k and was added with its exact log-probability.

    """

    neglogp: np.ndarray
    ids: np.ndarray
    node_row: np.ndarray
    child_ptr: np.ndarray
    child_tok: np.ndarray
    child_node: np.ndarray
    node_prompt: np.ndarray
    node_depth: np.ndarray
    node_conts: np.ndarray
    node_known: np.ndarray
    prompt_root: np.ndarray
    prompts: np.ndarray
    seq_nodes: list[np.ndarray]
    seq_prompt: np.ndarray
    seq_ids: np.ndarray
    pool_rows: np.ndarray
    prompt_pool_lo: np.ndarray
    prompt_pool_n: np.ndarray
    row_bin: np.ndarray
    depth_bin: np.ndarray
    draw: str
    tail: str
    added_sampled: int


def _read(path: str) -> dict[str, Any]:
    """Read the arrays of the grafted tree from a dump, with its temperature and kinds of text (``_`` keys)."""
    from ..readers.dumpfile import read_dump_arrays, read_metadata

    meta = read_metadata(path)
    with open_input(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
        names = {n.removesuffix(".npy") for n in zf.namelist()}
    missing = [n for n in NEEDED if n not in names]
    if missing:
        raise InputError(
            f"{path}: the dump lacks {', '.join(missing)}, which the grafted tree needs (token ids and the sampled "
            "tokens); re-dump with this version's `speedoflight dump --samples-per-prompt N`"
        )
    arrays: dict[str, Any] = dict(read_dump_arrays(path, NEEDED + (("prompt",) if "prompt" in names else ())))
    check_topk(arrays["topk_logprobs"], meta.get("vocab_size"), path)
    if "branch_seq" in names:  # the branches' rows, of their own length
        arrays.update(read_dump_arrays(path, tuple(f"branch_{k}" for k in BRANCH_ARRAYS)))
    arrays["_temperature"] = np.array(float(meta.get("temperature", 1.0)))
    arrays["_prompt_kinds"] = meta.get("prompt_kinds")
    return arrays


def check_topk(lp: np.ndarray, vocab_size: int | None, path: str) -> None:
    """Refuse top-k log-probabilities no distribution gives, by the check every reader of rows runs.

    Parameters
    ----------
    lp
        ``[n, k]`` top-k log-probabilities as stored (``-inf`` padding).
    vocab_size
        The vocabulary's size; None (an API log that does not say) checks against the largest a dump may declare.
    path
        The file, for the message.

    """
    from ..kernels.rowmoments import check_rows
    from .dumpfile import MAX_VOCAB

    vocab = vocab_size if isinstance(vocab_size, int) and vocab_size > 0 else MAX_VOCAB
    check_rows(lp, "logprobs", vocab_size=vocab, where=path)


def _rows(lp: np.ndarray, ids: np.ndarray, nxt: np.ndarray, nxt_s: np.ndarray, tail: str, path: str) -> tuple:
    """Rows sorted by -log p with ids; the sampled token added where it is not listed; the tail lumped or not."""
    n, k = lp.shape
    neg_s = np.flatnonzero(nxt_s < 0)  # NaN: unknown
    if neg_s.size:
        r = int(neg_s[0])
        raise InputError(
            f"{path}: row {r} gives the sampled token a surprisal of {nxt_s[r]:g}, a log-probability above 0; the "
            "file is damaged, re-dump it"
        )
    ids = ids.astype(np.int64)
    srt = np.sort(ids, axis=1)
    dup = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
    if dup.size:
        raise InputError(f"{path}: row {int(dup[0])} lists a token id twice; the top-k rows are damaged, re-dump")
    listed = (ids == nxt[:, None]).any(axis=1)
    add = ~listed & np.isfinite(nxt_s)
    width = k + 1 + (tail == "lump")
    neg = np.full((n, width), np.inf)
    out_ids = np.full((n, width), -1, dtype=np.int64)
    with np.errstate(divide="ignore"):
        neg[:, :k] = -lp.astype(np.float64)
    out_ids[:, :k] = ids
    neg[add, k] = nxt_s[add]
    out_ids[add, k] = nxt[add]
    if tail == "lump":
        with np.errstate(over="ignore"):
            rest = 1.0 - np.exp(-neg[:, : k + 1]).sum(axis=1)
        ok = rest > 1e-12
        neg[ok, k + 1] = -np.log(rest[ok])
    order = np.argsort(neg, axis=1, kind="stable")
    neg = np.take_along_axis(neg, order, axis=1)
    out_ids = np.take_along_axis(out_ids, order, axis=1)
    out_ids[~np.isfinite(neg)] = -1
    return np.ascontiguousarray(neg), np.ascontiguousarray(out_ids), int(add.sum())


def grafted_input(
    paths: str | Sequence[str],
    *,
    tail: str = "drop",
    pool: str = "prompt",
    draw: str = "depth",
    parts: list[dict[str, Any]] | None = None,
) -> GraftedInput:
    """Build the rows, the tries of logged contexts and the pools from one or more dumps.

    Parameters
    ----------
    paths
        speedoflight dumps with sampled continuations (``topk_ids``, ``next_token``); continuations are grouped
        into prompts by the dump's ``prompt`` array, and a sequence without one is its own prompt.
    tail
        ``"drop"`` the mass a row does not list (lower estimate) or ``"lump"`` it into one token (upper).
    pool
        ``"prompt"``: an unknown node draws from its prompt's own rows; ``"all"``: from every row.
    draw
        ``"uniform"``: any row of the pool; ``"entropy"``: a row whose own parent (the previous position of its
        continuation) had an entropy in the same quartile as the unknown node's parent (:data:`ENTROPY_BINS`
        bins; a bin a prompt lacks falls back to the prompt's whole pool); ``"depth"``: a row logged at a position
        in the same block of :data:`DEPTH_BLOCK` positions as the unknown node's depth (the last block past the
        logged length).
    parts
        The dumps' arrays already read (:class:`ContinuationScan` collects them in a command's one pass over
        its inputs); ``paths`` then only names them.

    Returns
    -------
    GraftedInput
        Everything the search needs.

    """
    if tail not in ("drop", "lump"):
        raise InputError(f"{{tail}} must be drop, lump or both, got {tail!r}", param="tail")
    return grafted_inputs(paths, tails=(tail,), pool=pool, draw=draw, parts=parts)[tail]


def grafted_inputs(
    paths: str | Sequence[str],
    *,
    tails: Sequence[str] = ("drop", "lump"),
    pool: str = "prompt",
    draw: str = "depth",
    parts: list[dict[str, Any]] | None = None,
) -> dict[str, GraftedInput]:
    """Build :func:`grafted_input` for several tail rules at once: one trie and one set of pools, shared.

    The tries and the pools do not depend on the tail rule (a lumped tail is never in a trie); only the rows do,
    so they are built once (with ``draw="entropy"`` the bins come from each tail's rows, built apart). Each input
    is the one :func:`grafted_input` builds for its tail, array for array.

    Parameters
    ----------
    paths, pool, draw, parts
        As for :func:`grafted_input`.
    tails
        The tail rules wanted (``"drop"``, ``"lump"``).

    Returns
    -------
    dict
        ``{tail: GraftedInput}`` in the order of ``tails``.

    """
    bad = [t for t in tails if t not in ("drop", "lump")]
    if bad or not tails:
        raise InputError(f"{{tail}} must be drop, lump or both, got {(bad or [''])[0]!r}", param="tail")
    if pool not in ("prompt", "all"):
        raise InputError(f"{{pool_scope}} must be 'prompt' or 'all', got {pool!r}", param="pool_scope")
    if draw not in DRAWS:
        raise InputError(f"{{draw}} must be one of {', '.join(DRAWS)}, got {draw!r}", param="draw")
    files = expand_paths([paths] if isinstance(paths, str | os.PathLike) else paths)
    if parts is None:
        parts = [api_log_parts(f) if f.lower().endswith(_LOG_SUFFIXES) else _read(f) for f in files]
    parts = [_with_branches(a, f) for f, a in zip(files, parts, strict=True)]
    temps = {float(a["_temperature"]) for a in parts} - {math.nan}
    temps = {t for t in temps if t == t}  # API logs do not record the temperature
    if len(temps) > 1:
        raise InputError(f"the dumps were sampled at different temperatures ({sorted(temps)}); give one at a time")
    rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    added = 0
    for t in tails:
        neg_parts, id_parts, added = [], [], 0
        for f, a in zip(files, parts, strict=True):
            neg, ids, n_add = _rows(a["topk_logprobs"], a["topk_ids"], a["next_token"], a["next_surprisal"], t, f)
            neg_parts.append(neg)
            id_parts.append(ids)
            added += n_add
        width = max(x.shape[1] for x in neg_parts)
        rows[t] = (
            np.concatenate([np.pad(x, ((0, 0), (0, width - x.shape[1])), constant_values=np.inf) for x in neg_parts]),
            np.concatenate([np.pad(x, ((0, 0), (0, width - x.shape[1])), constant_values=-1) for x in id_parts]),
        )
    seq_all, pos_all, tok_all, prompt_all, parent_all = [], [], [], [], []
    seq_base = prompt_base = 0
    for a in parts:
        seq = a["seq"].astype(np.int64)
        seq_all.append(seq + seq_base)
        par = a.get("_parent")
        parent_all.append(
            np.full(len(seq), -1, dtype=np.int64) if par is None else np.where(par >= 0, par + seq_base, -1)
        )
        prompt = a["prompt"].astype(np.int64) if "prompt" in a else seq
        prompt_all.append(prompt + prompt_base)
        pos_all.append(a["pos"].astype(np.int64))
        tok_all.append(a["next_token"].astype(np.int64))
        seq_base += int(seq.max()) + 1 if seq.size else 0
        prompt_base += int(prompt.max()) + 1 if prompt.size else 0
    seq, pos = np.concatenate(seq_all), np.concatenate(pos_all)
    tok, prompt = np.concatenate(tok_all), np.concatenate(prompt_all)
    parent = np.concatenate(parent_all)
    branched = parent if np.any(parent >= 0) else None
    if len(seq) == 0:
        raise InputError(f"{files[0]}: the dump has no rows")
    if draw == "entropy":  # bins from each tail's own rows (their entropies may differ in the last bit)
        return {t: _build(*rows[t], seq, pos, tok, prompt, t, pool, draw, added, branched) for t in tails}
    first = _build(*rows[tails[0]], seq, pos, tok, prompt, tails[0], pool, draw, added, branched)
    return {t: first if t == tails[0] else replace(first, neglogp=rows[t][0], ids=rows[t][1], tail=t) for t in tails}


def _with_branches(a: dict[str, Any], path: str) -> dict[str, Any]:
    """Return a part's rows with its branches' rows after them (``_parent``: the continuation a branch leaves)."""
    if "branch_seq" not in a:
        return a
    missing = [f"branch_{k}" for k in BRANCH_ARRAYS if f"branch_{k}" not in a]
    if missing:
        raise InputError(f"{path}: the dump's branches lack {', '.join(missing)}; the file is damaged, re-dump")
    seq = a["seq"].astype(np.int64)
    prompt = a["prompt"].astype(np.int64) if "prompt" in a else seq
    par = a["branch_parent"].astype(np.int64)
    n = len(par)
    if any(len(a[f"branch_{k}"]) != n for k in BRANCH_ARRAYS) or np.ndim(a["branch_topk_ids"]) != 2:
        raise InputError(f"{path}: the dump's branch arrays differ in length or shape; the file is damaged, re-dump")
    check_topk(np.asarray(a["branch_topk_logprobs"]), None, path)  # the branches' rows, as every row is checked
    useq, first = np.unique(seq, return_index=True)
    at = np.minimum(np.searchsorted(useq, par), max(len(useq) - 1, 0))
    if n and (len(useq) == 0 or np.any(useq[at] != par)):
        raise InputError(f"{path}: a branch names a continuation the dump lacks; the file is damaged, re-dump")
    out = dict(a)
    width = max(a["topk_ids"].shape[1], a["branch_topk_ids"].shape[1])  # API logs' rows differ in width

    def wide(x: np.ndarray, fill: float) -> np.ndarray:
        return np.pad(x, ((0, 0), (0, width - x.shape[1])), constant_values=fill)

    for k, fill in (("topk_ids", -1), ("topk_logprobs", -np.inf)):
        out[k] = np.concatenate([wide(a[k], fill), wide(a[f"branch_{k}"].astype(a[k].dtype, copy=False), fill)])
    for k in ("next_token", "next_surprisal", "seq", "pos"):
        out[k] = np.concatenate([a[k], a[f"branch_{k}"].astype(a[k].dtype, copy=False)])
    out["prompt"] = np.concatenate([prompt, prompt[first[at]] if n else np.zeros(0, dtype=np.int64)])
    out["_parent"] = np.concatenate([np.full(len(seq), -1, dtype=np.int64), par])
    return out


def listed_entropy(neglogp: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per row, the entropy of its listed tokens, sum p (-log p) over real ids (a lumped tail is left out).

    Parameters
    ----------
    neglogp, ids
        Rows as in :class:`GraftedInput`.

    Returns
    -------
    ndarray
        ``[rows]`` in nats: the same for a row whatever the tail rule, and computable from API logs' top-k.

    """
    real = (ids >= 0) & np.isfinite(neglogp)
    terms = np.where(real, np.exp(-np.where(real, neglogp, 0.0)) * np.where(real, neglogp, 0.0), 0.0)
    return terms.sum(axis=1)


def _pools(
    neglogp: np.ndarray,
    ids: np.ndarray,
    order: np.ndarray,
    seq: np.ndarray,
    pos: np.ndarray,
    row_prompt: np.ndarray,
    n_prompts: int,
    pool: str,
    draw: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pool segments ``[prompts, bins]`` of ``pool_rows``, each row's bin as a parent, each depth's bin."""
    n_rows = len(neglogp)
    group = np.zeros(n_rows, dtype=np.int64) if pool == "all" else row_prompt
    n_groups = 1 if pool == "all" else n_prompts
    depth_bin = np.zeros(1, dtype=np.int64)
    if draw == "uniform":
        row_bin = np.zeros(n_rows, dtype=np.int64)
        member_bin = np.zeros(n_rows, dtype=np.int64)
        bins = 1
    elif draw == "depth":
        row_bin = np.zeros(n_rows, dtype=np.int64)
        depth_bin = np.arange(int(pos.max()) + 1 if n_rows else 1, dtype=np.int64) // DEPTH_BLOCK
        bins = int(depth_bin[-1]) + 1
        member_bin = depth_bin[pos]
    else:
        bins = ENTROPY_BINS
        h = listed_entropy(neglogp, ids)
        edges = np.quantile(h, np.arange(1, bins) / bins)
        row_bin = np.searchsorted(edges, h, side="right").astype(np.int64)
        # a row's membership: the bin of its parent, the row before it in its continuation (-1: none, pos 0)
        member_bin = np.full(n_rows, -1, dtype=np.int64)
        srt = order  # rows sorted by (seq, pos)
        same = (seq[srt[1:]] == seq[srt[:-1]]) & (pos[srt[1:]] == pos[srt[:-1]] + 1)
        member_bin[srt[1:][same]] = row_bin[srt[:-1][same]]
    rows_out: list[np.ndarray] = []
    lo = np.zeros((n_groups, bins), dtype=np.int64)
    n = np.zeros((n_groups, bins), dtype=np.int64)
    start = 0
    by_group = np.argsort(group, kind="stable")
    cuts = np.searchsorted(group[by_group], np.arange(n_groups + 1))
    for gi in range(n_groups):
        mine = by_group[cuts[gi] : cuts[gi + 1]]
        rows_out.append(mine)
        whole_lo, whole_n = start, len(mine)
        start += len(mine)
        for b in range(bins):
            sel = mine[member_bin[mine] == b] if bins > 1 else mine
            if bins > 1 and len(sel) == 0:
                lo[gi, b], n[gi, b] = whole_lo, whole_n  # the prompt never saw such a parent: its whole pool
                continue
            if bins > 1:
                rows_out.append(sel)
                lo[gi, b], n[gi, b] = start, len(sel)
                start += len(sel)
            else:
                lo[gi, b], n[gi, b] = whole_lo, whole_n
    pool_rows = np.concatenate(rows_out).astype(np.int64) if rows_out else np.zeros(0, dtype=np.int64)
    if pool == "all":
        lo, n = np.repeat(lo, n_prompts, axis=0), np.repeat(n, n_prompts, axis=0)
    return pool_rows, lo, n, row_bin, depth_bin


def _trie(
    order: np.ndarray,
    seq: np.ndarray,
    pos: np.ndarray,
    tok: np.ndarray,
    row_prompt: np.ndarray,
    parent: np.ndarray | None = None,
) -> tuple:
    """Return the tries of logged contexts as flat arrays, nodes numbered in the order they are first reached.

    Continuation by continuation (``seq`` order) and token by token, a context is a node the first time it is
    reached: its prompt's end (depth 0), then the context after each sampled token. One ``np.unique`` per depth
    names the contexts; a node's number is the rank of its first visit, a node's row the row logged at its first
    visit that logs one, a parent's children are listed in the order they were reached (``tests/reference.py:
    trie_reference`` builds the same arrays one token at a time).

    A branch (``parent`` >= 0 on its rows: the ``seq`` it branches from) starts at its first position t, in the
    context its parent reached after t tokens, and goes on from there (``dump --branch-at``); its parent is a
    continuation of the same prompt that starts at the prompt's end, with a smaller ``seq``.
    """
    srt_seq = seq[order]
    starts = np.flatnonzero(np.r_[True, srt_seq[1:] != srt_seq[:-1]])
    lengths = np.diff(np.r_[starts, len(order)])
    n_seq = len(starts)
    first_pos = pos[order[starts]].astype(np.int64) if n_seq else np.zeros(0, dtype=np.int64)
    par = parent[order[starts]].astype(np.int64) if parent is not None else np.full(n_seq, -1, dtype=np.int64)
    branch = np.flatnonzero(par >= 0)
    if np.any(first_pos[par < 0] != 0):
        raise InputError("a continuation's positions are not 0, 1, 2, ...; the dump is damaged, re-dump")
    # the position each row should have: its continuation's first, then one more per row
    rank = np.arange(len(order)) - np.repeat(starts, lengths) + np.repeat(first_pos, lengths)
    if not np.array_equal(pos[order], rank):
        raise InputError("a continuation's positions are not 0, 1, 2, ...; the dump is damaged, re-dump")
    p_of_seq = row_prompt[order[starts]]
    par_idx = np.searchsorted(srt_seq[starts], par[branch]) if branch.size else np.zeros(0, dtype=np.int64)
    if branch.size:
        found = (par_idx < n_seq) & (srt_seq[starts][np.minimum(par_idx, n_seq - 1)] == par[branch])
        par_idx = np.minimum(par_idx, n_seq - 1)
        ok = found & (par[par_idx] < 0) & (par[branch] < srt_seq[starts][branch])
        ok &= (p_of_seq[par_idx] == p_of_seq[branch]) & (first_pos[branch] <= lengths[par_idx])
        if not ok.all():
            raise InputError(
                "a branch does not follow its parent (another prompt, a missing or later continuation, or a start "
                "past the parent's end); the dump is damaged, re-dump"
            )
    # visits: per continuation, the context it starts in, then the context after each token (L + 1 of them)
    visit_start = np.cumsum(np.r_[0, lengths + 1])[:-1]
    n_visits = int(lengths.sum()) + n_seq
    local = np.arange(n_visits) - np.repeat(visit_start, lengths + 1)
    v_depth = local + np.repeat(first_pos, lengths + 1)
    v_seq = np.repeat(np.arange(n_seq), lengths + 1)
    v_row = np.full(n_visits, -1, dtype=np.int64)  # the row logged at a visit (none after the last token)
    logged = local < np.repeat(lengths, lengths + 1)
    v_row[logged] = order
    opening = np.zeros(n_visits, dtype=bool)
    opening[visit_start] = True
    key = np.empty(n_visits, dtype=np.int64)  # a context's name, unique over all depths
    key[visit_start] = p_of_seq
    base = int(p_of_seq.max()) + 1 if n_seq else 0
    width = int(tok.max()) + 2 if len(tok) else 1

    def open_branches(d: int) -> None:  # branches starting at depth d take their parent's context there
        b = first_pos[branch] == d
        if b.any():
            key[visit_start[branch[b]]] = key[visit_start[par_idx[b]] + d]

    open_branches(0)
    for d in range(1, int(v_depth.max()) + 1 if n_seq else 1):
        at = np.flatnonzero((v_depth == d) & ~opening)
        if at.size:
            pair = key[at - 1] * width + tok[v_row[at - 1]] + 1  # the parent context, then the token sampled there
            _, name = np.unique(pair, return_inverse=True)
            key[at] = base + name
            base += int(name.max()) + 1
        open_branches(d)
    _, first, node_of_key = np.unique(key, return_index=True, return_inverse=True)
    number = np.empty(len(first), dtype=np.int64)
    number[np.argsort(first, kind="stable")] = np.arange(len(first))  # numbered by first visit
    v_node = number[node_of_key]
    n_nodes = len(first)
    first_visit = np.empty(n_nodes, dtype=np.int64)
    first_visit[v_node[first]] = first
    node_prompt = p_of_seq[v_seq[first_visit]]
    node_depth = v_depth[first_visit]
    node_conts = np.bincount(v_node, minlength=n_nodes).astype(np.int64)
    node_row = np.full(n_nodes, -1, dtype=np.int64)
    lv = np.flatnonzero(logged)
    _, first_logged = np.unique(v_node[lv], return_index=True)
    node_row[v_node[lv[first_logged]]] = v_row[lv[first_logged]]
    # edges: each node but the roots, from its first visit's parent context with that visit's token
    child = np.flatnonzero(node_depth > 0)
    up = v_node[first_visit[child] - 1]
    edge_tok = tok[v_row[first_visit[child] - 1]]
    by_parent = np.lexsort((child, up))  # a parent's children in the order they were reached
    child_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    child_ptr[1:] = np.cumsum(np.bincount(up, minlength=n_nodes))
    child_tok = edge_tok[by_parent].astype(np.int64)
    child_node = child[by_parent].astype(np.int64)
    known = (node_row >= 0).astype(np.int64)
    for d in range(int(node_depth.max()) if n_nodes else 0, 0, -1):  # children are deeper: sum bottom up
        at = np.flatnonzero(node_depth[child] == d)
        np.add.at(known, up[at], known[child[at]])
    seq_nodes = np.split(v_node[logged], np.cumsum(lengths)[:-1]) if n_seq else []
    if branch.size:  # a branch adds known contexts, not roots: the positions stay those of the sampled text
        seq_nodes = [x for x, up in zip(seq_nodes, par.tolist(), strict=True) if up < 0]
    roots = np.full(int(row_prompt.max()) + 1 if len(row_prompt) else 0, -1, dtype=np.int64)
    roots[node_prompt[node_depth == 0]] = np.flatnonzero(node_depth == 0)
    return node_row, node_prompt, node_depth, node_conts, child_ptr, child_tok, child_node, known, seq_nodes, roots


def _build(neglogp, ids, seq, pos, tok, prompt, tail, pool, draw, added, parent=None) -> GraftedInput:
    order = np.lexsort((pos, seq))
    seqs = np.unique(seq if parent is None else seq[parent < 0])  # roots come from the sampled continuations only
    _, prompt_of_first = np.unique(prompt, return_index=True)
    dump_prompts = prompt[np.sort(prompt_of_first)]  # in the order of first appearance
    _, by_value = np.unique(prompt, return_inverse=True)
    rank_of_value = np.empty(len(prompt_of_first), dtype=np.int64)
    rank_of_value[np.argsort(prompt_of_first, kind="stable")] = np.arange(len(prompt_of_first))
    row_prompt = rank_of_value[by_value]  # each row's prompt, numbered by first appearance
    nrow, node_prompt, depth, node_conts, child_ptr, child_tok, child_node, known, seq_nodes, prompt_root = _trie(
        order, seq, pos, tok, row_prompt, parent
    )
    seq_prompt = row_prompt[order[np.searchsorted(seq[order], seqs)]]
    pool_rows, lo, n, row_bin, depth_bin = _pools(
        neglogp, ids, order, seq, pos, row_prompt, len(dump_prompts), pool, draw
    )
    return GraftedInput(
        neglogp=neglogp,
        ids=ids,
        node_row=nrow,
        child_ptr=child_ptr,
        child_tok=child_tok,
        child_node=child_node,
        node_prompt=np.asarray(node_prompt, dtype=np.int64),
        node_depth=depth,
        node_conts=np.asarray(node_conts, dtype=np.int64),
        node_known=known,
        prompt_root=prompt_root,
        prompts=dump_prompts.astype(np.int64),
        seq_nodes=seq_nodes,
        seq_prompt=seq_prompt,
        seq_ids=seqs.astype(np.int64),
        pool_rows=pool_rows,
        prompt_pool_lo=lo,
        prompt_pool_n=n,
        row_bin=row_bin,
        depth_bin=depth_bin,
        draw=draw,
        tail=tail,
        added_sampled=added,
    )
