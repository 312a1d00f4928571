"""Paired dumps: a target and a draft over the same positions, with the per-row acceptance alpha = sum min(p, q).

:func:`read_pair` reads a target and a draft file over the same positions
(row i of one is row i of the other):

* full-vocabulary rows in any array format the estimator reads (logits,
  log-probabilities or probabilities): alpha is exact per row;
* speedoflight dumps (top-k token ids and log-probabilities): where the
  draft dump records the exact full-vocabulary overlap with the target
  (``speedoflight dump --early-exit``), alpha is exact; in every case the
  listed tokens bound it, see :func:`topk_interval`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._config import DEFAULT_CHUNK_BYTES
from ..errors import InputError

__all__ = ["Pair", "alpha_full", "complete_rows", "dump_rows", "read_pair", "topk_interval"]


def alpha_full(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-row acceptance ``sum_i min(p_i, q_i)`` of full distributions ``[n, V]`` (or one row ``[V]``).

    Parameters
    ----------
    p, q
        Target and draft probabilities of the same shape, ``[n, V]`` or ``[V]``.

    Returns
    -------
    ndarray
        ``[n]`` acceptance per row (a float64 scalar for one row), computed in float64.

    """
    return np.minimum(np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)).sum(axis=-1)


def topk_interval(
    p_ids: np.ndarray, p_lp: np.ndarray, q_ids: np.ndarray, q_lp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on ``sum_i min(p_i, q_i)`` from each distribution's listed top tokens.

    Parameters
    ----------
    p_ids, p_lp
        ``[n, k]`` token ids and log-probabilities of the target's top tokens
        (``-inf`` pads a short row).
    q_ids, q_lp
        The same for the draft (its own ``k`` may differ).

    Returns
    -------
    lo, hi
        ``[n]`` bounds. With S, T the listed sets, r_p, r_q the unlisted
        masses and c_p, c_q the smallest listed probabilities (no unlisted
        token can exceed them): ``lo = sum_{S & T} min(p, q)`` (every other
        token may have 0 on one side) and ``hi = lo + min(r_p + a, r_q + b)``
        with ``a = min(r_q, sum_{S - T} min(p_i, c_q))`` and
        ``b = min(r_p, sum_{T - S} min(q_i, c_p))``: the draft's unlisted mass
        can sit on S - T, the target's on T - S, and what is left of both
        tails can overlap outside S | T.

    """
    p = np.exp(np.asarray(p_lp, dtype=np.float64))
    q = np.exp(np.asarray(q_lp, dtype=np.float64))
    p_ok, q_ok = p > 0, q > 0
    r_p = np.clip(1.0 - p.sum(axis=1), 0.0, 1.0)
    r_q = np.clip(1.0 - q.sum(axis=1), 0.0, 1.0)
    c_p = np.where(p_ok, p, np.inf).min(axis=1)
    c_q = np.where(q_ok, q, np.inf).min(axis=1)
    same = (np.asarray(p_ids)[:, :, None] == np.asarray(q_ids)[:, None, :]) & p_ok[:, :, None] & q_ok[:, None, :]
    both = np.minimum(p[:, :, None], q[:, None, :])
    lo = np.where(same, both, 0.0).sum(axis=(1, 2))
    p_only = p_ok & ~same.any(axis=2)
    q_only = q_ok & ~same.any(axis=1)
    a = np.minimum(r_q, np.where(p_only, np.minimum(p, c_q[:, None]), 0.0).sum(axis=1))
    b = np.minimum(r_p, np.where(q_only, np.minimum(q, c_p[:, None]), 0.0).sum(axis=1))
    hi = np.minimum(1.0, lo + np.minimum(r_p + a, r_q + b))
    return lo, hi


@dataclass
class Pair:
    """A target and a draft over the same positions: per-row acceptance and, for top-k rows, its bounds.

    Attributes
    ----------
    alpha
        ``[n]`` per-row acceptance: exact where ``exact`` says so, else the
        midpoint of ``[alpha_lo, alpha_hi]``.
    alpha_lo, alpha_hi
        ``[n]`` bounds (equal to ``alpha`` for full rows).
    exact
        ``"full rows"``, ``"recorded overlap"`` (the draft dump's exact
        full-vocabulary overlap) or ``None`` (only the interval is known).
    seq, pos, prompt
        ``[n]`` sequence ids, positions and prompt ids (None when unknown).
    rows
        Optional ``(p, q)`` distributions on a common support, for the
        simulators: full rows as read, or top-k rows completed by lumping
        each tail into one extra token shared by both (``completion``).

    """

    target: str
    draft: str
    alpha: np.ndarray
    alpha_lo: np.ndarray
    alpha_hi: np.ndarray
    exact: str | None
    seq: np.ndarray | None = None
    pos: np.ndarray | None = None
    prompt: np.ndarray | None = None
    rows: tuple[np.ndarray, np.ndarray] | None = None
    completion: str | None = None
    names: tuple[str, str] = ("target", "draft")
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of paired rows."""
        return len(self.alpha)

    @property
    def truncated(self) -> bool:
        """True when only bounds on alpha are known for some rows."""
        return self.exact is None

    def clusters(self) -> np.ndarray:
        """Cluster id per row for intervals: the prompt, else the sequence, else every row alone.

        Returns
        -------
        ndarray
            ``[n]`` cluster ids: ``prompt`` if known, else ``seq``, else ``0..n-1``.

        """
        for c in (self.prompt, self.seq):
            if c is not None:
                return c
        return np.arange(self.n)

    def sequences(self) -> list[np.ndarray]:
        """Row indices of each sequence, in position order (one sequence when ids are unknown).

        Returns
        -------
        list of ndarray
            One array of row indices per sequence, in increasing sequence id, each sorted by position
            (by row order when positions are unknown); ``[0..n-1]`` alone when ``seq`` is None.

        """
        if self.seq is None:
            return [np.arange(self.n)]
        order = np.lexsort((self.pos if self.pos is not None else np.arange(self.n), self.seq))
        cuts = np.flatnonzero(np.diff(self.seq[order])) + 1
        return np.split(order, cuts)


def _dump_meta(path: str) -> dict[str, Any] | None:
    import zipfile

    if not path.lower().endswith(".npz") or not zipfile.is_zipfile(path):
        return None
    from .arrays import npz_members
    from .dumpfile import is_dump, read_metadata

    if not is_dump(npz_members(path)):
        return None
    return read_metadata(path)


def complete_rows(parts: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Put top-k rows of several distributions on one support: the union of listed ids plus one 'rest' token.

    Each part is ``(ids [n, k], logprobs [n, k])``; the last column of every
    output ``[n, W]`` holds that distribution's unlisted mass, so the tails
    of all of them are lumped into one shared token. Overlaps computed on the
    result lie within the bounds of :func:`topk_interval`.

    Parameters
    ----------
    parts
        One ``(ids [n, k], logprobs [n, k])`` per distribution, over the same n rows (each its own k);
        entries of probability 0 (``-inf`` log-probability) are unlisted.

    Returns
    -------
    list of ndarray
        One ``[n, W]`` probability array per part, ``W = sum of the k's + 1``: the columns up to the
        row's number of distinct listed ids hold each id's probability (0 where a part does not list it),
        the last column that part's unlisted mass, and any columns between are 0.

    """
    n = parts[0][0].shape[0]
    width = sum(ids.shape[1] for ids, _ in parts) + 1
    probs = [np.exp(lp.astype(np.float64)) for _, lp in parts]
    outs = [np.zeros((n, width)) for _ in parts]
    for i in range(n):
        listed = [pr[i] > 0 for pr in probs]
        ids = np.concatenate([part[0][i][ok] for part, ok in zip(parts, listed, strict=True)])
        uniq, inv = np.unique(ids, return_inverse=True)
        at = 0
        for out, pr, ok in zip(outs, probs, listed, strict=True):
            k = int(ok.sum())
            out[i, inv[at : at + k]] = pr[i][ok]
            at += k
            listed_mass = out[i, : len(uniq)].sum()
            if listed_mass > 1.0:  # float32 log-probabilities can list a little more than 1: rescale, no tail
                out[i, : len(uniq)] /= listed_mass
                out[i, -1] = 0.0
            else:
                out[i, -1] = 1.0 - listed_mass
    return outs


def dump_rows(paths: list[str]) -> list[np.ndarray]:
    """Rows of several speedoflight dumps over the same positions, on one support (see :func:`complete_rows`).

    Parameters
    ----------
    paths
        Speedoflight dump files with rows at the same (sequence, position) pairs, in the same order.

    Returns
    -------
    list of ndarray
        One ``[n, W]`` probability array per dump, as :func:`complete_rows` returns for their top-k rows.

    Raises
    ------
    InputError
        When a dump's rows are not at the positions of the first.

    """
    from .dumpfile import read_dump_arrays

    arrays = [read_dump_arrays(p, ("topk_ids", "topk_logprobs", "seq", "pos")) for p in paths]
    for p, a in zip(paths[1:], arrays[1:], strict=True):
        if not (np.array_equal(a["seq"], arrays[0]["seq"]) and np.array_equal(a["pos"], arrays[0]["pos"])):
            raise InputError(f"{p}: its rows are not at the positions of {paths[0]}; use dumps of one run")
    return complete_rows([(a["topk_ids"], a["topk_logprobs"]) for a in arrays])


def _read_dump_pair(target: str, draft: str, t_meta: dict[str, Any], d_meta: dict[str, Any], keep_rows: bool) -> Pair:
    from .dumpfile import read_dump_arrays

    names = ("topk_ids", "topk_logprobs", "seq", "pos", "next_token")
    t = read_dump_arrays(target, names)
    d = read_dump_arrays(draft, names)
    if len(t["seq"]) != len(d["seq"]):
        raise InputError(
            f"{draft}: has {len(d['seq'])} rows but the target {target} has {len(t['seq'])}; "
            "pair dumps written over the same positions (`speedoflight dump --early-exit`)"
        )
    for key in ("seq", "pos", "next_token"):
        if not np.array_equal(t[key], d[key]):
            raise InputError(
                f"{draft}: its rows are not at the target's positions ({key} differs from {target}); "
                "pair dumps written over the same positions (`speedoflight dump --early-exit`)"
            )
    if int(t_meta.get("vocab_size", -1)) != int(d_meta.get("vocab_size", -2)):
        raise InputError(f"{draft}: vocabulary size differs from {target}'s; the two models must share a tokenizer")
    lo = np.empty(len(t["seq"]))
    hi = np.empty(len(t["seq"]))
    step = 2048
    for s in range(0, len(lo), step):
        sl = slice(s, s + step)
        lo[sl], hi[sl] = topk_interval(
            t["topk_ids"][sl], t["topk_logprobs"][sl], d["topk_ids"][sl], d["topk_logprobs"][sl]
        )
    exact_alpha = None
    t_view = (t_meta.get("pair") or {}).get("view")
    d_pair = d_meta.get("pair") or {}
    same_run = t_view is not None and d_pair.get("positions_sha256") == (t_meta.get("pair") or {}).get(
        "positions_sha256"
    )
    notes = []
    if same_run and t_view in (d_pair.get("views") or []):
        with np.load(draft, allow_pickle=False) as z:
            if "overlap" in z.files:
                ov = np.asarray(z["overlap"], dtype=np.float64)
                exact_alpha = ov[:, d_pair["views"].index(t_view)]
        if exact_alpha is not None:
            # the listed tokens are float32: allow their rounding
            bad = (exact_alpha < lo - 1e-4) | (exact_alpha > hi + 1e-4)
            if bad.any():
                raise InputError(
                    f"{draft}: its recorded overlap lies outside the bounds its top-k rows allow at "
                    f"{int(bad.sum())} rows (first: row {int(np.flatnonzero(bad)[0])}); the file is inconsistent"
                )
            notes.append("alpha from the exact full-vocabulary overlap recorded in the draft dump")
    prompt = None
    with np.load(target, allow_pickle=False) as z:
        if "prompt" in z.files:
            prompt = np.asarray(z["prompt"])
    rows = None
    if keep_rows:
        p_rows, q_rows = complete_rows([(t["topk_ids"], t["topk_logprobs"]), (d["topk_ids"], d["topk_logprobs"])])
        rows = (p_rows, q_rows)
    return Pair(
        target=target,
        draft=draft,
        alpha=exact_alpha if exact_alpha is not None else (lo + hi) / 2,
        alpha_lo=lo,
        alpha_hi=hi,
        exact="recorded overlap" if exact_alpha is not None else None,
        seq=np.asarray(t["seq"]),
        pos=np.asarray(t["pos"]),
        prompt=prompt,
        rows=rows,
        completion="top-k rows, each tail lumped into one shared token" if keep_rows else None,
        names=(_view_name(t_meta, target), _view_name(d_meta, draft)),
        notes=notes,
    )


def _view_name(meta: dict[str, Any], path: str) -> str:
    model = meta.get("model")
    name = model.get("name") if isinstance(model, dict) else None
    view = (meta.get("pair") or {}).get("view")
    if name and view:
        return f"{name} ({view})"
    return str(name or os.path.basename(path))


def _probs(values: np.ndarray, kind: str, temperature: float) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if temperature == 0.0:
        out = np.zeros_like(x)
        out[np.arange(len(x)), np.argmax(x, axis=1)] = 1.0
        return out
    with np.errstate(divide="ignore"):
        z = np.log(x) if kind == "probs" else x
    z = z / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def read_pair(
    target: str | os.PathLike[str],
    draft: str | os.PathLike[str],
    *,
    kind: str | None = None,
    vocab_size: int | None = None,
    temperature: float = 1.0,
    tensor: str | None = None,
    keep_rows: bool = False,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Pair:
    """Read a target and a draft file over the same positions into per-row acceptance.

    Parameters
    ----------
    target, draft
        Two files with one row per position, row i of one at the same
        position as row i of the other: full-vocabulary arrays (``.npy``,
        ``.npz``, ``.safetensors``, ``.pt``) or speedoflight dumps.
    kind, vocab_size, tensor
        As for the estimator (``kind`` applies to both files).
    temperature
        Applied to both full-row files (``softmax(z / T)``); top-k dumps hold
        the distributions sampled from and take only 1.
    keep_rows
        Also keep the two distributions per row (``Pair.rows``) for the
        simulators; top-k rows are completed by lumping each tail into one
        shared token, which stays within the alpha interval.
    chunk_bytes
        Bytes read at a time from full-row files.

    Returns
    -------
    Pair
        Per-row alpha, its bounds, and the rows' sequence ids.

    Raises
    ------
    InputError
        When the files differ in length or positions, when rows are not
        distributions, or when top-k rows carry no token ids to align.

    """
    from ..kernels.rowmoments import row_moments
    from . import _check_file, open_source

    target, draft = os.fspath(target), os.fspath(draft)
    for path in (target, draft):
        _check_file(path)
    if not np.isfinite(temperature) or temperature < 0:
        raise InputError(f"{{temperature}} must be a finite number >= 0, got {temperature}", param="temperature")
    t_meta, d_meta = _dump_meta(target), _dump_meta(draft)
    if (t_meta is None) != (d_meta is None):
        raise InputError(
            f"{target if t_meta is None else draft} is not a speedoflight dump but the other file is; "
            "give two dumps or two full-vocabulary arrays"
        )
    if t_meta is not None and d_meta is not None:
        if temperature != 1.0:
            raise InputError(
                "{temperature} applies to full-vocabulary rows only; dumps hold the distributions sampled from",
                param="temperature",
            )
        return _read_dump_pair(target, draft, t_meta, d_meta, keep_rows)
    src = [open_source(path, kind=kind, vocab_size=vocab_size, tensor=tensor) for path in (target, draft)]
    for s in src:
        if s.format.endswith("-jsonl"):
            raise InputError(
                f"{s.path}: API logs list top-k log-probabilities without the token ids in a form this command "
                "can align; pair full-vocabulary arrays or speedoflight dumps"
            )
        if s.truncated:
            raise InputError(
                f"{s.path}: rows hold {s.width} of {s.vocab_size} values (top-k) without token ids, so the two "
                "files' tokens cannot be matched; pair full-vocabulary rows or speedoflight dumps"
            )
    if src[0].n_rows != src[1].n_rows:
        raise InputError(
            f"{draft}: has {src[1].n_rows} rows but the target has {src[0].n_rows}; pair rows position by position"
        )
    if src[0].width != src[1].width:
        raise InputError(
            f"{draft}: rows have {src[1].width} entries but the target's have {src[0].width}; "
            "the two models must share a vocabulary"
        )
    alphas: list[np.ndarray] = []
    p_keep: list[np.ndarray] = []
    q_keep: list[np.ndarray] = []
    it_q = src[1].chunks(chunk_bytes)
    buf_q: np.ndarray | None = None
    for chunk in src[0].chunks(chunk_bytes):
        row_moments(chunk.values, kind=src[0].kind, temperature=temperature, where=target, row_offset=chunk.start)
        while buf_q is None or len(buf_q) < chunk.n:
            nxt = next(it_q)
            row_moments(nxt.values, kind=src[1].kind, temperature=temperature, where=draft, row_offset=nxt.start)
            buf_q = nxt.values if buf_q is None else np.concatenate([buf_q, nxt.values])
        qv, buf_q = buf_q[: chunk.n], buf_q[chunk.n :]
        p = _probs(chunk.values, src[0].kind, temperature)
        q = _probs(qv, src[1].kind, temperature)
        alphas.append(alpha_full(p, q))
        if keep_rows:
            p_keep.append(p)
            q_keep.append(q)
    alpha = np.concatenate(alphas)
    return Pair(
        target=target,
        draft=draft,
        alpha=alpha,
        alpha_lo=alpha,
        alpha_hi=alpha,
        exact="full rows",
        rows=(np.concatenate(p_keep), np.concatenate(q_keep)) if keep_rows else None,
        completion="full rows" if keep_rows else None,
        names=(os.path.basename(target), os.path.basename(draft)),
    )
