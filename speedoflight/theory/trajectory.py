"""The trajectory bound: E[X*(P)] <= inf_t [G(t) + P e^{-t}] from sampled continuations.

``G(t) = sum_{n>=1} Pr(S_n <= t)`` where ``S_n`` is the cumulative surprisal
of the first n tokens of the verifier's own sampled continuation. This needs
no i.i.d. assumption (many-to-one identity), only sampled continuations: the
surprisal sequences that speedoflight dumps store.

Estimation (see the package docs): ``G`` is averaged over continuations
within a prompt, then over prompts (each prompt weighs the same). The
plug-in value ``inf_t [G_hat(t) + P e^{-t}]`` is computed exactly in t (the
infimum over the finitely many breakpoints of the step function ``G_hat``)
and is the point estimate; it is biased low (the infimum of a noisy curve),
and heavy-tailed across prompts, so speedoflight also reports a conservative
value: the same infimum of an upper confidence band for ``G`` that holds
uniformly over a grid of t, from a bootstrap over prompts (studentised
supremum). The interval for the plug-in is a percentile bootstrap over prompts.
With one continuation per prompt, G is noisy within a prompt too: tight
values need several continuations per prompt.

``t`` is restricted to ``[0, t_cap]`` with ``t_cap`` the smallest total
surprisal of any continuation, so that no continuation is cut off
(censored) inside the range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._config import DEFAULT_CONFIDENCE
from ..errors import InputError
from ..kernels import moments as K

__all__ = ["TrajectoryBound", "TrajectoryScan", "trajectories_from_files", "trajectories_from_rows", "trajectory_bound"]


@dataclass(frozen=True)
class TrajectoryBound:
    """Plug-in and conservative trajectory bounds at each P, with what they rest on."""

    P: np.ndarray
    plug_in: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    conservative: np.ndarray
    n_prompts: int
    n_continuations: int
    tokens: int
    t_cap: float
    confidence: float
    n_boot: int
    seed: int
    breaks: np.ndarray = field(repr=False)
    g_before: np.ndarray = field(repr=False)
    t_grid: np.ndarray = field(repr=False)
    g_upper: np.ndarray = field(repr=False)

    def plug_in_at(self, p: np.ndarray) -> np.ndarray:
        """Evaluate the plug-in value at other capacities (same G, exact in t).

        Parameters
        ----------
        p
            Verifier capacities P.

        Returns
        -------
        ndarray
            ``inf_t [G_hat(t) + P e^{-t}]`` over ``t`` in ``[0, t_cap]`` at each P, capped at P.

        """
        pp = np.atleast_1d(np.asarray(p, dtype=np.float64))
        return np.minimum(K.threshold_infimum(self.breaks, self.g_before, pp, self.t_cap), pp)

    def conservative_at(self, p: np.ndarray) -> np.ndarray:
        """Evaluate the conservative value at other capacities (same upper band of G).

        Parameters
        ----------
        p
            Verifier capacities P.

        Returns
        -------
        ndarray
            The minimum over the t grid of the upper band of G plus ``P e^{-t}`` at each P, capped at P.

        """
        pp = np.atleast_1d(np.asarray(p, dtype=np.float64))
        return np.minimum(np.min(self.g_upper[None, :] + pp[:, None] * np.exp(-self.t_grid[None, :]), axis=1), pp)

    @property
    def continuations_per_prompt(self) -> float:
        """Mean number of continuations per prompt."""
        return self.n_continuations / self.n_prompts


def trajectories_from_files(paths: str | Sequence[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """Surprisal sequences from speedoflight dumps or JSONL API logs.

    Returns the per-continuation surprisal arrays (in position order) and a
    prompt id per continuation: a dump's ``prompt`` array where it has one
    (``dump --samples-per-prompt``), else each continuation is its own prompt.

    Parameters
    ----------
    paths
        A file, a glob, or a list of them (speedoflight dumps or JSONL API logs).

    Returns
    -------
    tuple
        ``(surprisals, prompts)``: one float array of surprisals (nats) per continuation, and an int
        array of prompt ids numbered from 0.

    Raises
    ------
    InputError
        When the files record no sampled surprisal or no sequence ids.

    """
    from .estimator import estimate

    m = estimate(paths, per_row=True, n_boot=10)
    assert m.per_row is not None
    return trajectories_from_rows(m.per_row)


def trajectories_from_rows(pr: Any) -> tuple[list[np.ndarray], np.ndarray]:
    """Surprisal sequences from the per-row values of an estimate (``estimate(..., per_row=True).per_row``).

    Parameters
    ----------
    pr
        A :class:`~speedoflight.theory.estimator.PerRow`.

    Returns
    -------
    tuple
        The per-continuation surprisal arrays (in position order) and a prompt id per continuation.

    Raises
    ------
    InputError
        When the rows record no sampled surprisal or no sequence ids.

    """
    return _sequences(pr.source, pr.seq, pr.pos, pr.surprisal, pr.prompt)


def _sequences(
    source: np.ndarray, seq: np.ndarray, pos: np.ndarray, surprisal: np.ndarray, prompt: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-continuation surprisal arrays in position order, and a prompt id per continuation."""
    if not np.all(np.isfinite(surprisal)):
        raise InputError("the files do not record the sampled tokens' surprisal, which the trajectory bound needs")
    if np.any(seq < 0):
        raise InputError("the files do not record sequence ids, which the trajectory bound needs")
    source = source.astype(np.int64)
    key = source * (int(seq.max()) + 1) + seq
    order = np.lexsort((pos, key))
    k_sorted = key[order]
    cuts = np.flatnonzero(np.diff(k_sorted)) + 1
    seqs = np.split(surprisal[order], cuts)
    first = order[np.concatenate([[0], cuts])]
    prompt_key = source * (int(prompt.max()) + 1) + prompt
    return seqs, np.unique(prompt_key[first], return_inverse=True)[1]


class TrajectoryScan:
    """The surprisal sequences as a consumer of :func:`speedoflight.readers.scan.scan`, 22 bytes a row.

    Keeps only what the trajectory bound needs (sequence, position, prompt, surprisal) instead of every
    per-row value of an estimate: on a 3 GB dump this is a tenth of the memory.
    """

    wants_logprobs = False

    def __init__(self) -> None:
        self._parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._merged: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.usable = True

    def begin(self, index: int, source: Any) -> None:
        """Nothing to check: sources without sampled tokens (any but dumps and API logs) make :meth:`finish` return None.

        Parameters
        ----------
        index
            The source's position in the scan (unused).
        source
            The source: only speedoflight dumps and API logs record the sampled tokens.

        """
        if not (source.format.endswith("-jsonl") or source.format.startswith("speedoflight-dump")):
            self.usable = False
            self._parts = []

    def add(self, index: int, source: Any, chunk: Any, logprobs: np.ndarray | None, full: bool) -> None:
        """Keep a chunk's sequence ids, positions, prompts and sampled surprisals.

        Parameters
        ----------
        index
            The source's position in the scan.
        source, logprobs, full
            Unused.
        chunk
            The rows (a :class:`~speedoflight.readers.RowChunk`).

        """
        if not self.usable:
            return
        if chunk.seq is None or chunk.pos is None or chunk.surprisal is None:
            self.usable = False
            self._parts = []
            return
        seq = np.asarray(chunk.seq, dtype=np.int64)
        prompt = seq if chunk.prompt is None else np.asarray(chunk.prompt, dtype=np.int64)
        self._parts.append(
            (index, seq, np.asarray(chunk.pos, dtype=np.int32), np.asarray(chunk.surprisal, dtype=np.float64), prompt)
        )

    def blank(self) -> TrajectoryScan:
        """Return an empty collector, for a worker (:func:`~speedoflight.readers.scan.scan_shards`).

        Returns
        -------
        TrajectoryScan
            With no rows.

        """
        return TrajectoryScan()

    def part(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """One file's continuations: each one's sampled surprisals and prompt, or None without sampled tokens.

        What the bound is exact in: one float per generated token (the file's rows stay on the worker).

        Returns
        -------
        tuple or None
            ``(lengths, surprisals, prompts)``: tokens per continuation, their surprisals end to end, and a prompt
            id per continuation numbered from 0 within the file.

        """
        got = self.finish()
        if got is None:
            return None
        seqs, prompts = got
        return np.array([len(x) for x in seqs], dtype=np.int64), np.concatenate(seqs), prompts

    def merge(self, index: int, part: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> None:
        """Add file ``index``'s continuations (:meth:`part`), files in order: the single scan's order.

        Parameters
        ----------
        index
            The file's place among the sources.
        part
            A worker's continuations, or None (the file has no sampled tokens: no trajectory bound).

        """
        if part is None or not self.usable:
            self.usable = False
            self._merged = []
            return
        self._merged.append(part)

    def finish(self) -> tuple[list[np.ndarray], np.ndarray] | None:
        """Return the surprisal sequences and a prompt id per sequence, or None without sampled tokens.

        Returns
        -------
        tuple or None
            As :func:`trajectories_from_rows`.

        """
        if not self.usable:
            return None
        if self._merged:  # files scanned on workers: their sequences in file order, prompts numbered on
            lengths, values, prompts = (np.concatenate([m[k] for m in self._merged]) for k in range(3))
            offsets = np.cumsum([0] + [int(m[2].max()) + 1 for m in self._merged[:-1]])
            prompts = prompts + np.repeat(offsets, [len(m[0]) for m in self._merged])
            return np.split(values, np.cumsum(lengths)[:-1]), prompts
        if not self._parts:
            return None
        source = np.concatenate([np.full(len(p[1]), p[0], dtype=np.int32) for p in self._parts])
        cols = [np.concatenate([p[k] for p in self._parts]) for k in (1, 2, 3, 4)]
        self._parts = []
        try:
            return _sequences(source, cols[0], cols[1], cols[2], cols[3])
        except InputError:
            return None


def _weights(prompt: np.ndarray, multiplicity: np.ndarray) -> np.ndarray:
    """Per-continuation weight: prompt multiplicity / n_prompts / continuations of the prompt."""
    n_cont = np.bincount(prompt)
    return multiplicity[prompt] / len(n_cont) / n_cont[prompt]


def trajectory_bound(
    surprisals: Sequence[np.ndarray],
    prompts: Sequence[int] | np.ndarray | None,
    p: np.ndarray | Sequence[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_boot: int = 500,
    seed: int = 0,
    grid: int = 1024,
) -> TrajectoryBound:
    """Trajectory bound at capacities ``p`` from sampled surprisal sequences.

    Parameters
    ----------
    surprisals
        One array per continuation: the surprisal (nats) of each sampled token.
    prompts
        The prompt each continuation came from (None: each its own prompt).
    p
        Verifier capacities (>= 1).
    confidence, n_boot, seed
        Bootstrap over prompts.
    grid
        Points of the t grid for the uniform band.

    Returns
    -------
    TrajectoryBound
        At each P the plug-in value with its percentile interval and the conservative value, all capped
        at P, with the counts and settings behind them.

    """
    seqs = [np.asarray(s, dtype=np.float64) for s in surprisals]
    if not seqs or any(len(s) == 0 for s in seqs):
        raise InputError("the trajectory bound needs at least one non-empty continuation")
    if any(not np.all(np.isfinite(s) & (s >= 0)) for s in seqs):
        raise InputError("surprisals must be finite and >= 0")
    pp = np.atleast_1d(np.asarray(p, dtype=np.float64))
    _, prompt = np.unique(np.arange(len(seqs)) if prompts is None else np.asarray(prompts), return_inverse=True)
    n_prompts = int(prompt.max()) + 1
    cum = [np.cumsum(s) for s in seqs]
    t_cap = float(min(c[-1] for c in cum))
    values = np.concatenate(cum)
    owner = np.concatenate([np.full(len(c), i) for i, c in enumerate(cum)])
    order = np.argsort(values, kind="stable")
    values, owner = values[order], owner[order]
    lengths = np.array([len(s) for s in seqs])

    def g_before(mult: np.ndarray) -> np.ndarray:
        w = _weights(prompt, mult)[owner]
        return np.concatenate([[0.0], np.cumsum(w)])

    ones = np.ones(n_prompts)
    gb = g_before(ones)
    plug = np.minimum(K.threshold_infimum(values, gb, pp, t_cap), pp)
    tg = np.linspace(0.0, t_cap, grid)
    idx = np.searchsorted(values, tg, side="right")
    g_grid = gb[idx]
    rng = np.random.default_rng(seed)
    weights = np.empty((n_boot, len(seqs)))  # per replicate, each continuation's weight: its G is one kernel's
    for b in range(n_boot):
        mult = np.bincount(rng.integers(0, n_prompts, n_prompts), minlength=n_prompts).astype(np.float64)
        weights[b] = _weights(prompt, mult)
    reps = np.empty((n_boot, len(pp)))
    g_reps = np.empty((n_boot, grid))
    K.threshold_replicates(values, owner, weights, pp, t_cap, idx, reps, g_reps)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2], axis=0)
    sd = g_reps.std(axis=0, ddof=1) if n_boot > 1 else np.zeros(grid)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, (g_reps - g_grid) / sd, 0.0)
    c = float(np.quantile(z.max(axis=1), 1 - alpha))
    upper = g_grid + max(c, 0.0) * sd
    conservative = np.min(upper[None, :] + pp[:, None] * np.exp(-tg[None, :]), axis=1)
    return TrajectoryBound(
        P=pp,
        plug_in=plug,
        ci_low=lo,
        ci_high=hi,
        conservative=np.minimum(conservative, pp),
        n_prompts=n_prompts,
        n_continuations=len(seqs),
        tokens=int(lengths.sum()),
        t_cap=t_cap,
        confidence=confidence,
        n_boot=n_boot,
        seed=seed,
        breaks=values,
        g_before=gb,
        t_grid=tg,
        g_upper=upper,
    )
