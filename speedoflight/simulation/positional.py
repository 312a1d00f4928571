"""Static draft trees for a positional acceptance vector (Sequoia / Medusa style).

``acceptance[k]`` is the probability that the verifier's token is the
drafter's (k+1)-th ranked token, the same at every node. A node is a path of
ranks; its path product is the probability that the verifier follows it, and
E[X] of a tree is the sum of its path products. Products fall along every path,
so the best tree of N nodes is the N nodes of largest product: best-first
search, and under a depth cap D the best-first search over nodes of depth
<= D (the capped top set is still closed under ancestors). A dynamic program
in the manner of Sequoia (:func:`speedoflight.kernels.positional.positional_dp`)
checks it.

Sequoia's hardware-aware choice picks the (P, D) maximising
``(E[X] + 1) / (D t_draft + t_verify(P))``, with ``t_verify`` from
:mod:`speedoflight.timing`.

The best chain (:func:`best_chain`) is what a chain-only engine drafts: the
drafter's top-ranked token at every level, ``E[X(K)] = sum_{k <= K} p_1^k``,
of the length K that is fastest under the same timing.

Exports: rank paths (0-based, the static-tree format of Medusa and EAGLE) and
the ``speculative_token_tree`` string of vLLM releases before its removal
(PR #42121, 2026-05), e.g. ``"[(0,), (1,), (0, 0)]"``, listed by depth.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..kernels import tree as KT
from ..timing import Timing

__all__ = ["PositionalTree", "best_chain", "best_tree", "hardware_choice", "parse_acceptance", "vllm_tree_string"]

#: The cross-check dynamic program refuses more steps than this (about a minute).
DP_MAX_WORK = 6e10


def parse_acceptance(text: str | list[float] | np.ndarray) -> np.ndarray:
    """Parse and check ``p1,p2,...``: each in [0, 1], summing to at most 1.

    Parameters
    ----------
    text
        The positional acceptance vector: a comma-separated string or a sequence of numbers; entry k is
        the probability that the verifier's token is the drafter's (k+1)-th ranked token.

    Returns
    -------
    ndarray
        The vector as float64.

    Raises
    ------
    InputError
        When it does not parse, is empty, has a value outside [0, 1], or sums to more than 1.

    """
    try:
        acc = (
            np.array([float(x) for x in text.split(",") if x.strip()])
            if isinstance(text, str)
            else np.asarray(text, dtype=np.float64)
        )
    except ValueError:
        raise InputError(f"{{acceptance}} {text!r}: expected numbers like 0.6,0.15,0.05", param="acceptance") from None
    if acc.size == 0:
        raise InputError("{acceptance} needs at least one probability", param="acceptance")
    if not np.all(np.isfinite(acc)) or np.any(acc < 0) or np.any(acc > 1):
        raise InputError(f"{{acceptance}} values must lie in [0, 1], got {acc.tolist()}", param="acceptance")
    if acc.sum() > 1 + 1e-9:
        raise InputError(
            f"{{acceptance}} sums to {acc.sum():.4g} > 1: the verifier's token is at most one of the drafter's ranks",
            param="acceptance",
        )
    return acc


@dataclass(frozen=True)
class PositionalTree:
    """The best tree for every budget 1..N at one depth cap."""

    acceptance: np.ndarray
    max_depth: int
    expected_accepted: np.ndarray  # E[X] at budget 1..N
    paths: list[tuple[int, ...]]  # nodes in order of decreasing path product; a prefix is the best smaller tree

    @property
    def budget(self) -> np.ndarray:
        """Budgets 1..N."""
        return np.arange(1, len(self.expected_accepted) + 1)

    @property
    def tokens_per_call(self) -> np.ndarray:
        """Tokens per verifier call: E[X] + 1."""
        return self.expected_accepted + 1.0

    def tree(self, budget: int | None = None) -> list[tuple[int, ...]]:
        """Rank paths of the best tree of ``budget`` nodes, listed by depth then rank.

        Parameters
        ----------
        budget
            Nodes (draft tokens) in the tree; None: every node found, at most N.

        Returns
        -------
        list of tuple of int
            One 0-based rank path per node (``(0, 1)``: the second-ranked child of the top-ranked token).

        """
        n = len(self.paths) if budget is None else budget
        return sorted(self.paths[:n], key=lambda p: (len(p), p))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict.

        Returns
        -------
        dict
            ``acceptance``, ``max_depth``, ``budget`` (1..N), ``expected_accepted`` (E[X], accepted draft
            tokens per verifier call, at each budget), ``tokens_per_call`` (E[X] + 1), ``paths`` (the rank
            paths of the largest tree, by depth then rank) and ``vllm_speculative_token_tree`` (the same
            tree as the string vLLM took before it dropped trees, PR #42121).

        """
        t = self.tree()
        return {
            "acceptance": self.acceptance.tolist(),
            "max_depth": self.max_depth,
            "budget": self.budget.tolist(),
            "expected_accepted": self.expected_accepted.tolist(),
            "tokens_per_call": self.tokens_per_call.tolist(),
            "paths": [list(p) for p in t],
            "vllm_speculative_token_tree": vllm_tree_string(t),
        }


def best_tree(acceptance: np.ndarray | str, budget: int, max_depth: int | None = None) -> PositionalTree:
    """Best-first on path products, restricted to depth <= ``max_depth`` (None: no cap).

    Parameters
    ----------
    acceptance
        Positional acceptance vector, or its ``p1,p2,...`` string (see :func:`parse_acceptance`).
    budget
        Largest tree size N (nodes, i.e. draft tokens per verifier call), at least 1.
    max_depth
        Depth cap D, at least 1; None: no cap (depth at most N).

    Returns
    -------
    PositionalTree
        The best tree of every size 1..N: its nodes in order of decreasing path product and E[X] at each
        budget (constant past the last node when the depth cap leaves fewer than N nodes of positive
        product).

    Raises
    ------
    InputError
        When ``acceptance`` is invalid or has no positive entry, or ``budget`` or ``max_depth`` is below 1.

    """
    acc = parse_acceptance(acceptance)
    if budget < 1:
        raise InputError(f"{{budget}} must be at least 1, got {budget}", param="budget")
    depth_cap = budget if max_depth is None else max_depth
    if depth_cap < 1:
        raise InputError(f"{{max_depth}} must be at least 1, got {max_depth}", param="max_depth")
    order = [int(i) for i in np.argsort(-acc, kind="stable") if acc[i] > 0]
    if not order:
        raise InputError(
            "{acceptance} has no positive probability: no draft token is ever accepted", param="acceptance"
        )
    # heap entries: (-product, path, position of its last rank in `order`)
    heap: list[tuple[float, tuple[int, ...], int]] = [(-acc[order[0]], (order[0],), 0)]
    paths: list[tuple[int, ...]] = []
    values: list[float] = []
    total = 0.0
    while heap and len(paths) < budget:
        neg, path, pos = heapq.heappop(heap)
        prod = -neg
        total += prod
        paths.append(path)
        values.append(total)
        parent = prod / acc[path[-1]]
        if pos + 1 < len(order):
            heapq.heappush(heap, (-parent * acc[order[pos + 1]], (*path[:-1], order[pos + 1]), pos + 1))
        if len(path) < depth_cap:
            heapq.heappush(heap, (-prod * acc[order[0]], (*path, order[0]), 0))
    exp = np.array(values + [total] * (budget - len(values)))
    return PositionalTree(acceptance=acc, max_depth=depth_cap, expected_accepted=exp, paths=paths)


def dp_values(acceptance: np.ndarray | str, budget: int, max_depth: int | None = None) -> np.ndarray:
    """E[X] at budgets 1..N from the Sequoia-style dynamic program (the cross-check)."""
    acc = parse_acceptance(acceptance)
    d = budget if max_depth is None else max_depth
    work = float(d) * len(acc) * budget * (budget + 1) / 2
    if work > DP_MAX_WORK or (d + 1) * (budget + 1) * 8 > 2**30:
        raise InputError(
            f"{{check_dp}} at {{budget}} {budget} (depth {d}, {len(acc)} ranks) is {work:.2g} steps, about "
            f"{work / 1.2e9 / 60:.0f} minutes; lower {{budget}} or {{max_depth}} for the cross-check",
            param=("check_dp", "budget", "max_depth"),
        )
    return KT.positional_dp(acc, int(budget), int(d))[1:]


def vllm_tree_string(paths: list[tuple[int, ...]]) -> str:
    """VLLM's ``speculative_token_tree`` (releases before PR #42121, 2026-05): 0-based rank tuples, by depth.

    Parameters
    ----------
    paths
        Rank paths of the tree's nodes, in any order.

    Returns
    -------
    str
        The paths sorted by depth then rank, as a Python-literal list of tuples, e.g.
        ``"[(0,), (1,), (0, 0)]"``.

    """
    ordered = sorted(paths, key=lambda p: (len(p), p))
    return "[" + ", ".join("(" + ", ".join(map(str, p)) + ("," if len(p) == 1 else "") + ")" for p in ordered) + "]"


def hardware_choice(
    acceptance: np.ndarray | str, budget: int, timing: Timing, draft_step_s: float, max_depth: int | None = None
) -> dict[str, Any]:
    """Sequoia's hardware-aware choice: the (P, D) of largest ``(E[X] + 1) t(0) / (D t_draft + t_verify(P))``.

    Parameters
    ----------
    acceptance
        Positional acceptance vector, or its ``p1,p2,...`` string (see :func:`parse_acceptance`).
    budget
        Largest tree size P considered (draft tokens per verifier call).
    timing
        Verifier cost model: ``t_verify(P) = timing.verify_s(P)`` seconds, ``t(0)`` plain decoding.
    draft_step_s
        Seconds of one drafter step, ``t_draft`` (one per tree level), at least 0, on top of ``timing.draft``.
    max_depth
        Largest depth D considered; None: up to ``budget``.

    Returns
    -------
    dict
        ``P``, ``D``, ``speedup`` (the ratio above: tokens per second relative to plain decoding),
        ``expected_accepted`` (E[X] of that tree) and ``paths`` (its rank paths, by depth then rank).

    Raises
    ------
    InputError
        When ``draft_step_s`` is negative, no P has a latency (a ``--latency`` table short of P = 1), or as for
        :func:`best_tree`.

    """
    if draft_step_s < 0:
        raise InputError(f"{{draft_ms}} must be >= 0, got {draft_step_s * 1e3}", param="draft_ms")
    d_max = budget if max_depth is None else max_depth
    best: dict[str, Any] = {"speedup": -math.inf}
    p = np.arange(1, budget + 1, dtype=np.float64)
    t0 = float(timing.verify_s(0.0))
    for d in range(1, d_max + 1):
        t = best_tree(acceptance, budget, d)
        s = t.tokens_per_call * t0 / (d * draft_step_s + timing.draft_s(p, d) + timing.verify_s(p))
        if not np.any(np.isfinite(s)):
            raise InputError("the {latency} table must reach P = 1: no tree size has a latency", param="latency")
        i = int(np.nanargmax(s))  # P beyond a latency table has no speedup (NaN)
        if s[i] > best["speedup"] + 1e-12:
            best = {
                "P": int(p[i]),
                "D": d,
                "speedup": float(s[i]),
                "expected_accepted": float(t.expected_accepted[i]),
                "paths": [list(x) for x in t.tree(int(p[i]))],
            }
        if max(len(x) for x in t.tree(budget)) < d:
            break  # the cap no longer binds at any P <= budget: deeper caps give the same trees
    return best


def best_chain(
    acceptance: np.ndarray | str,
    budget: int,
    timing: Timing | None = None,
    draft_step_s: float = 0.0,
    max_depth: int | None = None,
) -> dict[str, Any]:
    """Return the best chain a chain-only engine drafts: the drafter's top-ranked token at each of K levels.

    Parameters
    ----------
    acceptance
        Positional acceptance vector, or its ``p1,p2,...`` string (see :func:`parse_acceptance`).
    budget
        Longest chain considered (draft tokens per verifier call).
    timing
        Verifier cost model; None: the longest chain (nothing costs).
    draft_step_s
        Seconds of one drafter step per level, at least 0, on top of ``timing.draft`` (as for
        :func:`hardware_choice`).
    max_depth
        Longest chain considered beside ``budget`` (a chain of K tokens is K levels deep); None: ``budget``.

    Returns
    -------
    dict
        ``K``, ``expected_accepted`` (``sum_{k <= K} p_1^k``), ``speedup`` (None without timing) and ``paths``
        (rank 0 at every level).

    Raises
    ------
    InputError
        As for :func:`best_tree`.

    """
    acc = parse_acceptance(acceptance)
    if budget < 1:
        raise InputError(f"{{budget}} must be at least 1, got {budget}", param="budget")
    if draft_step_s < 0:
        raise InputError(f"{{draft_ms}} must be >= 0, got {draft_step_s * 1e3}", param="draft_ms")
    kmax = budget if max_depth is None else min(budget, max_depth)
    if kmax < 1:
        raise InputError(f"{{max_depth}} must be at least 1, got {max_depth}", param="max_depth")
    k = np.arange(1, kmax + 1, dtype=np.float64)
    ex = np.cumsum(acc[0] ** k)
    i, s = kmax - 1, None
    if timing is not None:
        t0 = float(timing.verify_s(0.0))
        sp = (ex + 1.0) * t0 / (k * draft_step_s + timing.draft_s(k, k) + timing.verify_s(k))
        if not np.any(np.isfinite(sp)):
            raise InputError("the {latency} table must reach P = 1: no chain length has a latency", param="latency")
        i = int(np.nanargmax(sp))  # K beyond a latency table has no speedup (NaN)
        s = float(sp[i])
    return {
        "K": i + 1,
        "expected_accepted": float(ex[i]),
        "speedup": s,
        "paths": [[0] * n for n in range(1, i + 2)],
    }
