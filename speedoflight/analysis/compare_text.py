"""The text of a comparison: its measured table, its summary, its answer-first lines and its folder (no computation)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["UNMEASURED_P", "answer_lines", "measured_markdown", "summary_lines", "write_comparison"]

#: Tree sizes the answer shows the ceiling at when nothing is measured and no P is given.
UNMEASURED_P = (4, 16, 64)


def _lorden(comp: Any, p: int) -> float:
    import numpy as np

    j = int(np.searchsorted(comp.curve.P, p))
    return float(comp.curve.columns["lorden"][j])


def measured_markdown(comp: Any) -> str:
    """Return the table of measured systems in Markdown.

    Parameters
    ----------
    comp
        The comparison.

    Returns
    -------
    str
        One row per system: X with its CI, tokens per call, P, the optimum at P and the fraction of it reached
        (and the model's speedup, with a timing model).

    """
    if not comp.measured:
        return "No measured drafter was given: the ceiling, the bounds and the best setting stand alone."
    head = "| system | format | X (95% CI) | tokens per call | P | optimum at P | fraction of optimum |"
    sep = "|---|---|---|---|---|---|---|"
    if comp.ceiling is not None:
        head += " ceiling at P (grafted) | fraction of ceiling |"
        sep += "---|---|"
    if comp.timing is not None:
        head += " speedup (model) |"
        sep += "---|"
    rows = [head, sep]
    for m, d in zip(comp.measured, comp.measured_rows(), strict=True):
        ci = f" ({m.ci[0]:.2f}-{m.ci[1]:.2f})" if m.ci else ""
        if m.P is not None:
            opt = f"{d['optimum_at_P']:.2f}..{d['optimum_upper_at_P']:.2f}"
            frac = f"{100 * d['fraction_of_optimum_upper']:.0f}%..{100 * d['fraction_of_optimum']:.0f}%"
            p = str(m.P)
        else:
            opt, frac, p = "", "", "unknown"
        row = f"| {m.name} | {m.format} | {m.mean_accepted:.2f}{ci} | {m.tokens_per_call:.2f} | {p} | {opt} | {frac} |"
        if comp.ceiling is not None:
            if "ceiling_at_P" in d:
                lo_c, hi_c = d["ceiling_at_P"]
                row += (
                    f" {lo_c:.2f}..{hi_c:.2f} | {100 * d['fraction_of_ceiling_upper']:.0f}%.."
                    f"{100 * d['fraction_of_ceiling']:.0f}% |"
                )
            else:
                row += " | |"
        if comp.timing is not None:
            row += f" {d['speedup_model']:.2f}x |" if "speedup_model" in d else " |"
        rows.append(row)
    return "\n".join(rows)


def summary_lines(comp: Any) -> list[str]:
    """Return plain statements: each system's place under the ceiling, and the best P on the GPU.

    Parameters
    ----------
    comp
        The comparison.

    Returns
    -------
    list of str
        One line per measured system, then, with a timing model, the speedup ceilings and their best P.

    """
    out = []
    for m, d in zip(comp.measured, comp.measured_rows(), strict=True):
        if "ceiling_at_P" in d:
            lo_c, hi_c = d["ceiling_at_P"]
            out.append(
                f"{m.name}: X = {m.mean_accepted:.2f} at P = {m.P} is {100 * d['fraction_of_ceiling_upper']:.0f}%.."
                f"{100 * d['fraction_of_ceiling']:.0f}% of the ceiling there ({lo_c:.2f}..{hi_c:.2f}, 95% CI "
                f"{d['ceiling_ci'][0]:.2f}-{d['ceiling_ci'][1]:.2f}: the real optimum predicted from the dumps' "
                "continuations, averaged over generated positions)"
            )
            continue
        if m.P is None:
            out.append(
                f"{m.name}: X = {m.mean_accepted:.2f} accepted draft tokens per call ({m.tokens_per_call:.2f} "
                "tokens per call); its P is unknown, give --tree-size for the fraction of the optimum"
            )
            continue
        out.append(
            f"{m.name}: X = {m.mean_accepted:.2f} at P = {m.P}, {100 * d['fraction_of_optimum_upper']:.0f}%.."
            f"{100 * d['fraction_of_optimum']:.0f}% of the simulated optimum there "
            f"({d['optimum_at_P']:.2f}..{d['optimum_upper_at_P']:.2f}); Lorden bound "
            f"{_lorden(comp, m.P):.2f}"
        )
    if comp.advice is not None:
        out.append(f"timing: {comp.timing.describe()}")  # type: ignore[union-attr]
        out.append(comp.advice.sentence())
    return out


def answer_lines(comp: Any, tree_size: int | None = None) -> list[str]:
    """Return the answer first: the best setting and its engine settings, what to change, then the ceiling at P.

    Parameters
    ----------
    comp
        The comparison.
    tree_size
        The user's P (default: the measured P values, at most three shown).

    Returns
    -------
    list of str
        With a timing model: the best setting, one line per engine (indented), the sentence of what to change;
        then the verifier, the ceiling at the user's P with each drafter's fraction of it, and the warnings.

    """
    from .ceiling import ceiling_at as at_p

    out = []
    if comp.advice is not None:  # the answer first: the best setting, then the same in each engine's own flags
        a = comp.advice
        _, b = a.top()
        out.append(
            f"best setting on {comp.timing.gpu.name}, batch {comp.timing.batch}: {b.who} at P = {b.P}"  # type: ignore[union-attr]
            + (f", depth {b.depth}" if b.depth is not None else "")
            + f", {b.speedup:.2f}x ({b.low:.2f}-{b.high:.2f}; {b.cost})"
        )
        if a.engines is not None:
            out += [f"  {x}" for x in a.engines.lines]
        out.append(a.sentence())
        if comp.timing is not None and comp.timing.caveat:
            out.append(f"note: {comp.timing.caveat}")
    out.append(
        f"verifier: {comp.model or 'unknown model'} (mu = {comp.curve.mu:.2f} nats, mu2 = {comp.curve.mu2:.2f} nats^2)"
    )
    rows = list(zip(comp.measured, comp.measured_rows(), strict=True))
    ps = [tree_size] if tree_size else sorted({int(m.P) for m in comp.measured if m.P is not None})
    if not ps:  # nothing measured and no P given: the ceiling at a few tree sizes serving stacks use
        ps = list(UNMEASURED_P)
    shown = ps if len(ps) <= 3 else [ps[0], ps[len(ps) // 2], ps[-1]]
    for p in shown:
        at = at_p(comp.ceiling, p)
        if at is not None:
            line = f"ceiling at P = {p}: {at[0]:.2f}..{at[1]:.2f} accepted tokens per call (95% CI {at[2]:.2f}-{at[3]:.2f})"
            key = ("fraction_of_ceiling_upper", "fraction_of_ceiling")
        elif p in set(comp.optimum.P.tolist()):
            lo, hi, _ = comp.optimum_at(p)
            line = f"ceiling at P = {p} (simulated, i.i.d. model): {lo:.2f}..{hi:.2f} accepted tokens per call"
            key = ("fraction_of_optimum_upper", "fraction_of_optimum")
        else:
            continue
        fr = [f"{m.name} {100 * d[key[0]]:.0f}%..{100 * d[key[1]]:.0f}%" for m, d in rows if m.P == p and key[0] in d]
        out.append(line + ("; " + ", ".join(fr) + " of it" if fr else ""))
        if comp.kinds and at is not None and p == shown[0]:  # where prompts carry kinds: the ceiling per kind, once
            parts = []
            for k, v in comp.kinds.items():
                mine = [
                    f"{m.name} {100 * d['fraction_of_its_kind_ceiling_upper']:.0f}%..{100 * d['fraction_of_its_kind_ceiling']:.0f}%"
                    for m, d in rows
                    if m.kind == k and m.P == p and "fraction_of_its_kind_ceiling" in d
                ]
                parts.append(
                    f"{k} {v['lower'][p - 1]:.2f}..{v['upper'][p - 1]:.2f}" + (f" ({', '.join(mine)})" if mine else "")
                )
            out.append(f"  by kind of text at P = {p}: " + ", ".join(parts))
    out += [f"warning: {w}" for w in comp.warnings]
    return out


def write_comparison(out_dir: str, comp: Any, command: str | None = None) -> None:
    """Write ``compare.md``, ``compare.png`` and ``compare.json`` into ``out_dir``, all or nothing.

    Parameters
    ----------
    out_dir
        The folder to write (its other files are left alone; this command's files are each replaced atomically).
    comp
        The comparison (:func:`~speedoflight.analysis.compare.compare`).
    command
        The command line that regenerates the folder, quoted in ``compare.md``.

    """
    import json

    from .._util.atomic import atomic_dir
    from .._util.jsonsafe import finite_or_none
    from .plots import save_figure

    with atomic_dir(out_dir) as tmp:
        md = ["# Measured acceptance against the speed of light", ""]
        if command:
            md += [f"Regenerate with `{command}`.", ""]
        md += [comp.markdown(), ""] + [f"- {x}" for x in comp.summary_lines()]
        md += ["", "Notes:", ""] + [f"- {x}" for x in comp.notes] + ["", "![comparison](compare.png)", ""]
        with open(os.path.join(tmp, "compare.md"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(md))
        with open(os.path.join(tmp, "compare.json"), "w", encoding="utf-8") as fh:
            json.dump(finite_or_none(comp.to_dict()), fh)
        save_figure(comp.figure(), os.path.join(tmp, "compare.png"))
