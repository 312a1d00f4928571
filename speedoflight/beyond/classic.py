"""Classical speculative sampling (Leviathan et al. 2023; Chen et al. 2023) on paired dumps.

A draft distribution q is checked against the target p by rejection: a draft
token x ~ q is kept with probability min(1, p(x) / q(x)), otherwise a token
is drawn from the residual ``max(p - q, 0)`` normalised. The output follows p
exactly, and a draft is accepted with probability

    alpha = sum_i min(p_i, q_i) = 1 - TV(p, q).

A chain of gamma drafts with the same alpha at every position yields
``(1 - alpha^(gamma+1)) / (1 - alpha)`` tokens per target call; with the real
per-position sequence alpha_t, alpha_{t+1}, ... the chain started at t yields
``sum_{j=0..gamma} prod_{i<j} alpha_{t+i}`` (acceptances independent given
the positions' distributions). With a draft costing c target calls per
token, the wall-clock speedup over plain decoding is
``tokens per call / (gamma c + 1)``.

Paired dumps are read by :func:`speedoflight.readers.pairs.read_pair`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._config import DEFAULT_CONFIDENCE
from .._util.stats import interval_of_mean
from ..errors import InputError
from ..readers.pairs import Pair, alpha_full

__all__ = [
    "ClassicResult",
    "best_gamma",
    "chain_speedup",
    "classic",
    "expected_tokens",
    "positional_tokens",
    "simulate_chain",
    "simulate_starts",
]

#: The largest number of drafts per call that the best-gamma search walks through.
MAX_GAMMA = 4096


def expected_tokens(alpha: float | np.ndarray, gamma: int) -> np.ndarray:
    """Tokens per target call of a chain of ``gamma`` drafts at constant acceptance: ``(1 - a^(g+1)) / (1 - a)``.

    Parameters
    ----------
    alpha
        Acceptance of each draft token, ``alpha = sum_i min(p_i, q_i)``; a scalar or an array.
    gamma
        Drafts per target call (>= 0).

    Returns
    -------
    np.ndarray
        Expected tokens per target call, of the shape of ``alpha`` (``gamma + 1`` where alpha is 1).

    """
    a = np.asarray(alpha, dtype=np.float64)
    if gamma < 0:
        raise InputError(f"{{gamma}} must be >= 0, got {gamma}", param="gamma")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(a < 1.0, (1.0 - a ** (gamma + 1)) / (1.0 - a), gamma + 1.0)
    return out


def positional_tokens(
    pair_alpha: np.ndarray, sequences: list[np.ndarray], gamma: int, room: int | None = None
) -> np.ndarray:
    """Tokens per call of the chain started at every position with room for ``room`` (default ``gamma``) drafts.

    For the start t: ``sum_{j=0..gamma} prod_{i<j} alpha_{t+i}``. Returns one
    value per start; starts whose ``room`` drafts would run past the
    sequence's end are left out, so curves over several gamma that share one
    ``room`` average over the same starts.

    Parameters
    ----------
    pair_alpha
        ``[n]`` per-position acceptance, ``alpha = sum min(p, q)`` per position.
    sequences
        Index arrays into ``pair_alpha``, one per sequence, its positions in order.
    gamma
        Drafts per target call.
    room
        Drafts every start must have room for (>= ``gamma``; default ``gamma``).

    Returns
    -------
    np.ndarray
        Tokens per target call of the chain at each kept start, concatenated over sequences (empty if none).

    """
    room = gamma if room is None else room
    if room < gamma:
        raise ValueError("room must be at least gamma")
    out = []
    for idx in sequences:
        a = pair_alpha[idx]
        n_start = len(a) - room + 1 if room > 0 else len(a)
        if n_start <= 0:
            continue
        total = np.ones(n_start)
        run = np.ones(n_start)
        for j in range(gamma):
            run = run * a[j : j + n_start]
            total = total + run
        out.append(total)
    return np.concatenate(out) if out else np.zeros(0)


def chain_speedup(tokens_per_call: float | np.ndarray, gamma: int | np.ndarray, cost_ratio: float) -> np.ndarray:
    """Wall-clock speedup of a draft chain over plain decoding: tokens per call over ``gamma * c + 1`` target-call units.

    A cost model of its own (a draft token costs ``c`` target calls, a target call the same for any gamma),
    not the roofline of :func:`speedoflight.timing.speedup`.

    Parameters
    ----------
    tokens_per_call
        Tokens emitted per target call.
    gamma
        Drafts per target call (broadcast against ``tokens_per_call``).
    cost_ratio
        Cost ``c`` of one draft token in target calls (finite, >= 0).

    Returns
    -------
    np.ndarray
        Speedup over plain decoding, ``tokens_per_call / (gamma * c + 1)``.

    """
    if not math.isfinite(cost_ratio) or cost_ratio < 0:
        raise InputError(f"{{cost_ratio}} must be a finite number >= 0, got {cost_ratio}", param="cost_ratio")
    return np.asarray(tokens_per_call, dtype=np.float64) / (np.asarray(gamma, dtype=np.float64) * cost_ratio + 1.0)


def best_gamma(alpha: float, cost_ratio: float, gamma_max: int = 64) -> tuple[int, float]:
    """Return the number of drafts in 0..gamma_max with the largest speedup at constant ``alpha``, and that speedup.

    Parameters
    ----------
    alpha
        Acceptance of each draft token, ``alpha = sum min(p, q)``, the same at every position.
    cost_ratio
        Cost of one draft token in target calls.
    gamma_max
        Largest number of drafts per target call searched.

    Returns
    -------
    tuple of (int, float)
        The best gamma (the smallest on ties) and its speedup over plain decoding.

    """
    g = np.arange(gamma_max + 1)
    s = chain_speedup(np.array([expected_tokens(alpha, int(k)) for k in g]), g, cost_ratio)
    k = int(np.argmax(s))
    return k, float(s[k])


@dataclass
class ClassicResult:
    """Acceptance, tokens per call and speedup of a chain of drafts, from a paired dump.

    ``alpha_ci`` is the sampling interval (over prompts or sequences) of the
    mean per-position acceptance; ``alpha_interval`` bounds it when only
    top-k rows are known. ``*_positional`` values use the real per-position
    sequence instead of the mean, averaged over the same starts for every
    gamma (those with room for ``max(gamma, L // 2)`` drafts, L the longest
    sequence); the positional curve stops there.
    """

    pair: Pair
    gamma: int
    cost_ratio: float
    gamma_max: int
    confidence: float
    alpha: float
    alpha_ci: tuple[float, float]
    alpha_interval: tuple[float, float] | None
    expected_tokens: float
    expected_tokens_interval: tuple[float, float] | None
    positional_tokens: float
    positional_tokens_interval: tuple[float, float] | None
    speedup: float
    positional_speedup: float
    best_gamma: int
    best_speedup: float
    best_gamma_positional: int
    best_speedup_positional: float
    curve: dict[str, list[Any]]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary.

        Returns
        -------
        dict
            The pair's names, rows and acceptance, tokens per call, speedups and best gamma, and the curve;
            non-finite numbers become None.

        """
        from .._util.jsonsafe import finite_or_none

        pair = self.pair
        out: dict[str, Any] = {
            "target": pair.target,
            "draft": pair.draft,
            "rows": pair.n,
            "alpha_exact": pair.exact,
            "alpha": self.alpha,
            "alpha_ci": list(self.alpha_ci),
            "confidence": self.confidence,
            "alpha_interval": list(self.alpha_interval) if self.alpha_interval else None,
            "alpha_topk_bounds": (
                [float(pair.alpha_lo.mean()), float(pair.alpha_hi.mean())] if pair.exact != "full rows" else None
            ),
            "tv": 1.0 - self.alpha,
            "gamma": self.gamma,
            "expected_tokens": self.expected_tokens,
            "expected_tokens_interval": list(self.expected_tokens_interval) if self.expected_tokens_interval else None,
            "expected_tokens_positional": self.positional_tokens,
            "expected_tokens_positional_interval": (
                list(self.positional_tokens_interval) if self.positional_tokens_interval else None
            ),
            "cost_ratio": self.cost_ratio,
            "speedup": self.speedup,
            "speedup_positional": self.positional_speedup,
            "best_gamma": self.best_gamma,
            "best_speedup": self.best_speedup,
            "best_gamma_positional": self.best_gamma_positional,
            "best_speedup_positional": self.best_speedup_positional,
            "curve": self.curve,
            "notes": pair.notes,
        }
        return finite_or_none(out)

    def text(self) -> str:
        """Return a human-readable summary.

        Returns
        -------
        str
            Lines giving the acceptance with its interval, tokens per target call and the speedups.

        """
        p = self.pair
        lines = [
            f"target {p.names[0]}  vs  draft {p.names[1]}: {p.n} paired positions",
            f"alpha (mean acceptance = 1 - TV) {self.alpha:.4f}  ({self.confidence:.0%} CI {self.alpha_ci[0]:.4f}-"
            f"{self.alpha_ci[1]:.4f})" + (f"; exact per row ({p.exact})" if p.exact else ""),
        ]
        if self.alpha_interval:
            lines.append(
                f"top-k rows: alpha lies in {self.alpha_interval[0]:.4f}..{self.alpha_interval[1]:.4f} "
                "(alpha above is the midpoint)"
            )
        lines.append(
            f"gamma = {self.gamma}: tokens per target call {self.expected_tokens:.4f} (constant alpha), "
            f"{self.positional_tokens:.4f} (per-position alphas)"
        )
        lines.append(
            f"cost ratio c = {self.cost_ratio:g}: speedup {self.speedup:.3f}x at gamma {self.gamma}; best gamma "
            f"{self.best_gamma} -> {self.best_speedup:.3f}x (constant alpha), {self.best_gamma_positional} -> "
            f"{self.best_speedup_positional:.3f}x (per-position)"
        )
        return "\n".join(lines)


def classic(
    pair: Pair, gamma: int, *, cost_ratio: float = 0.0, gamma_max: int = 32, confidence: float = DEFAULT_CONFIDENCE
) -> ClassicResult:
    """Compute acceptance, tokens per call, speedup and the best number of drafts for a paired dump.

    Parameters
    ----------
    pair
        From :func:`read_pair`.
    gamma
        Drafts per target call.
    cost_ratio
        Cost of one draft token in target calls (0: a free drafter).
    gamma_max
        Largest gamma searched for the best speedup.
    confidence
        Level of the sampling interval of the mean acceptance.

    Returns
    -------
    ClassicResult
        Summary with the curve of tokens per call and speedup over gamma.

    """
    if gamma < 0:
        raise InputError(f"{{gamma}} must be >= 0, got {gamma}", param="gamma")
    if gamma_max < max(1, gamma):
        raise InputError(
            f"{{gamma_max}} must be at least max(1, {{gamma}}), got {gamma_max}", param=("gamma_max", "gamma")
        )
    chain_speedup(1.0, 0, cost_ratio)  # validates cost_ratio
    if pair.n == 0:
        raise InputError(f"{pair.target}: no rows")
    clusters = pair.clusters()
    alpha, _, lo_ci, hi_ci = interval_of_mean(pair.alpha, clusters, confidence)
    interval = None
    if pair.truncated:
        interval = (float(pair.alpha_lo.mean()), float(pair.alpha_hi.mean()))
    seqs = pair.sequences()
    longest = max(len(idx) for idx in seqs)
    if gamma > longest:
        raise InputError(
            f"{{gamma}} {gamma}: the longest sequence has {longest} positions; the drafts must fit", param="gamma"
        )
    if gamma_max > MAX_GAMMA:
        raise InputError(
            f"{{gamma_max}} {gamma_max}: at most {MAX_GAMMA} drafts per call are searched; lower it", param="gamma_max"
        )
    gs = np.arange(gamma_max + 1)
    const = np.array([float(expected_tokens(alpha, int(g))) for g in gs])
    # one set of starts for the whole curve: those with room for `room` drafts (at least half of each sequence)
    room = min(gamma_max, max(gamma, longest // 2))
    pos_mean = np.array(
        [float(positional_tokens(pair.alpha, seqs, int(g), room).mean()) if g <= room else np.nan for g in gs]
    )
    s_const = chain_speedup(const, gs, cost_ratio)
    s_pos = chain_speedup(pos_mean, gs, cost_ratio)
    tok_interval = pos_interval = None
    if interval is not None:
        tok_interval = (float(expected_tokens(interval[0], gamma)), float(expected_tokens(interval[1], gamma)))
        pos_interval = (
            float(positional_tokens(pair.alpha_lo, seqs, gamma, room).mean()),
            float(positional_tokens(pair.alpha_hi, seqs, gamma, room).mean()),
        )
    return ClassicResult(
        pair=pair,
        gamma=gamma,
        cost_ratio=cost_ratio,
        gamma_max=gamma_max,
        confidence=confidence,
        alpha=alpha,
        alpha_ci=(lo_ci, hi_ci),
        alpha_interval=interval,
        expected_tokens=float(const[gamma]),
        expected_tokens_interval=tok_interval,
        positional_tokens=float(pos_mean[gamma]),
        positional_tokens_interval=pos_interval,
        speedup=float(s_const[gamma]),
        positional_speedup=float(s_pos[gamma]),
        best_gamma=int(np.argmax(s_const)),
        best_speedup=float(s_const.max()),
        best_gamma_positional=int(np.nanargmax(s_pos)),
        best_speedup_positional=float(np.nanmax(s_pos)),
        curve={
            "gamma": gs.tolist(),
            "tokens_constant": const.tolist(),
            "tokens_positional": pos_mean.tolist(),
            "speedup_constant": s_const.tolist(),
            "speedup_positional": s_pos.tolist(),
        },
    )


def _sample(rng: np.random.Generator, dist: np.ndarray, size: int) -> np.ndarray:
    cdf = np.cumsum(dist)
    return np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), len(dist) - 1)


def simulate_chain(
    p: np.ndarray, q: np.ndarray, gamma: int, start: int, reps: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Run speculative sampling ``reps`` times from position ``start`` of a sequence of distributions.

    Draft tokens are drawn from ``q[start + i]``, kept with probability
    ``min(1, p/q)``, the first rejected one replaced by a draw from the
    normalised residual ``max(p - q, 0)``; after ``gamma`` acceptances a bonus
    token is drawn from ``p`` (when the sequence has one more position).

    Parameters
    ----------
    p, q
        ``[L, V]`` target and draft distributions at positions 0..L-1.
    gamma
        Drafts per call.
    start
        First position.
    reps
        Independent runs.
    rng
        Random generator.

    Returns
    -------
    tokens, first
        ``[reps]`` tokens emitted per call (accepted + 1; at the sequence's
        end, accepted only) and ``[reps]`` the token emitted at ``start``
        (whose distribution must be ``p[start]``).

    """
    n_pos = p.shape[0]
    if not 0 <= start <= n_pos - gamma or (gamma == 0 and start >= n_pos):
        raise InputError(f"start {start} with gamma {gamma}: the drafts must fit in the {n_pos} positions")
    alive = np.ones(reps, dtype=bool)
    tokens = np.zeros(reps, dtype=np.int64)
    first = np.full(reps, -1, dtype=np.int64)
    for i in range(gamma + 1):
        t = start + i
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        tokens[idx] += 1
        if i == gamma:  # bonus token from the target (its distribution may lie past the dump's end)
            if t < n_pos and i == 0:
                first[idx] = _sample(rng, p[t], len(idx))
            break
        x = _sample(rng, q[t], len(idx))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(q[t][x] > 0, p[t][x] / q[t][x], 0.0)
        keep = rng.random(len(idx)) < ratio
        rej = ~keep
        if rej.any():
            resid = np.maximum(p[t] - q[t], 0.0)
            x[rej] = _sample(rng, resid if resid.sum() > 0 else p[t], int(rej.sum()))
            alive[idx[rej]] = False
        if i == 0:
            first[idx] = x
    return tokens, first


def simulate_starts(pair: Pair, gamma: int, runs: int, rng: np.random.Generator) -> dict[str, Any]:
    """Run :func:`simulate_chain` ``runs`` times from every start with room for ``gamma`` drafts.

    Parameters
    ----------
    pair
        Read with ``keep_rows=True``.
    gamma
        Drafts per call.
    runs
        Runs per start.
    rng
        Random generator.

    Returns
    -------
    dict
        ``starts``, ``mean_tokens`` (simulated) and ``formula_tokens`` (the
        per-position formula on the same rows, which it must match).

    """
    if pair.rows is None:
        raise InputError("the simulation needs the rows: read the pair with keep_rows=True")
    p, q = pair.rows
    sims, formula = [], []
    for idx in pair.sequences():
        if len(idx) < gamma:
            continue
        f = positional_tokens(alpha_full(p[idx], q[idx]), [np.arange(len(idx))], gamma)
        for t in range(len(f)):
            sims.append(simulate_chain(p[idx], q[idx], gamma, t, runs, rng)[0].mean())
            formula.append(f[t])
    return {"starts": len(sims), "mean_tokens": float(np.mean(sims)), "formula_tokens": float(np.mean(formula))}
