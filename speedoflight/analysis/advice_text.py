"""The details of the advice in Markdown: settings per drafter, the speed lost, the batch table (no computation)."""

from __future__ import annotations

import re
from typing import Any

from .._util.text import ci, span

__all__ = ["advice_markdown", "drafter_words", "setting_range"]


def drafter_words(name: str) -> str:
    """Return a drafter's name as a sentence names it: a log file's name becomes "the drafter in vllm.log".

    Parameters
    ----------
    name
        The drafter's label (a log that names no drafter is labelled by its file name).

    Returns
    -------
    str

    """
    if "/" in name or re.search(r"\.(log|txt|prom|json|jsonl|csv|tsv|out|err)$", name, re.IGNORECASE):
        return f"the drafter in {name}"
    return name


def setting_range(b: Any) -> str:
    """Return the words of a setting's range: a 95% CI, or where its estimate sits in the ceiling's range, and why.

    Parameters
    ----------
    b
        A :class:`~speedoflight.analysis.advice.Setting`.

    Returns
    -------
    str
        ``95% CI 1.05x..1.19x`` for a measured drafter; for the ceiling, that its estimate is the low end of its
        range (tails dropped, the lower estimate); for a projection, that it has no interval.

    """
    if b.kind == "projected":
        return "projected from its measured fraction of the ceiling, no interval"
    if abs(b.high - b.low) < 5e-3:
        return "no interval"
    if b.kind == "ceiling":
        return f"lower end of {span(b.low, b.high, unit='x')}, top-k tails dropped..lumped"
    return ci(b.low, b.high, unit="x")


def _depth_cell(depth: int | None) -> str:
    return "any" if depth is None else str(depth)


def advice_markdown(a: Any) -> list[str]:
    """Return the advice's details: per drafter, its best and current setting and the ceiling at its cost; per batch.

    Parameters
    ----------
    a
        The advice (:class:`~speedoflight.analysis.advice.Advice`).

    Returns
    -------
    list of str
        Markdown lines: a table of settings, the current settings' losses, the batch table, the engine settings.

    """
    lines = [
        "| who | draft cost | best P | depth | speedup (range) | E[X] there | ceiling at this cost |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in a.drafters:
        b, c = d.best, d.ceiling
        lines.append(
            f"| {d.name} | {d.cost.label} | {b.P} | {_depth_cell(b.depth)} | {b.speedup:.2f}x ({setting_range(b)}) | {b.accepted:.2f} | {c.speedup:.2f}x at P = {c.P}, depth {_depth_cell(c.depth)} |"
        )
    c = a.ceiling
    lines.append(
        f"| ceiling ({a.curves_source}) | {c.cost} | {c.P} | {_depth_cell(c.depth)} | {c.speedup:.2f}x "
        f"({setting_range(c)}) | {c.accepted:.2f} | |"
    )
    lost = [d for d in a.drafters if d.current is not None]
    if lost:
        lines += [""]
        for d in lost:
            cur = d.current
            assert cur is not None
            lines.append(
                f"- {d.name} at its current P = {cur.P}: {cur.speedup:.2f}x, "
                + (f"{100 * d.lost:.0f}% below its best" if (d.lost or 0) >= 0.005 else "at its best already")
                + (
                    f" (projected best P = {d.projected.P}: {d.projected.speedup:.2f}x, at its measured "
                    "fraction of the ceiling)"
                    if d.projected
                    else ""
                )
            )
    if a.batches:
        names = [d.name for d in a.drafters]
        lines += [
            "",
            "| batch | ceiling: best P, depth, speedup | " + " | ".join(f"{n}: best P, speedup" for n in names) + " |",
            "|---" * (2 + len(names)) + "|",
        ]
        for row in a.batches:
            cells = [f"{row['ceiling']['P']}, {_depth_cell(row['ceiling']['depth'])}, {row['ceiling']['speedup']:.2f}x"]
            cells += [f"{row[n]['P']}, {row[n]['speedup']:.2f}x" for n in names]
            lines.append(f"| {row['batch']} | " + " | ".join(cells) + " |")
    if a.break_even:
        lines += ["", _break_even_words(a.break_even)]
    return lines


def _break_even_words(even: dict[str, int]) -> str:
    """One sentence: the largest batch at which each still beats plain decoding."""
    from .batching import MAX_BATCH

    def words(b: int) -> str:
        if b == 0:
            return "does not pay even at batch 1"
        if b >= MAX_BATCH:
            return f"still pays at batch {MAX_BATCH}"
        return f"pays up to batch {b}"

    parts = [f"the ceiling {words(even['ceiling'])}"] + [f"{n} {words(b)}" for n, b in even.items() if n != "ceiling"]
    return "Break-even batch (speculation stops paying above it): " + "; ".join(parts) + "."
