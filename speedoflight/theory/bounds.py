"""Closed-form bounds on the accepted draft tokens per iteration, E[X*(P)].

All functions take ``mu`` (expected entropy) and ``mu2`` (expected second
log-moment) of the verifier, and the verifier capacity ``P`` (draft tokens one
forward pass can check), vectorised over ``P``. Inputs are in nats unless
``base=2`` says they are in bits (converted with ``mu_nats = mu ln 2`` and
``mu2_nats = mu2 (ln 2)^2``; ``base=10`` likewise): every form is
evaluated in nats, because the published form is not invariant under a change
of log base. E[X] itself is a count of tokens and has no unit.

Every upper bound is reported as ``min(bound, P)`` (a tree of P nodes cannot
give more than P accepted tokens), and a deterministic verifier (``mu = 0``)
gives ``P`` without dividing by zero.

Sources: the published form is Pankratov & Alistarh, arXiv 2512.11718; the
Lorden bounds follow from Wald's identity and Lorden's overshoot inequality
(G. Lorden, Ann. Math. Statist. 41, 1970) applied to the threshold bound
E[X*(P)] <= inf_t [G(t) + P e^{-t}]; the renewal prediction from the key
renewal theorem.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import InputError

__all__ = [
    "CLOSED_FORMS",
    "asymptotic",
    "check_p",
    "closed_form_interval",
    "lorden",
    "lorden_log_p",
    "published",
    "to_nats",
    "trivial",
]

_LN2 = math.log(2.0)


def to_nats(mu: float, mu2: float, base: float | str = "e") -> tuple[float, float]:
    """Convert (mu, mu2) given in ``base`` to nats (base ``"e"``, ``2`` or ``10``).

    Parameters
    ----------
    mu, mu2
        Expected entropy and expected second log-moment, in the units of ``base``.
    base
        Log base of the inputs: ``"e"`` or ``math.e`` (nats), ``2``, ``"2"`` or ``"bits"`` (bits), ``10`` or ``"10"``.

    Returns
    -------
    tuple of float
        ``(mu ln(base), mu2 ln(base)^2)``: the two moments in nats.

    Raises
    ------
    InputError
        For any other ``base``.

    """
    if base in ("e", math.e):
        c = 1.0
    elif base in (2, "2", "bits"):
        c = _LN2
    elif base in (10, "10"):
        c = math.log(10.0)
    else:
        raise InputError(f"base must be 'e', 2 or 10, got {base!r}")
    return float(mu) * c, float(mu2) * c * c


def check_moments(mu: float, mu2: float) -> tuple[float, float]:
    """Validate mu >= 0 and mu2 >= mu^2 (Jensen), both finite."""
    if not (math.isfinite(mu) and math.isfinite(mu2)):
        raise InputError(f"{{mu}} and {{mu2}} must be finite numbers, got {mu} and {mu2}", param=("mu", "mu2"))
    if mu < 0:
        raise InputError(f"{{mu}} must be >= 0 (an expected entropy), got {mu}", param="mu")
    if mu2 < mu * mu * (1 - 1e-9) - 1e-12:
        raise InputError(
            f"{{mu2}} ({mu2:g}) must be at least mu^2 ({mu * mu:g}): mu2 - mu^2 is the variance of the surprisal",
            param="mu2",
        )
    return float(mu), float(mu2)


def check_p(p: float | np.ndarray | Sequence[float]) -> np.ndarray:
    """Validate verifier capacities: finite numbers >= 1.

    Parameters
    ----------
    p
        One capacity P (draft tokens one verifier call can check) or a sequence of them.

    Returns
    -------
    ndarray
        The capacities as a 1-d float64 array, in the order given.

    Raises
    ------
    InputError
        When there is no value, or a value is not finite or below 1.

    """
    arr = np.atleast_1d(np.asarray(p, dtype=np.float64))
    if arr.size == 0:
        raise InputError("-P needs at least one value")
    if not np.all(np.isfinite(arr)) or np.any(arr < 1):
        bad = arr[~np.isfinite(arr) | (arr < 1)][0]
        raise InputError(f"-P values must be finite and at least 1 (a tree of P draft tokens), got {bad:g}")
    return arr


def _prep(mu: float, mu2: float, p, base) -> tuple[float, float, np.ndarray]:
    mu, mu2 = to_nats(mu, mu2, base)
    mu, mu2 = check_moments(mu, mu2)
    return mu, mu2, check_p(p)


#: The parameters every closed form takes, as their docstrings state them (:func:`_form` puts them in).
_FORM_PARAMETERS = """Parameters
----------
mu, mu2
    Expected entropy and expected second log-moment of the verifier, in the units of ``base``.
p
    Verifier capacities P (draft tokens one verifier call can check, each >= 1): a number or a sequence.
base
    Log base of ``mu`` and ``mu2``: ``"e"`` (nats), ``2`` (bits) or ``10``; see :func:`to_nats`."""


def _form(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Put :data:`_FORM_PARAMETERS` where a closed form's docstring says ``{parameters}``."""
    fn.__doc__ = inspect.cleandoc(fn.__doc__ or "").replace("{parameters}", _FORM_PARAMETERS)
    return fn


@_form
def trivial(mu: float, mu2: float, p, base: float | str = "e") -> np.ndarray:
    """Trivial bound ``E[X] <= P``: no tree of P nodes gives more.

    {parameters}

    Returns
    -------
    ndarray
        P itself at each capacity: the bound on E[X*(P)], accepted draft tokens per verifier call
        (``mu`` and ``mu2`` are validated but do not enter it).

    """
    return _prep(mu, mu2, p, base)[2].copy()


@_form
def published(mu: float, mu2: float, p, base: float | str = "e") -> np.ndarray:
    """Evaluate the published closed form ``(mu + mu2) log(P) / mu^2``, capped at P.

    As stated by Pankratov & Alistarh (arXiv 2512.11718), up to an ``O(1)``
    term whose constant the paper does not give; it is left out here. Must be
    evaluated in nats (it is not invariant under a change of log base).

    {parameters}

    Returns
    -------
    ndarray
        The published value of E[X*(P)] (accepted draft tokens per verifier call) at each P, capped at P;
        P itself when ``mu = 0``.

    """
    mu, mu2, pp = _prep(mu, mu2, p, base)
    if mu == 0:
        return pp.copy()
    return np.minimum((mu + mu2) * np.log(pp) / mu**2, pp)


@_form
def lorden(mu: float, mu2: float, p, base: float | str = "e") -> np.ndarray:
    """Lorden bound at ``t = log(mu P)``: ``log(mu P)/mu + mu2/mu^2 + 1/mu - 1``, capped at P.

    From ``G(t) <= t/mu + mu2/mu^2 - 1`` (Wald's identity and Lorden's
    overshoot inequality for a walk with nonnegative steps) and the threshold
    bound ``E[X*(P)] <= G(t) + P e^{-t}``, minimised at ``t = log(mu P)``.
    Valid for ``mu P >= 1``; below that the best admissible ``t = 0`` gives at
    least P, so the result is P.

    {parameters}

    Returns
    -------
    ndarray
        Upper bound on E[X*(P)] (accepted draft tokens per verifier call) at each P, capped at P;
        P itself where ``mu P < 1`` or ``mu = 0``.

    """
    mu, mu2, pp = _prep(mu, mu2, p, base)
    if mu == 0:
        return pp.copy()
    with np.errstate(divide="ignore"):
        val = np.log(mu * pp) / mu + mu2 / mu**2 + 1.0 / mu - 1.0
    return np.where(mu * pp >= 1.0, np.minimum(val, pp), pp)


@_form
def lorden_log_p(mu: float, mu2: float, p, base: float | str = "e") -> np.ndarray:
    """Lorden bound at ``t = log P``: ``log(P)/mu + mu2/mu^2``, capped at P.

    {parameters}

    Returns
    -------
    ndarray
        Upper bound on E[X*(P)] (accepted draft tokens per verifier call) at each P, capped at P;
        P itself when ``mu = 0``.

    """
    mu, mu2, pp = _prep(mu, mu2, p, base)
    if mu == 0:
        return pp.copy()
    return np.minimum(np.log(pp) / mu + mu2 / mu**2, pp)


@_form
def asymptotic(mu: float, mu2: float, p, base: float | str = "e") -> np.ndarray:
    """Renewal prediction ``log(mu P)/mu + mu2/(2 mu^2) - 1`` (not a bound), kept within [0, P].

    The key renewal theorem gives ``sum_{n>=0} Pr(S_n <= t) = t/mu +
    mu2/(2 mu^2) + o(1)`` for a non-lattice i.i.d. walk, and the top-P
    threshold is ``t* ~ log(mu P)``. Its slope in log P is ``1/mu``.

    {parameters}

    Returns
    -------
    ndarray
        Predicted E[X*(P)] (accepted draft tokens per verifier call) at each P, clipped to ``[0, P]``;
        P itself when ``mu = 0``.

    """
    mu, mu2, pp = _prep(mu, mu2, p, base)
    if mu == 0:
        return pp.copy()
    with np.errstate(divide="ignore"):
        val = np.log(mu * pp) / mu + mu2 / (2 * mu**2) - 1.0
    return np.clip(val, 0.0, pp)


#: The closed forms by the names the CLI and JSON use.
CLOSED_FORMS: dict[str, Callable[..., np.ndarray]] = {
    "published": published,
    "lorden": lorden,
    "lorden_log_p": lorden_log_p,
    "asymptotic": asymptotic,
    "trivial": trivial,
}


def closed_form_interval(
    name: str,
    mu_interval: tuple[float, float],
    mu2_interval: tuple[float, float],
    p,
    base: float | str = "e",
    grid: int = 129,
) -> tuple[np.ndarray, np.ndarray]:
    """Range of a closed form when mu and mu2 are only known to lie in intervals.

    Every form increases with ``mu2``, so ``mu2`` is taken at its ends; in
    ``mu`` the forms need not be monotone (``log(mu P)/mu`` peaks at
    ``mu = e/P``), so ``mu`` runs over a grid of the interval, its ends and
    that stationary point. Pairs with ``mu2 < mu^2`` are impossible and skipped.

    Parameters
    ----------
    name
        Key of :data:`CLOSED_FORMS` (``"published"``, ``"lorden"``, ``"lorden_log_p"``, ``"asymptotic"``,
        ``"trivial"``).
    mu_interval, mu2_interval
        ``(low, high)`` ends of the intervals known to hold mu and mu2, in the units of ``base``.
    p
        Verifier capacities P (each >= 1).
    base
        Log base of the intervals, as for the forms themselves.
    grid
        Number of evenly spaced mu values across ``mu_interval`` (its ends and the stationary point are
        added).

    Returns
    -------
    (low, high)
        Arrays over P: the smallest and largest value of the form over the candidate pairs.

    """
    fn = CLOSED_FORMS[name]
    pp = check_p(p)
    (a, b), (c, d) = mu_interval, mu2_interval
    if a > b or c > d:
        raise InputError(f"interval ends out of order: mu {mu_interval}, mu2 {mu2_interval}")
    mus = np.unique(np.concatenate([np.linspace(a, b, grid), [a, b]]))
    lo = np.full(pp.shape, np.inf)
    hi = np.full(pp.shape, -np.inf)
    for i, P in enumerate(pp):
        cand = np.unique(np.concatenate([mus, np.clip([math.e / P], a, b)]))
        for m in cand:
            for m2 in (max(c, m * m), d):
                if m2 < m * m or m2 > d:
                    continue
                v = fn(m, m2, P, base)[0]
                lo[i] = min(lo[i], v)
                hi[i] = max(hi[i], v)
    return lo, hi
