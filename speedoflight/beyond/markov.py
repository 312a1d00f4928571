"""The Markov-chain view of speculative sampling (Yin, Chen, Huang, Wang 2024, arXiv 2411.00841).

Over a generation of T tokens with a draft at every position, speculative
sampling rejects a draft at position t with probability TV(p_t, q_t), so the
expected number of rejections is ``sum_t E[TV(p_t, q_t)]``; no rejection-based
algorithm that uses the same drafts and keeps the target's distribution
rejects less. This module computes that sum from a paired dump, checks the
optimality statement with a linear program per position and a simulator of
valid but weaker rules, analyses batch speculative decoding with several
drafts per position (recursive rejection sampling), and traces the
quality-speed trade-off: how much acceptance a given distortion of the
output buys (an LP solved with scipy, against its closed form).

Positions are modelled as in the paper's analysis: each position's target
and draft distributions are those logged at that position (the dump's
sampled path), and a draft is proposed at every position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._config import DEFAULT_CONFIDENCE
from .._util.stats import interval_of_mean
from ..errors import InputError
from ..readers.pairs import Pair
from .classic import _sample

__all__ = [
    "RejectionResult",
    "batch_rejections",
    "expected_rejections",
    "lp_acceptance",
    "multi_draft_rejection",
    "simulate_rejections",
    "tradeoff",
]


@dataclass
class RejectionResult:
    """Expected rejections per generation (sum of per-position TV), with its intervals."""

    sequences: int
    mean_length: float
    rejections: float
    rejections_ci: tuple[float, float]
    rejections_interval: tuple[float, float] | None
    tv_per_token: float
    tv_ci: tuple[float, float]
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready fields.

        Returns
        -------
        dict
            Sequences, mean length, expected rejections with interval and bounds, TV per token with interval,
            and the confidence.

        """
        return {
            "sequences": self.sequences,
            "mean_length": self.mean_length,
            "expected_rejections": self.rejections,
            "expected_rejections_ci": list(self.rejections_ci),
            "expected_rejections_interval": list(self.rejections_interval) if self.rejections_interval else None,
            "tv_per_token": self.tv_per_token,
            "tv_per_token_ci": list(self.tv_ci),
            "confidence": self.confidence,
        }


def expected_rejections(pair: Pair, confidence: float = DEFAULT_CONFIDENCE) -> RejectionResult:
    """Compute the expected rejections of speculative sampling per generated sequence: ``sum_t TV(p_t, q_t)``.

    Parameters
    ----------
    pair
        From :func:`speedoflight.readers.pairs.read_pair`.
    confidence
        Level of the sampling intervals (over prompts, else sequences).

    Returns
    -------
    RejectionResult
        Mean over sequences of the per-sequence sum, its interval, and for
        top-k rows the range the unlisted tails allow.

    """
    seqs = pair.sequences()
    sums = np.array([float((1.0 - pair.alpha[idx]).sum()) for idx in seqs])
    lengths = np.array([len(idx) for idx in seqs], dtype=float)
    clusters = pair.clusters()
    seq_cluster = np.array([clusters[idx[0]] for idx in seqs])
    mean, _, lo, hi = interval_of_mean(sums, seq_cluster, confidence)  # NaN interval for one sequence
    tv, _, tv_lo, tv_hi = interval_of_mean(1.0 - pair.alpha, clusters, confidence)
    interval = None
    if pair.truncated:
        interval = (
            float(np.mean([(1.0 - pair.alpha_hi[idx]).sum() for idx in seqs])),
            float(np.mean([(1.0 - pair.alpha_lo[idx]).sum() for idx in seqs])),
        )
    return RejectionResult(
        sequences=len(seqs),
        mean_length=float(lengths.mean()),
        rejections=float(mean),
        rejections_ci=(float(lo), float(hi)),
        rejections_interval=interval,
        tv_per_token=tv,
        tv_ci=(tv_lo, tv_hi),
        confidence=confidence,
    )


def multi_draft_rejection(p: np.ndarray, q: np.ndarray, drafts: int, scale: float = 1.0) -> np.ndarray:
    """Exact probability that every one of ``drafts`` i.i.d. draft tokens is rejected, per row.

    Recursive rejection sampling (SpecInfer; the batch analysis of Yin et
    al.): draft j is checked against the current residual r (first r = p),
    kept with probability ``scale * min(1, r(x) / q(x))``; on rejection the
    residual becomes ``(r - scale * min(r, q)) / (1 - scale * a_j)`` with
    ``a_j = sum min(r, q)``. Any ``scale`` in [0, 1] keeps the output exact;
    1 is speculative sampling.

    Parameters
    ----------
    p, q
        ``[n, V]`` target and draft distributions.
    drafts
        Draft tokens per position (>= 1).
    scale
        Multiplier of the acceptance rule, in [0, 1].

    Returns
    -------
    np.ndarray
        ``[n]`` probability of ending with a rejection (the output then comes
        from the last residual).

    """
    if drafts < 1:
        raise InputError(f"{{drafts}} must be >= 1, got {drafts}", param="drafts")
    if not 0.0 <= scale <= 1.0:
        raise InputError(f"the rule's scale must lie in [0, 1], got {scale}")
    r = np.array(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    reject = np.ones(r.shape[0])
    for _ in range(drafts):
        m = scale * np.minimum(r, q)
        a = m.sum(axis=1)
        reject *= 1.0 - a
        left = np.maximum(r - m, 0.0)
        tot = left.sum(axis=1, keepdims=True)
        r = np.where(tot > 1e-300, left / np.where(tot > 0, tot, 1.0), r)
    return reject


def simulate_rejections(
    p: np.ndarray,
    q: np.ndarray,
    reps: int,
    rng: np.random.Generator,
    *,
    drafts: int = 1,
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Run (recursive) rejection sampling at every position of a sequence, ``reps`` times.

    Parameters
    ----------
    p, q
        ``[L, V]`` target and draft distributions at the positions.
    reps
        Independent runs.
    rng
        Random generator.
    drafts, scale
        As in :func:`multi_draft_rejection`.

    Returns
    -------
    rejections, tokens
        ``[reps]`` positions where every draft was rejected, and ``[reps, L]``
        the tokens emitted (their distribution at t must be ``p[t]``).

    """
    n_pos = p.shape[0]
    rejections = np.zeros(reps, dtype=np.int64)
    tokens = np.empty((reps, n_pos), dtype=np.int64)
    for t in range(n_pos):
        r = np.array(p[t], dtype=np.float64)
        out = np.full(reps, -1, dtype=np.int64)
        pending = np.arange(reps)
        for _ in range(drafts):
            if pending.size == 0:
                break
            x = _sample(rng, q[t], pending.size)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(q[t][x] > 0, scale * np.minimum(1.0, r[x] / q[t][x]), 0.0)
            keep = rng.random(pending.size) < ratio
            out[pending[keep]] = x[keep]
            pending = pending[~keep]
            left = np.maximum(r - scale * np.minimum(r, q[t]), 0.0)
            if left.sum() > 1e-300:
                r = left / left.sum()
        if pending.size:
            out[pending] = _sample(rng, r, pending.size)
            rejections[pending] += 1
        tokens[:, t] = out
    return rejections, tokens


def batch_rejections(
    pair: Pair, drafts: list[int], runs: int, rng: np.random.Generator, weaker_scale: float = 0.5
) -> list[dict[str, Any]]:
    """Compute the expected rejections per sequence with several drafts per position, exact and simulated.

    Parameters
    ----------
    pair
        Read with ``keep_rows=True``.
    drafts
        Numbers of i.i.d. drafts per position.
    runs
        Simulated runs (0: exact values only).
    rng
        Random generator.
    weaker_scale
        Scale of a weaker valid rule also reported (it must reject more).

    Returns
    -------
    list of dict
        Per number of drafts: ``expected_rejections`` and, with runs,
        ``simulated`` (+ ``_se``) and the weaker rule's exact and simulated values.

    """
    if pair.rows is None:
        raise InputError("several drafts need the rows: read the pair with keep_rows=True")
    if any(k < 1 for k in drafts):
        raise InputError("{drafts}: every value must be >= 1", param="drafts")
    p, q = pair.rows
    n_seq = len(pair.sequences())
    out = []
    for k in drafts:
        row: dict[str, Any] = {"drafts": k, "expected_rejections": float(multi_draft_rejection(p, q, k).sum() / n_seq)}
        if runs:
            row["expected_rejections_weaker_rule"] = float(multi_draft_rejection(p, q, k, weaker_scale).sum() / n_seq)
            for scale, key in ((1.0, "simulated"), (weaker_scale, "simulated_weaker_rule")):
                r, _ = simulate_rejections(p, q, runs, rng, drafts=k, scale=scale)
                row[key] = float(r.mean() / n_seq)
                row[key + "_se"] = float(r.std(ddof=1) / np.sqrt(len(r)) / n_seq)
        out.append(row)
    return out


def lp_acceptance(p: np.ndarray, q: np.ndarray, epsilon: float = 0.0) -> float:
    """Largest acceptance of one draft ``x ~ q`` over all acceptance rules, by linear programming.

    Variables: ``f_x`` the draft mass accepted at token x (``0 <= f <= q``),
    ``g_y`` the mass drawn after a rejection, ``d_y >= |f_y + g_y - p_y|``.
    Constraints: ``sum f + sum g = 1`` (the output is a distribution) and
    ``sum d <= 2 epsilon`` (its total variation from p is at most epsilon).
    Maximise ``sum f``. With epsilon = 0 the output is exactly p and the
    optimum is ``sum min(p, q)``: no rule beats speculative sampling; in
    general it is ``min(1, sum min(p, q) + epsilon)``.

    Parameters
    ----------
    p, q
        ``[V]`` target and draft distributions.
    epsilon
        Allowed total-variation distortion of the output, >= 0.

    Returns
    -------
    float
        The optimal acceptance probability.

    """
    from scipy.optimize import linprog

    if epsilon < 0:
        raise InputError(f"epsilon must be >= 0, got {epsilon}")
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if not (np.all(p >= 0) and np.all(q >= 0) and p.sum() > 0 and q.sum() > 0):
        raise InputError("lp_acceptance needs two probability rows (non-negative, not all zero)")
    # distributions in exact arithmetic sum to 1; rows rounded from float32 miss by ~1e-7, more than the LP's
    # feasibility tolerance, and "the output is exactly p" would then contradict "the output sums to 1"
    p = p / p.sum()
    q = q / q.sum()
    v = len(p)
    eye = np.eye(v)
    if epsilon == 0.0:
        # the output is exactly p: f + g = p (which sums to 1), 0 <= f <= q, g >= 0
        res = linprog(
            np.concatenate([-np.ones(v), np.zeros(v)]),
            A_eq=np.hstack([eye, eye]),
            b_eq=p,
            bounds=[(0.0, float(qx)) for qx in q] + [(0.0, None)] * v,
            method="highs",
        )
        if res.status != 0:  # pragma: no cover - feasible: f = min(p, q), g = p - f
            raise RuntimeError(f"linear program failed: {res.message}")
        return float(-res.fun)
    c = np.concatenate([-np.ones(v), np.zeros(2 * v)])
    a_ub = np.block(
        [
            [eye, eye, -eye],  # f + g - p <= d
            [-eye, -eye, -eye],  # p - f - g <= d
            [np.zeros((1, 2 * v)), np.ones((1, v))],  # sum d <= 2 eps
        ]
    )
    b_ub = np.concatenate([p, -p, [2.0 * epsilon]])
    a_eq = np.concatenate([np.ones(2 * v), np.zeros(v)])[None, :]
    bounds = [(0.0, float(qx)) for qx in q] + [(0.0, None)] * (2 * v)
    # HiGHS's presolve declared near-deterministic rows infeasible (tolerances); these LPs are small without it
    res = linprog(
        c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs", options={"presolve": False}
    )
    if res.status != 0:  # pragma: no cover - the LP is always feasible (f = min(p, q), g = p - f)
        raise RuntimeError(f"linear program failed: {res.message}")
    return float(-res.fun)


def tradeoff(pair: Pair, epsilons: np.ndarray, *, lp_rows: int = 0, seed: int = 0) -> dict[str, Any]:
    """Quality-speed trade-off: expected rejections per sequence against a per-position distortion budget.

    Parameters
    ----------
    pair
        A paired dump; ``pair.rows`` is needed when ``lp_rows`` > 0.
    epsilons
        Total-variation distortions allowed at each position.
    lp_rows
        Also solve the LP of :func:`lp_acceptance` on this many random rows at
        every epsilon, as an independent check of the closed form.
    seed
        Seed of the row sample.

    Returns
    -------
    dict
        ``epsilon``, ``rejections`` (closed form, ``sum_t max(0, TV_t - eps)``
        per sequence, mean over sequences), ``acceptance`` (mean of
        ``min(1, alpha_t + eps)``) and, with ``lp_rows``, ``lp_acceptance``
        and ``closed_acceptance`` on the sampled rows.

    """
    eps = np.asarray(epsilons, dtype=np.float64)
    if np.any(eps < 0) or not np.all(np.isfinite(eps)):
        raise InputError("epsilon values must be finite and >= 0")
    tv = 1.0 - pair.alpha
    seqs = pair.sequences()
    rej = [float(np.mean([np.maximum(tv[idx] - e, 0.0).sum() for idx in seqs])) for e in eps]
    acc = [float(np.minimum(1.0, pair.alpha + e).mean()) for e in eps]
    out: dict[str, Any] = {"epsilon": eps.tolist(), "rejections": rej, "acceptance": acc}
    if lp_rows > 0:
        if pair.rows is None:
            raise InputError("the LP check needs the rows: read the pair with keep_rows=True")
        p, q = pair.rows
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(p), size=min(lp_rows, len(p)), replace=False)
        alpha_rows = np.minimum(p[pick], q[pick]).sum(axis=1)
        out["lp_rows"] = pick.tolist()
        out["lp_acceptance"] = [float(np.mean([lp_acceptance(p[i], q[i], e) for i in pick])) for e in eps]
        out["closed_acceptance"] = [float(np.minimum(1.0, alpha_rows + e).mean()) for e in eps]
    return out
