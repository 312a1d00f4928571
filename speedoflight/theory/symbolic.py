"""The closed forms as sympy expressions, and the quantities users derive from them.

All in nats, uncapped (the numeric functions in :mod:`speedoflight.theory.bounds`
also cap at P). Symbols: ``mu``, ``mu2``, ``P`` (positive), ``E`` (a target
number of accepted tokens).

>>> from speedoflight.theory.symbolic import FORMS, slope, p_for_target
>>> slope("lorden")
1/mu
"""

from __future__ import annotations

import sympy as sp

from ..errors import InputError

__all__ = [
    "FORMS",
    "E",
    "P",
    "crossover_published_lorden",
    "mu",
    "mu2",
    "p_for_target",
    "sensitivity",
    "slope",
]

mu, mu2, P, E = sp.symbols("mu mu2 P E", positive=True)

#: Each closed form as a sympy expression.
FORMS: dict[str, sp.Expr] = {
    "published": (mu + mu2) * sp.log(P) / mu**2,
    "lorden": sp.log(mu * P) / mu + mu2 / mu**2 + 1 / mu - 1,
    "lorden_log_p": sp.log(P) / mu + mu2 / mu**2,
    "asymptotic": sp.log(mu * P) / mu + mu2 / (2 * mu**2) - 1,
}


def _form(name: str) -> sp.Expr:
    if name not in FORMS:
        raise InputError(f"unknown form {name!r}; choose one of {', '.join(FORMS)}")
    return FORMS[name]


def slope(name: str) -> sp.Expr:
    """Growth per nat of ``log P``: ``d form / d log P``.

    Parameters
    ----------
    name
        A key of :data:`FORMS`.

    Returns
    -------
    sympy.Expr
        The derivative, simplified, in ``mu`` and ``mu2`` (accepted tokens per nat of ``log P``).

    """
    logp = sp.Symbol("logP", positive=True)
    return sp.simplify(sp.diff(_form(name).subs(P, sp.exp(logp)), logp))


def p_for_target(name: str) -> sp.Expr:
    """Solve for the P at which the form reaches ``E`` accepted tokens (solved for P).

    Parameters
    ----------
    name
        A key of :data:`FORMS`.

    Returns
    -------
    sympy.Expr
        P in terms of ``mu``, ``mu2`` and ``E``, simplified.

    """
    sols = sp.solve(sp.Eq(_form(name), E), P)
    if len(sols) != 1:  # pragma: no cover - every form is monotone in P
        raise RuntimeError(f"expected one solution for P, got {sols}")
    return sp.simplify(sols[0])


def sensitivity(name: str) -> tuple[sp.Expr, sp.Expr]:
    """Partial derivatives of the form with respect to mu and mu2.

    Parameters
    ----------
    name
        A key of :data:`FORMS`.

    Returns
    -------
    tuple of sympy.Expr
        ``(d form / d mu, d form / d mu2)``, each simplified.

    """
    f = _form(name)
    return sp.simplify(sp.diff(f, mu)), sp.simplify(sp.diff(f, mu2))


def crossover_published_lorden() -> sp.Expr:
    """Find the P above which the published form exceeds the Lorden bound (both in nats).

    Setting ``(mu + mu2) log P / mu^2 = log(mu P)/mu + mu2/mu^2 + 1/mu - 1``
    is linear in ``log P``: ``log P = (log(mu)/mu + mu2/mu^2 + 1/mu - 1) mu^2 / mu2``.

    Returns
    -------
    sympy.Expr
        The crossover P in terms of ``mu`` and ``mu2``, simplified.

    """
    logp = sp.Symbol("logP", real=True)
    eq = sp.Eq(
        FORMS["published"].subs(P, sp.exp(logp)), sp.expand_log(FORMS["lorden"], force=True).subs(sp.log(P), logp)
    )
    (sol,) = sp.solve(eq, logp)
    return sp.simplify(sp.exp(sol))
