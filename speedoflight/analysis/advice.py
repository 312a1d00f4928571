"""Which P and depth to set: the best (P, depth) for the ceiling and for each measured drafter on a GPU.

For each drafter cost in play (the one the flags give, and each measured
drafter's own: an ``early-exit:L`` drafter pays ``L / n_layers`` of a
verifier pass per level, n-gram lookup nothing), the speedup of a tree of P
tokens in D levels is ``(E[X] + 1) t_verify(0) / (t_draft(P, D) + t_verify(P))``
(:mod:`speedoflight.timing`). For the ceiling, E[X] is the best tree
of depth <= D (the grafted optimum where the dumps hold continuations, else
the simulated i.i.d. optimum), searched over D where the cost grows with
depth; for a measured drafter, its measured X at each measured P. A drafter
measured at one P only is projected to other P at its measured fraction of
the ceiling (labelled so), to say how much speed its current setting loses.
A figure or a table is drawn from the result, never inside the computation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..logs.result import Measured
from ..timing import DraftCost, Timing, speedup
from .advice_text import drafter_words

__all__ = ["BATCHES", "DEPTHS", "Advice", "DepthCurves", "Setting", "advise", "drafter_depth", "verifier_layers"]

#: Depth caps searched for the ceiling when the drafter pays per level.
DEPTHS = (1, 2, 3, 4, 6, 8, 12, 16, 24)
#: Batch sizes of the sensitivity table.
BATCHES = (1, 4, 16, 64)
#: Layers of the models this project ships or names (``n_layers`` in a dump's metadata wins).
KNOWN_LAYERS = {"smollm2-135m": 30, "smollm2-360m": 32, "smollm2-1.7b": 24, "gemma-3-270m": 18, "gemma3-270m": 18}


@dataclass(frozen=True)
class DepthCurves:
    """E[X*(P)] of the best tree of depth <= D, per D (None: any depth), lower (tails dropped) and upper (lumped).

    Attributes
    ----------
    P : dict
        ``{D: P values}``.
    lower, upper : dict
        ``{D: mean E[X*] at those P}``.
    source : str
        ``grafted`` (from the dumps' continuations) or ``simulated`` (i.i.d. model).
    chain : tuple or None
        ``(K, lower, upper)``: E[X] of the greedy chain of K tokens (the top token at every level: what a chain-only
        engine drafts), for the best chain; None where not computed.

    """

    P: dict[int | None, np.ndarray]
    lower: dict[int | None, np.ndarray]
    upper: dict[int | None, np.ndarray]
    source: str
    chain: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class Setting:
    """One (P, depth) with its expected speedup.

    Attributes
    ----------
    who : str
        ``ceiling`` or the drafter's name.
    P : int
        Tree size.
    depth : int or None
        Depth levels (None: whatever depth the optimal tree takes; the cost does not depend on it).
    speedup : float
        Expected speedup over plain decoding.
    low, high : float
        Its range: the ceiling's tails dropped..lumped, or the measured X's 95% CI.
    accepted : float
        E[X] there.
    cost : str
        The drafter cost assumed.
    kind : str
        ``ceiling``, ``measured`` or ``projected`` (at the drafter's measured fraction of the ceiling).

    """

    who: str
    P: int
    depth: int | None
    speedup: float
    low: float
    high: float
    accepted: float
    cost: str
    kind: str

    def to_dict(self) -> dict[str, Any]:
        """Return the setting for ``--json``.

        Returns
        -------
        dict
            Every field, the range as ``speedup_range``.

        """
        return {
            "who": self.who,
            "P": self.P,
            "depth": self.depth,
            "speedup": self.speedup,
            "speedup_range": [self.low, self.high],
            "expected_accepted": self.accepted,
            "draft_cost": self.cost,
            "kind": self.kind,
        }


@dataclass
class DrafterAdvice:
    """A measured drafter: its best measured setting, its current one, and the ceiling at its cost."""

    name: str
    cost: DraftCost
    best: Setting
    ceiling: Setting
    current: Setting | None = None
    projected: Setting | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> float | None:
        """The fraction of speed the current setting loses against the best (measured or projected) one."""
        if self.current is None:
            return None
        top = max(self.best.speedup, self.projected.speedup if self.projected else -math.inf)
        return max(0.0, 1.0 - self.current.speedup / top) if top > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """Return the drafter's advice for ``--json``."""
        return {
            "drafter": self.name,
            "draft_cost": self.cost.label,
            "best_measured": self.best.to_dict(),
            "current": self.current.to_dict() if self.current else None,
            "projected_best": self.projected.to_dict() if self.projected else None,
            "speed_lost_at_current": self.lost,
            "ceiling_at_this_cost": self.ceiling.to_dict(),
            "notes": self.notes,
        }


@dataclass
class Advice:
    """The best (P, depth) for the ceiling and each drafter, the speed lost where the user is, per batch size."""

    timing: Timing
    ceiling: Setting
    drafters: list[DrafterAdvice]
    batches: list[dict[str, Any]]
    curves_source: str
    notes: list[str] = field(default_factory=list)
    chain: Setting | None = None
    engines: Any = None
    break_even: dict[str, int] = field(default_factory=dict)

    def top(self) -> tuple[DrafterAdvice | None, Setting]:
        """Return the drafter to run and its setting: the best measured point, or its projection where that is faster.

        Returns
        -------
        tuple
            ``(drafter, setting)``; ``(None, ceiling)`` without measured drafters.

        """
        if not self.drafters:
            return None, self.ceiling

        def best(a: DrafterAdvice) -> Setting:
            return a.projected if a.projected is not None and a.projected.speedup > a.best.speedup else a.best

        d = max(self.drafters, key=lambda a: best(a).speedup)
        return d, best(d)

    def sentence(self) -> str:
        """Return one plain sentence of what to change.

        Returns
        -------
        str
            The best drafter's setting, the speed lost where the user is, and whether the drafter or P limits.

        """
        if not self.drafters:
            c = self.ceiling
            return (
                f"Set P = {c.P}{_depth_words(c.depth)}: a perfect drafter would reach {c.speedup:.2f}x there "
                f"({c.cost})."
            )
        d, b = self.top()
        assert d is not None
        ceil = d.ceiling
        tag = ", projected from its one measured P" if b is d.projected else ""
        who = drafter_words(d.name)
        out = f"Run {who} at P = {b.P}{_depth_words(b.depth)} ({b.speedup:.2f}x on this GPU{tag})"
        if d.current is not None and d.lost and d.lost > 0.02:
            out += f"; at P = {d.current.P} you lose {100 * d.lost:.0f}% of that"
        if b.speedup < 1.0:
            out = f"Turn speculative decoding off for {who}: at its best (P = {b.P}) it runs at {b.speedup:.2f}x"
        slow = [a.name for a in self.drafters if a is not d and a.best.speedup < 1.0]
        if slow:
            out += f"; {', '.join(slow)} {'slows' if len(slow) == 1 else 'slow'} decoding down at every measured P"
        gap = ceil.speedup / b.speedup if b.speedup > 0 else math.inf
        if gap < 1:
            out += ", above the ceiling at its cost: see the warnings before trusting either."
        elif gap > 1.15:
            out += (
                f". The ceiling at the same drafter cost is {ceil.speedup:.2f}x (P = {ceil.P}"
                f"{_depth_words(ceil.depth)}): a better drafter, not another P, is where the speed is."
            )
        else:
            out += f", within {100 * (gap - 1):.0f}% of the ceiling at its cost: little is left to gain."
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the advice for ``--json``.

        Returns
        -------
        dict
            ``timing``, ``ceiling_best``, ``drafters``, ``batch_sensitivity``, ``curves``, ``advice``, ``notes``,
            ``best_chain`` (what chain-only engines run) and ``engine_settings``
            (:class:`~speedoflight.analysis.settings.EngineSettings`).

        """
        return {
            "timing": self.timing.to_dict(),
            "ceiling_best": self.ceiling.to_dict(),
            "drafters": [d.to_dict() for d in self.drafters],
            "batch_sensitivity": self.batches,
            "break_even_batch": self.break_even,
            "curves": self.curves_source,
            "advice": self.sentence(),
            "notes": self.notes,
            "best_chain": self.chain.to_dict() if self.chain is not None else None,
            "engine_settings": self.engines.to_dict() if self.engines is not None else None,
        }

    def markdown(self) -> list[str]:
        """Return the details: per drafter, its best and current setting and the ceiling at its cost; per batch.

        Returns
        -------
        list of str
            Markdown lines: a table of settings, the current settings' losses, the batch table, the engine
            settings.

        """
        from .advice_text import advice_markdown

        return advice_markdown(self)


def _depth_words(depth: int | None) -> str:
    return "" if depth is None else f", depth {depth}"


def verifier_layers(model: str, given: int | None = None) -> int | None:
    """Return the verifier's layer count: ``given``, else known for the model's name, else None.

    Parameters
    ----------
    model
        The model's name (from the dump).
    given
        ``--verifier-layers``.

    Returns
    -------
    int or None

    """
    if given:
        return given
    key = model.lower().replace("_", "-")
    for name, n in KNOWN_LAYERS.items():
        if name in key:
            return n
    return None


def drafter_depth(m: Measured) -> tuple[int, str | None]:
    """Return the depth levels behind a measured point, and a note where it was assumed.

    Parameters
    ----------
    m
        A measured system with its P.

    Returns
    -------
    tuple
        ``(depth, note)``: a chain (``chain`` in its label, or nothing known) drafts P levels; a tree measured by
        ``speedoflight measure`` drafts min(its depth setting, P) levels.

    """
    assert m.P is not None
    label = m.label.lower()
    if "chain" in label:
        return m.P, None
    if "tree" in label and m.format == "speedoflight-measured":
        return min(6, m.P), None
    if m.P == 1:
        return 1, None
    return m.P, f"{m.name}: its tree depth is not in the log; assumed a chain (depth = P = {m.P})"


def _best_on(curves: DepthCurves, timing: Timing, name: str) -> Setting:
    """Return the ceiling's best (P, depth) under ``timing`` (its drafter cost), over depth caps where cost needs it."""
    depths: Sequence[int | None] = [d for d in curves.P if d is not None] if timing.draft.depth_matters else [None]
    if not depths:
        depths = [None]
    best: Setting | None = None
    for d in depths:
        p = curves.P[d]
        dd = None if d is None else np.minimum(d, p)
        lo = speedup(curves.lower[d], p, timing, depth=dd)
        hi = speedup(curves.upper[d], p, timing, depth=dd)
        if not np.any(np.isfinite(lo)):
            continue
        i = int(np.nanargmax(lo))
        if best is None or lo[i] > best.speedup + 1e-12:
            best = Setting(
                name,
                int(p[i]),
                None if d is None else int(min(d, p[i])),
                float(lo[i]),
                float(lo[i]),
                float(hi[i]),
                float(curves.lower[d][i]),
                timing.draft.label,
                "ceiling",
            )
    assert best is not None
    return best


def _measured_setting(m: Measured, timing: Timing, depth: int, kind: str = "measured") -> Setting:
    assert m.P is not None
    s = float(speedup(np.array([m.mean_accepted]), np.array([m.P]), timing, depth=depth)[0])
    lo, hi = m.ci if m.ci else (m.mean_accepted, m.mean_accepted)
    r = speedup(np.array([lo, hi]), np.array([m.P, m.P]), timing, depth=depth)
    return Setting(m.name, int(m.P), depth, s, float(r[0]), float(r[1]), m.mean_accepted, timing.draft.label, kind)


def _projected(
    m: Measured, depth: int, chain: bool, curves: DepthCurves, timing: Timing
) -> tuple[Setting, float] | None:
    """Return the drafter's best at other P, at its measured fraction of the uncapped ceiling, and that fraction."""
    p, c = curves.P[None], curves.lower[None]
    assert m.P is not None
    j = np.flatnonzero(p == m.P)
    if not len(j) or c[j[0]] <= 0:
        return None
    frac = m.mean_accepted / float(c[j[0]])
    if frac > 1:
        return None  # above the ceiling at its P: no projection holds (the above-the-ceiling warning says why)
    dd = p if chain else np.minimum(depth, p)
    s = speedup(frac * c, p, timing, depth=dd)
    if not np.any(np.isfinite(s)):
        return None
    i = int(np.nanargmax(s))
    d_i = int(dd[i]) if np.ndim(dd) else int(dd)
    x = float(frac * c[i])
    return Setting(
        m.name, int(p[i]), d_i, float(s[i]), float(s[i]), float(s[i]), x, timing.draft.label, "projected"
    ), frac


def advise(
    measured: Sequence[Measured],
    curves: DepthCurves,
    timing: Timing,
    *,
    n_layers: int | None = None,
    current: int | None = None,
    batches: Sequence[int] = BATCHES,
) -> Advice:
    """Return the best (P, depth) for the ceiling and each measured drafter, the speed lost where the user is.

    Parameters
    ----------
    measured
        Measured systems on the verifier (those without a P are left out).
    curves
        The ceiling per depth cap (:class:`DepthCurves`).
    timing
        The timing model; its ``draft`` is the cost of drafters whose name does not say theirs.
    n_layers
        The verifier's layers (for ``early-exit:L`` drafters).
    current
        The user's current P (``--tree-size``); default: a drafter measured at one P is at that P.
    batches
        Batch sizes of the sensitivity table (skipped with a measured latency table, which holds for one batch).

    Returns
    -------
    Advice

    """
    from .._util.progress import stage as progress_stage

    progress_stage("the best setting per drafter and batch")
    notes: list[str] = []
    series: dict[str, list[Measured]] = {}
    for m in measured:
        if m.P is not None:
            series.setdefault(m.name, []).append(m)
    if any(m.P is None for m in measured):
        notes.append("systems without a P are left out of the advice (give --tree-size)")
    costs: dict[str, DraftCost] = {n: DraftCost.for_drafter(n, n_layers, timing.draft) for n in series}
    drafters = [_drafter(n, items, costs[n], curves, timing, current) for n, items in series.items()]
    for d in drafters:
        notes.extend(d.notes)
    ceiling = _best_on(curves, timing, "ceiling")
    edge = int(max(int(v[-1]) for v in curves.P.values()))
    if ceiling.P >= edge:
        notes.append(
            f"the ceiling's best P lies at the edge of the range it was computed on (P = {edge}); the true best may "
            "be larger (the grafted ceiling stops at P = 512; raise --pmax for the simulated one)"
        )
    rows: list[dict[str, Any]] = []
    if timing.latency is None:
        for b in batches:
            tb = timing.with_batch(int(b))
            row: dict[str, Any] = {"batch": int(b), "ceiling": _best_on(curves, tb, "ceiling").to_dict()}
            for d in drafters:
                tdb = _with_cost(tb, d.cost)
                pts = [_measured_setting(m, tdb, drafter_depth(m)[0]) for m in series[d.name]]
                top = max(pts, key=lambda s: s.speedup)
                row[d.name] = top.to_dict()
            rows.append(row)
        even = _break_even(curves, timing, drafters, series)
    else:
        notes.append("a measured latency table holds for the batch it was measured at: no batch sensitivity table")
    out = Advice(timing, ceiling, drafters, rows, curves.source, notes)
    if timing.latency is None:
        out.break_even = even
    _engines(out, curves, timing)
    return out


def _break_even(
    curves: DepthCurves, timing: Timing, drafters: Sequence[DrafterAdvice], series: dict[str, list[Measured]]
) -> dict[str, int]:
    """Return the largest batch at which the ceiling, and each drafter at its best point, beat plain decoding."""
    from .batching import break_even

    out = {"ceiling": break_even(lambda b: _best_on(curves, timing.with_batch(b), "ceiling").speedup)}
    for d in drafters:

        def best_at(b: int, d: DrafterAdvice = d) -> float:
            tdb = _with_cost(timing.with_batch(b), d.cost)
            return max(_measured_setting(m, tdb, drafter_depth(m)[0]).speedup for m in series[d.name])

        out[d.name] = break_even(best_at)
    return out


def _best_chain(curves: DepthCurves, timing: Timing, who: str) -> Setting | None:
    """Return the ceiling's best chain under ``timing``: K tokens cost K levels."""
    if curves.chain is None:
        return None
    k, lo, hi = curves.chain
    s_lo, s_hi = speedup(lo, k, timing, depth=k), speedup(hi, k, timing, depth=k)
    if not np.any(np.isfinite(s_lo)):
        return None
    i = int(np.nanargmax(s_lo))
    kk, a, b = int(k[i]), float(s_lo[i]), float(s_hi[i])
    return Setting(who, kk, kk, a, a, b, float(lo[i]), timing.draft.label, "ceiling")


def _engines(advice: Advice, curves: DepthCurves, timing: Timing) -> None:
    """Set the advice's best chain and engine settings: tree engines run its top setting, chain engines a chain.

    The chain is the top setting where it is one; else the best measured chain (any drafter measured as a
    chain); else the ceiling's best chain at the top drafter's cost.
    """
    from .settings import Target, engine_settings, family_of

    d, b = advice.top()
    chains = [a.best for a in advice.drafters if a.best.depth == a.best.P]
    family = family_of(b.who)
    chain: Setting | None
    if b.depth == b.P:
        chain = b
    elif chains:
        chain = max(chains, key=lambda c: c.speedup)
        family = family_of(chain.who)
    else:
        chain = _best_chain(curves, timing if d is None else _with_cost(timing, d.cost), "ceiling")
    advice.chain = chain
    tree = Target(b.P, b.depth, None, b.speedup, b.who, family_of(b.who), f"{b.kind} best setting")
    ct = None
    if chain is not None:
        ct = Target(chain.P, chain.P, None, chain.speedup, chain.who, family, f"{chain.kind} best chain")
    advice.engines = engine_settings(tree, ct)
    if b.depth is None:
        advice.engines.notes.append(
            "the drafter's cost does not grow with depth, so the best setting leaves the depth open: give --draft-ms "
            "(its cost per level) for SGLang's steps and topk and TensorRT-LLM's max_draft_len"
        )
    advice.notes.extend(f"engine settings: {n}" for n in advice.engines.notes)


def _with_cost(timing: Timing, cost: DraftCost) -> Timing:
    from dataclasses import replace

    return replace(timing, draft=cost)


def _drafter(
    name: str, items: list[Measured], cost: DraftCost, curves: DepthCurves, timing: Timing, current: int | None
) -> DrafterAdvice:
    t = _with_cost(timing, cost)
    notes: list[str] = []
    pts = []
    for m in sorted(items, key=lambda x: x.P or 0):
        d, note = drafter_depth(m)
        if note:
            notes.append(note)
        pts.append((m, d, _measured_setting(m, t, d)))
    best = max(pts, key=lambda x: x[2].speedup)[2]
    cur_p = current if current is not None else (items[0].P if len(items) == 1 else None)
    cur = next((s for m, d, s in pts if m.P == cur_p), None)
    proj = None
    if len(pts) == 1:
        m, d, _ = pts[0]
        got = _projected(m, d, "chain" in m.label.lower() or d == m.P, curves, t)
        if got is not None:
            proj = got[0]
            notes.append(
                f"{name}: measured at one P only; other P are projected at its measured {100 * got[1]:.0f}% of the "
                "ceiling"
            )
    return DrafterAdvice(name, cost, best, _best_on(curves, t, "ceiling"), cur, proj, notes)
