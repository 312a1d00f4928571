"""Hierarchical verification (HiSpec: Kumar, Sanghavi, Das 2025, arXiv 2510.01336).

Three models: a drafter (cost ``c_d`` per token, in target forward passes),
an intermediate verifier such as an early exit of the target (cost ``c_m``
per pass) and the target (cost ``c_t`` per pass, 1 by default; HiSpec reuses
the intermediate's activations, which ``c_t = 1 - c_m`` approximates).

One cycle: ``rounds`` times, the drafter proposes ``gamma`` tokens and the
intermediate verifies them by speculative sampling, keeping N1 + 1 tokens
(N1 accepted drafts, then its correction or bonus token); the target then
verifies the whole buffer of B tokens in one pass and keeps N2 + 1 (N2
accepted, then its own correction or bonus). With per-token acceptance a1
(draft against intermediate) and a2 (intermediate against target), acceptances
independent:

* a round emits L = N1 + 1 tokens with generating function
  ``G(z) = sum_{j<gamma} (1 - a1) a1^j z^(j+1) + a1^gamma z^(gamma+1)``;
* B is the sum of ``rounds`` independent L, so ``E[a2^B] = G(a2)^rounds``;
* ``E[N2 + 1] = (1 - a2 E[a2^B]) / (1 - a2)`` exactly;
* cost per cycle ``rounds (gamma c_d + c_m) + c_t``, and tokens per unit
  time ``E[N2 + 1] / cost`` (renewal-reward): with ``c_t = 1`` this is the
  speedup over plain decoding (one token per target pass).

:func:`simulate_bernoulli` checks the algebra by Monte Carlo;
:func:`simulate_tokens` runs real rejection sampling on rows of three
distributions, where the independence assumption is only approximate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from .classic import _sample, expected_tokens

__all__ = [
    "Costs",
    "best_hierarchical",
    "best_single",
    "compare_schemes",
    "hierarchical",
    "round_pgf",
    "simulate_bernoulli",
    "simulate_tokens",
    "single_stage",
]


@dataclass(frozen=True)
class Costs:
    """Costs in units of one target forward pass: drafter per token, intermediate and target per pass."""

    draft: float
    intermediate: float
    target: float = 1.0

    def __post_init__(self) -> None:
        for name in ("draft", "intermediate", "target"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise InputError(f"{{{name}}} must be a finite number >= 0, got {v}", param=name)
        if self.target <= 0:
            raise InputError("{target} must be > 0", param="target")


def _check_alpha(a: float, name: str) -> float:
    if not math.isfinite(a) or not 0.0 <= a <= 1.0:
        raise InputError(f"{name} must be an acceptance probability in [0, 1], got {a}")
    return float(a)


def round_pgf(a1: float, gamma: int, z: float) -> float:
    """``E[z^L]`` for the tokens L = N1 + 1 one intermediate round emits from ``gamma`` drafts at acceptance a1.

    Parameters
    ----------
    a1
        Acceptance of a draft token by the intermediate.
    gamma
        Drafts per intermediate round.
    z
        Argument of the generating function.

    Returns
    -------
    float
        ``G(z) = sum_{j<gamma} (1 - a1) a1^j z^(j+1) + a1^gamma z^(gamma+1)``.

    """
    j = np.arange(gamma)
    return float(((1.0 - a1) * a1**j * z ** (j + 1)).sum() + a1**gamma * z ** (gamma + 1))


def hierarchical(a1: float, a2: float, gamma: int, rounds: int, costs: Costs) -> dict[str, float]:
    """Return the closed form of one cycle: expected tokens, buffer length, cost, tokens per unit time.

    Parameters
    ----------
    a1, a2
        Acceptance of a draft token by the intermediate, and of an
        intermediate token by the target.
    gamma
        Drafts per intermediate round (>= 1).
    rounds
        Intermediate rounds per target pass (>= 1).
    costs
        Per-token and per-pass costs.

    Returns
    -------
    dict
        ``tokens`` (E[N2 + 1]), ``buffer`` (E[B]), ``cost`` and ``throughput``
        (tokens per target-pass time, the speedup over plain decoding when
        ``costs.target`` is 1).

    """
    a1, a2 = _check_alpha(a1, "a1"), _check_alpha(a2, "a2")
    if gamma < 1 or rounds < 1:
        raise InputError(f"gamma and rounds must be >= 1, got {gamma} and {rounds}")
    buffer = rounds * float(expected_tokens(a1, gamma))
    if a2 < 1.0:
        tokens = (1.0 - a2 * round_pgf(a1, gamma, a2) ** rounds) / (1.0 - a2)
    else:
        tokens = buffer + 1.0
    cost = rounds * (gamma * costs.draft + costs.intermediate) + costs.target
    return {"tokens": tokens, "buffer": buffer, "cost": cost, "throughput": tokens / cost}


def single_stage(a: float, gamma: int, cost_per_draft: float, cost_target: float = 1.0) -> dict[str, float]:
    """One drafter against the target: tokens per call, cost and tokens per unit time.

    Parameters
    ----------
    a
        Acceptance of a draft token by the target.
    gamma
        Drafts per target call.
    cost_per_draft
        Cost of one draft token, in target forward passes.
    cost_target
        Cost of one target pass.

    Returns
    -------
    dict
        ``tokens`` (expected tokens per target call), ``cost`` (``gamma * cost_per_draft + cost_target``) and
        ``throughput`` (tokens / cost).

    """
    a = _check_alpha(a, "alpha")
    tokens = float(expected_tokens(a, gamma))
    cost = gamma * cost_per_draft + cost_target
    return {"tokens": tokens, "cost": cost, "throughput": tokens / cost}


def best_single(a: float, cost_per_draft: float, cost_target: float = 1.0, gamma_max: int = 32) -> dict[str, float]:
    """Return the gamma in 0..gamma_max with the highest throughput for one drafter, with its figures.

    Parameters
    ----------
    a, cost_per_draft, cost_target
        As in :func:`single_stage`.
    gamma_max
        Largest number of drafts per target call searched.

    Returns
    -------
    dict
        ``gamma`` (the smallest on ties) and its :func:`single_stage` figures.

    """
    best = max(
        ({"gamma": g, **single_stage(a, g, cost_per_draft, cost_target)} for g in range(gamma_max + 1)),
        key=lambda d: d["throughput"],
    )
    return best


def best_hierarchical(
    a1: float, a2: float, costs: Costs, gamma_max: int = 16, rounds_max: int = 16
) -> dict[str, float]:
    """Return the (gamma, rounds) with the highest throughput, with its figures.

    Parameters
    ----------
    a1, a2, costs
        As in :func:`hierarchical`.
    gamma_max, rounds_max
        Largest drafts per round and rounds per target pass searched (both from 1).

    Returns
    -------
    dict
        ``gamma``, ``rounds`` (the first best in gamma-then-rounds order) and its :func:`hierarchical` figures.

    """
    best: dict[str, float] | None = None
    for g in range(1, gamma_max + 1):
        for r in range(1, rounds_max + 1):
            d = {"gamma": g, "rounds": r, **hierarchical(a1, a2, g, r, costs)}
            if best is None or d["throughput"] > best["throughput"]:
                best = d
    assert best is not None
    return best


def simulate_bernoulli(
    a1: float, a2: float, gamma: int, rounds: int, cycles: int, rng: np.random.Generator
) -> np.ndarray:
    """Tokens per cycle of the hierarchical scheme with independent Bernoulli acceptances (``[cycles]``).

    Parameters
    ----------
    a1, a2
        Acceptance of a draft token by the intermediate, and of an intermediate token by the target.
    gamma
        Drafts per intermediate round.
    rounds
        Intermediate rounds per target pass.
    cycles
        Simulated cycles.
    rng
        Random generator.

    Returns
    -------
    np.ndarray
        ``[cycles]`` tokens kept by the target per cycle, N2 + 1.

    """
    a1, a2 = _check_alpha(a1, "a1"), _check_alpha(a2, "a2")
    buffer = np.zeros(cycles, dtype=np.int64)
    for _ in range(rounds):
        ok = rng.random((cycles, gamma)) < a1
        n1 = np.where(ok.all(axis=1), gamma, np.argmin(ok, axis=1))
        buffer += n1 + 1
    width = int(buffer.max())
    ok2 = rng.random((cycles, width)) < a2
    ok2 &= np.arange(width)[None, :] < buffer[:, None]
    first_fail = np.where((~ok2).any(axis=1), np.argmin(ok2, axis=1), width)
    n2 = np.minimum(first_fail, buffer)
    return n2 + 1


def simulate_tokens(
    p_t: np.ndarray,
    p_m: np.ndarray,
    q: np.ndarray,
    gamma: int,
    rounds: int,
    cycles: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Tokens per cycle with real rejection sampling at both stages, on rows of three distributions.

    Every position of a cycle draws one row index uniformly (positions
    i.i.d., as in the tree model); the drafter samples from ``q[row]``, the
    intermediate keeps a draft with probability ``min(1, p_m/q)`` or replaces
    it from its residual, and the target does the same with ``p_m`` as the
    proposal. The buffer's length depends on the stage-1 outcomes that also
    shape its tokens, so this can differ from the closed form, which assumes
    the stages independent.

    Parameters
    ----------
    p_t, p_m, q
        ``[n, V]`` target, intermediate and draft distributions on a common support.
    gamma, rounds
        As in :func:`hierarchical`.
    cycles
        Simulated cycles.
    rng
        Random generator.

    Returns
    -------
    np.ndarray
        ``[cycles]`` tokens kept by the target per cycle.

    """
    n = p_t.shape[0]
    out = np.empty(cycles, dtype=np.int64)
    for c in range(cycles):
        rows: list[int] = []
        toks: list[int] = []
        for _ in range(rounds):
            for j in range(gamma + 1):
                r = int(rng.integers(n))
                if j == gamma:  # the intermediate's bonus token
                    rows.append(r)
                    toks.append(int(_sample(rng, p_m[r], 1)[0]))
                    break
                x = int(_sample(rng, q[r], 1)[0])
                rows.append(r)
                if rng.random() < (min(1.0, p_m[r, x] / q[r, x]) if q[r, x] > 0 else 0.0):
                    toks.append(x)
                    continue
                resid = np.maximum(p_m[r] - q[r], 0.0)
                toks.append(int(_sample(rng, resid if resid.sum() > 0 else p_m[r], 1)[0]))
                break
        kept = 0
        for r, y in zip(rows, toks, strict=True):
            if p_m[r, y] > 0 and rng.random() < min(1.0, p_t[r, y] / p_m[r, y]):
                kept += 1
            else:
                break
        out[c] = kept + 1
    return out


def compare_schemes(
    a_dm: float, a_mt: float, a_dt: float, costs: Costs, gamma_max: int = 16, rounds_max: int = 16
) -> dict[str, Any]:
    """Best throughput of: drafter -> target, intermediate -> target (self-speculation), and the hierarchy.

    The single-stage schemes verify with a full target pass (cost 1); only
    the hierarchy's target pass costs ``costs.target`` (less than 1 where it
    reuses the intermediate's activations). Throughput is in tokens per
    full-pass time, so plain decoding scores 1.

    Parameters
    ----------
    a_dm, a_mt, a_dt
        Acceptance of drafter against intermediate, intermediate against target, drafter against target.
    costs
        Per-token and per-pass costs.
    gamma_max, rounds_max
        Largest drafts per call (or per round) and rounds per target pass searched.

    Returns
    -------
    dict
        ``draft_to_target`` and ``intermediate_to_target`` (from :func:`best_single`) and ``hierarchical``
        (from :func:`best_hierarchical`).

    """
    return {
        "draft_to_target": best_single(a_dt, costs.draft, 1.0, gamma_max),
        "intermediate_to_target": best_single(a_mt, costs.intermediate, 1.0, gamma_max),
        "hierarchical": best_hierarchical(a_dm, a_mt, costs, gamma_max, rounds_max),
    }
