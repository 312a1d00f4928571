"""What truncating the rows does to compare's and report's numbers, said where it matters.

Two checks on a comparison (docs/theory.md section 3.6):

* :func:`truncation_range`: the range between tails dropped and tails lumped at the P of the first screen, with a
  warning naming its cause and its fix where it is wide (more than :data:`WIDE` of the low end);
* :func:`bound_crossings`: every drawn estimate that lies above a proven upper bound at some P, with the reason
  (tails lumped: rows more concentrated than the inputs' own, which the bound does not cover; Monte Carlo noise;
  the i.i.d. model's bound against the real optimum's prediction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["WIDE", "bound_crossings", "first_screen_p", "lumped_moments", "truncation_range"]

#: A truncation range wider than this fraction of its low end is stated on the first screen, with its fix.
WIDE = 0.10
#: Where no P is given or measured, the first screen shows these (as ``compare_text.UNMEASURED_P``).
_UNMEASURED_P = (4, 16, 64)


def first_screen_p(measured: Sequence[Any], tree_size: int | None) -> list[int]:
    """Return the P values the first screen answers for (the user's P, else the measured ones, else 4, 16, 64).

    Parameters
    ----------
    measured
        The measured systems (``.P`` where known).
    tree_size
        The user's P.

    Returns
    -------
    list of int
        At most three P values, as ``compare_text.answer_lines`` shows them.

    """
    ps = [int(tree_size)] if tree_size else sorted({int(m.P) for m in measured if m.P is not None})
    ps = ps or list(_UNMEASURED_P)
    return ps if len(ps) <= 3 else [ps[0], ps[len(ps) // 2], ps[-1]]


def truncation_range(stage: Any, ceiling: Any, lower: Any, upper: Any, ps: Sequence[int]) -> dict[str, Any]:
    """Return the truncation range at the first screen's P, and the warning where it is wide.

    Parameters
    ----------
    stage
        The dumps read once (:class:`~speedoflight.analysis.stages.DumpStage`, with its ``truncation``).
    ceiling
        The grafted ceiling (None: the simulated optimum is the ceiling shown).
    lower, upper
        The simulated optimum, tails dropped and lumped.
    ps
        The P values of the first screen (:func:`first_screen_p`).

    Returns
    -------
    dict
        ``keep`` (``--top-k``, None for the default rule), ``listed_min``, ``kept_min``, ``exact_up_to`` (the P up
        to which the low end is the full rows' value: ``kept_min``), ``rows_cut``, and at the
        widest of ``ps``: ``P``, ``of`` (which estimate), ``low``, ``high``, ``relative`` ((high - low) / low) and
        ``warning`` (a sentence, '' where the range is at most :data:`WIDE` of the low end).

    """
    t = stage.truncation
    out: dict[str, Any] = {
        "keep": t.keep,
        "listed_min": t.listed_min,
        "kept_min": t.kept_min,
        "exact_up_to": t.kept_min,  # P up to which tails dropped is the full rows' value (the range is the lump's)
        "rows_cut": t.cut,
    }
    best: tuple[float, int, float, float] | None = None
    for p in ps:
        if ceiling is not None and 1 <= p <= len(ceiling.P):
            lo, hi = float(ceiling.lower.mean[p - 1]), float(ceiling.upper.mean[p - 1])
        elif p in set(lower.P.tolist()):
            i = int(np.searchsorted(lower.P, p))
            lo, hi = float(lower.mean[i]), float(upper.mean[i])
        else:
            continue
        rel = (hi - lo) / lo if lo > 0 else 0.0
        if best is None or rel > best[0]:
            best = (rel, int(p), lo, hi)
    if best is None:
        return out
    rel, p, lo, hi = best
    what = "ceiling" if ceiling is not None else "ceiling (simulated, i.i.d. model)"
    out.update({"P": p, "of": what, "low": lo, "high": hi, "relative": rel, "warning": ""})
    if rel <= WIDE:
        return out
    head = (
        f"truncation: the {what} at P = {p} is {lo:.2f}..{hi:.2f} ({100 * rel:.0f}% wide) from the rows' tails "
        "alone: a row's unlisted mass is dropped (low end) or lumped into one token (high end)"
    )
    if t.cut:
        rule = f"--top-k {t.keep}" if t.keep else f"the default rule keeps at least {t.kept_min} a row"
        more = min(4 * max(t.kept_min, 1), 16384, max(t.listed_min, t.kept_min + 1))  # never past what rows list
        why = (
            f". {t.cut:,} rows keep fewer tokens than they list ({rule}): rerun with a larger --top-k N "
            f"(e.g. --top-k {more})"
        )
    else:
        why = (
            f". The inputs list {t.listed_min} tokens in some rows; for a narrower range, give rows that list more "
            "(speedoflight dump --top-k N, or a log with more logprobs)"
        )
    exact = ""
    if t.kept_min >= min(ps):
        exact = (
            f". At P <= {t.kept_min} the truncation costs nothing and the low end stands: a best tree of P nodes "
            "uses no token past its parent's P-th (docs/theory.md section 3.6)"
        )
    out["warning"] = head + why + exact
    return out


def lumped_moments(pool: Any) -> tuple[float, float]:
    """Return the mean entropy and second log-moment of a pool's rows as the simulator sees them.

    Parameters
    ----------
    pool
        A pool (:class:`~speedoflight.simulation.simulate.Distribution` with ``neglogp``), e.g. tails lumped.

    Returns
    -------
    tuple of float
        ``(mu, mu2)`` in nats over the rows (each row's ``sum p (-log p)`` and ``sum p (log p)^2``).

    """
    x = pool.neglogp
    h = m2 = 0.0
    for lo in range(0, len(x), 4096):
        b = x[lo : lo + 4096]
        fin = np.isfinite(b)
        v = np.where(fin, b, 0.0)
        p = np.where(fin, np.exp(-v), 0.0)
        h += float((p * v).sum())
        m2 += float((p * v * v).sum())
    return h / len(x), m2 / len(x)


def bound_crossings(curve: Any, lower: Any, upper: Any, ceiling: Any, lumped_pool: Any) -> list[dict[str, Any]]:
    """Return every drawn estimate that lies above a proven upper bound at some P, with the reason.

    The Lorden bound is proven for i.i.d. rows with the inputs' moments, the trajectory bound for the verifier's
    own continuations (at its confidence). Lumping a row's left-out mass into one token makes the rows more
    concentrated than the inputs' (lower entropy): neither bound covers those rows, and the Lorden bound at the
    lumped rows' own moments is given to show it lies above the lumped line. The dropped line can only cross by
    Monte Carlo noise; the ceiling predicts the real optimum, which the i.i.d. bound does not cover.

    Parameters
    ----------
    curve
        The bounds (:class:`~speedoflight.theory.curve.BoundCurve`).
    lower, upper
        The simulated optimum, tails dropped and lumped.
    ceiling
        The grafted ceiling, or None.
    lumped_pool
        The simulator's pool with tails lumped (its rows' own moments).

    Returns
    -------
    list of dict
        ``estimate``, ``bound``, ``P`` (the first P above), ``value`` and ``bound_value`` there, ``cause`` and
        ``note`` (one sentence for the notes).

    """
    from ..theory import bounds
    from ..theory.registry import CURVES

    series: list[tuple[str, str, Any, Any, Any]] = [
        ("simulated optimum (i.i.d.), tails dropped", "drop", lower.P, lower.mean, lower.ci_low),
        ("simulated optimum (i.i.d.), tails lumped", "lump", upper.P, upper.mean, upper.ci_low),
    ]
    if ceiling is not None:
        series += [
            ("ceiling (grafted), tails dropped", "ceiling", ceiling.P, ceiling.lower.mean, ceiling.lower.ci_low),
            ("ceiling (grafted), tails lumped", "ceiling-lump", ceiling.P, ceiling.upper.mean, ceiling.upper.ci_low),
        ]
    lumped: tuple[float, float] | None = None
    out: list[dict[str, Any]] = []
    for bound in ("lorden", "trajectory_conservative"):
        if bound not in curve.columns:
            continue
        bp = np.asarray(curve.P, dtype=np.float64)
        bv = np.asarray(curve.columns[bound], dtype=np.float64)
        for name, which, ps, mean, ci_low in series:
            ps = np.asarray(ps, dtype=np.float64)
            j = np.searchsorted(bp, ps)
            ok = (j < len(bp)) & (bp[np.minimum(j, len(bp) - 1)] == ps)
            idx = np.flatnonzero(ok)
            above = idx[np.asarray(mean)[idx] > bv[j[idx]] + 1e-9]
            if not above.size:
                continue
            i = int(above[0])
            p, value, b = int(ps[i]), float(mean[i]), float(bv[j[i]])
            label = CURVES[bound].label
            if which in ("lump", "ceiling-lump"):
                if lumped is None:
                    lumped = lumped_moments(lumped_pool)
                own = float(bounds.lorden(lumped[0], lumped[1], [p])[0])
                cause = (
                    "lumping each row's left-out mass into one token makes the rows more concentrated than the "
                    f"inputs' own (mean entropy {lumped[0]:.2f} nats against mu = {curve.mu:.2f}, the moments the "
                    f"bound is computed from), so the bound does not cover that line (at the lumped rows' own "
                    f"moments the Lorden bound is {own:.2f} at P = {p}); the truth lies between the dropped line "
                    "and the lumped one (docs/theory.md section 3.6)"
                )
            elif which == "drop":
                cause = (
                    "Monte Carlo noise: its 95% interval reaches below the bound"
                    if float(ci_low[i]) <= b
                    else "not explained by noise (its 95% interval lies above the bound): please report it"
                )
            elif bound == "lorden":
                cause = (
                    "the Lorden bound is proven for the i.i.d. model only, and the ceiling predicts the real "
                    "optimum, which correlated text can push above it (docs/theory.md sections 4.3 and 6.3)"
                )
            else:
                cause = (
                    "the grafted prediction is not the bound's quantity: its unknown nodes draw pool rows "
                    "(docs/theory.md section 8.3), and the bound holds at its confidence only"
                )
            out.append(
                {
                    "estimate": name,
                    "bound": bound,
                    "P": p,
                    "value": value,
                    "bound_value": b,
                    "cause": cause,
                    "note": f"{name} lies above the {label} from P = {p} on ({value:.2f} > {b:.2f}): {cause}",
                }
            )
    return out
