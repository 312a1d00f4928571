"""The details of the advice in Markdown: settings per drafter, the speed lost, the batch table (no computation)."""

from __future__ import annotations

from typing import Any

__all__ = ["advice_markdown"]


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
            f"| {d.name} | {d.cost.label} | {b.P} | {_depth_cell(b.depth)} | {b.speedup:.2f}x ({b.low:.2f}-"
            f"{b.high:.2f}) | {b.accepted:.2f} | {c.speedup:.2f}x at P = {c.P}, depth {_depth_cell(c.depth)} |"
        )
    c = a.ceiling
    lines.append(
        f"| ceiling ({a.curves_source}) | {c.cost} | {c.P} | {_depth_cell(c.depth)} | {c.speedup:.2f}x "
        f"({c.low:.2f}-{c.high:.2f}) | {c.accepted:.2f} | |"
    )
    lost = [d for d in a.drafters if d.current is not None]
    if lost:
        lines += [""]
        for d in lost:
            cur = d.current
            assert cur is not None
            lines.append(
                f"- {d.name} at its current P = {cur.P}: {cur.speedup:.2f}x, "
                f"{100 * (d.lost or 0):.0f}% below its best"
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
