"""The draft trees people use, evaluated exactly under the same i.i.d. model as the simulator.

Every expanded node draws its distribution independently, so a fixed rank
path ``(r_1, ..., r_d)`` (the drafter's r-th best token at each step, with a
drafter that ranks tokens as the verifier does) is followed with probability
``prod_i m_{r_i}``, where ``m_r`` is the mean of the r-th largest
probability over the pool. Hence, exactly (no Monte Carlo noise):

* ``chain``: the greedy path of P nodes, ``sum_{n<=P} m_0^n``;
* ``kary:K``: a full K-ary tree filled level by level (ranks < K, in rank
  order within a level), ``sum over its nodes of prod m_r``;
* ``static``: the tree optimised for the positional vector ``m`` (Sequoia /
  Medusa style), from :mod:`speedoflight.positional`.

The adaptive optimum E[X*(P)] sees each node's own distribution, so it is at
least as large as every static tree; :func:`speedoflight.simulate.simulate`
gives it.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .positional import best_tree
from .simulate import Distribution

__all__ = ["POLICIES", "mean_rank_probabilities", "policy_curve"]

POLICIES = ("optimal", "chain", "kary:K", "static")


def mean_rank_probabilities(dist: Distribution, seed: int = 0, samples: int = 20000) -> np.ndarray:
    """``m_r``: the mean r-th largest probability of a node's distribution.

    Exact for pools and fixed families; for ``dirichlet`` estimated from
    ``samples`` seeded draws.
    """
    if dist.neglogp is not None:
        return np.exp(-dist.neglogp).mean(axis=0)
    assert dist.dirichlet is not None
    a, v = dist.dirichlet
    rows = np.random.default_rng(seed).dirichlet(np.full(v, a), size=samples)
    return -np.sort(-rows, axis=1).mean(axis=0)


def _kary(m: np.ndarray, k: int, p: np.ndarray) -> np.ndarray:
    if k < 1:
        raise InputError(f"kary:K needs K >= 1, got {k}")
    w = m[:k]
    pmax = int(p.max())
    values = np.empty(pmax)
    level = np.array([1.0])
    done = 0
    while done < pmax:
        level = (level[:, None] * w[None, :]).ravel()  # lexicographic (parent, rank) order
        take = min(len(level), pmax - done)
        values[done : done + take] = level[:take]
        done += take
        if not np.any(level > 0):
            values[done:] = 0.0
            break
    return np.cumsum(values)[p.astype(np.int64) - 1]


def policy_curve(policy: str, dist: Distribution, p: np.ndarray, seed: int = 0) -> np.ndarray:
    """Exact E[X] of a practical tree of each size in ``p`` under the i.i.d. model of ``dist``."""
    pp = np.asarray(p, dtype=np.int64)
    m = mean_rank_probabilities(dist, seed)
    if policy == "chain":
        n = np.arange(1, int(pp.max()) + 1)
        return np.cumsum(m[0] ** n)[pp - 1]
    if policy.startswith("kary:"):
        try:
            k = int(policy.split(":", 1)[1])
        except ValueError:
            raise InputError(f"--policy {policy!r}: expected kary:K with an integer K") from None
        return _kary(m, k, pp)
    if policy == "static":
        keep = m[m > 0]
        if keep.sum() > 1:  # rounding
            keep = keep / keep.sum()
        return best_tree(keep, int(pp.max())).expected_accepted[pp - 1]
    raise InputError(f"--policy {policy!r} is not one of {', '.join(POLICIES)}")
