"""The text of a comparison: its measured table, its summary, its answer-first lines and its folder (no computation)."""

from __future__ import annotations

import os
from typing import Any

from .._util.text import ci, span
from .advice_text import drafter_words, setting_range

__all__ = [
    "RANGE_WORDS",
    "UNMEASURED_P",
    "answer_lines",
    "exact_words",
    "measured_markdown",
    "summary_lines",
    "terminal_lines",
    "write_comparison",
]

#: What a range a..b of the ceiling is, said where the first one is printed (a 95% CI says its name each time).
RANGE_WORDS = "a..b: from the verifier's top-k tails dropped to the tails lumped into one token"


def exact_words(k: int) -> str:
    """Return why the ceiling is one number at P <= ``k``: its rows keep their top ``k`` tokens at least.

    Parameters
    ----------
    k
        The fewest tokens a row keeps (``truncation.exact_up_to``).

    Returns
    -------
    str
        The sentence, said on first use.

    """
    return (
        f"one number: every row keeps at least its top {k} tokens, and a best tree of P <= {k} nodes never uses a "
        "token ranked below P in its row, so the truncation costs nothing here (docs/theory.md section 3.6)"
    )


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
    exact_to = int((getattr(comp, "truncation", None) or {}).get("exact_up_to") or 0)
    for m, d in zip(comp.measured, comp.measured_rows(), strict=True):
        interval = f" ({span(*m.ci)})" if m.ci else ""
        exact = m.P is not None and m.P <= exact_to  # the truncation costs nothing here: one number
        if m.P is not None:
            opt = f"{d['optimum_at_P']:.2f}" if exact else span(d["optimum_at_P"], d["optimum_upper_at_P"])
            frac = (
                f"{100 * d['fraction_of_optimum']:.0f}%"
                if exact
                else _percent(d["fraction_of_optimum_upper"], d["fraction_of_optimum"])
            )
            p = str(m.P)
        else:
            opt, frac, p = "", "", "unknown"
        row = f"| {m.name} | {m.format} | {m.mean_accepted:.2f}{interval} | {m.tokens_per_call:.2f} | {p} | {opt} | {frac} |"
        if comp.ceiling is not None:
            if "ceiling_at_P" in d:
                lo_c, hi_c = d["ceiling_at_P"]
                if exact:
                    row += f" {lo_c:.2f} | {100 * d['fraction_of_ceiling']:.0f}% |"
                else:
                    row += (
                        f" {span(lo_c, hi_c)} | {_percent(d['fraction_of_ceiling_upper'], d['fraction_of_ceiling'])} |"
                    )
            else:
                row += " | |"
        if comp.timing is not None:
            row += f" {d['speedup_model']:.2f}x |" if "speedup_model" in d else " |"
        rows.append(row)
    return "\n".join(rows)


def _percent(lo: float, hi: float) -> str:
    """Return two fractions as a range of whole percents (``14%..16%``)."""
    return span(100 * lo, 100 * hi, ".0f", "%")


def summary_lines(comp: Any) -> list[str]:
    """Return plain statements: each drafter's place under the ceiling (one line per drafter), the best P on the GPU.

    Parameters
    ----------
    comp
        The comparison.

    Returns
    -------
    list of str
        One line per measured drafter (its smallest and largest P where it was measured at several; the table holds
        every P), a line saying what the ceiling is, then, with a timing model, the timing and the advice.

    """
    out: list[str] = []
    by_name: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    for m, d in zip(comp.measured, comp.measured_rows(), strict=True):
        by_name.setdefault(m.name, []).append((m, d))
    said_ceiling = False
    for name, pairs in by_name.items():
        known = sorted(((m, d) for m, d in pairs if m.P is not None), key=lambda x: int(x[0].P))
        for m, _ in pairs:
            if m.P is None:
                out.append(
                    f"{name}: X = {m.mean_accepted:.2f} accepted draft tokens per call ({m.tokens_per_call:.2f} "
                    "tokens per call); its P is unknown, give --tree-size for the fraction of the optimum"
                )
        if not known:
            continue
        ceiling = all("ceiling_at_P" in d for _, d in known)
        said_ceiling |= ceiling
        key, what = (
            ("fraction_of_ceiling", "the ceiling") if ceiling else ("fraction_of_optimum", "the simulated optimum")
        )

        def frac(d: dict[str, Any], key: str = key) -> str:
            return _percent(d[key + "_upper"], d[key])

        def there(d: dict[str, Any], p: int, ceiling: bool = ceiling) -> str:
            if ceiling:
                lo_c, hi_c = d["ceiling_at_P"]
                return f"{span(lo_c, hi_c)}, {ci(*d['ceiling_ci'])}"
            return f"{span(d['optimum_at_P'], d['optimum_upper_at_P'])}; Lorden bound {_lorden(comp, p):.2f}"

        (m0, d0), (m1, d1) = known[0], known[-1]
        if len(known) == 1:
            out.append(
                f"{name}: X = {m0.mean_accepted:.2f} at P = {m0.P} is {frac(d0)} of {what} there ({there(d0, m0.P)})"
            )
        else:
            out.append(
                f"{name}: X = {m0.mean_accepted:.2f} at P = {m0.P} is {frac(d0)} of {what} there ({there(d0, m0.P)}); "
                f"X = {m1.mean_accepted:.2f} at P = {m1.P} is {frac(d1)} ({there(d1, m1.P)}); "
                f"{len(known)} P in the table"
            )
    if said_ceiling:
        out.append(
            "the ceiling: the real optimum predicted from the dumps' continuations, averaged over generated "
            f"positions; {RANGE_WORDS}, and a drafter's fraction of it is X over each end"
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
        then the verifier, the ceiling at the user's P with each drafter's fraction of it, and the warnings. Every
        range is written ``a..b``; the first ceiling line says what its range is, a 95% CI says its name.

    """
    from .ceiling import ceiling_at as at_p

    out = []
    if comp.advice is not None:  # the answer first: the best setting, then the same in each engine's own flags
        a = comp.advice
        _, b = a.top()
        out.append(
            f"best setting on {comp.timing.gpu.name}, batch {comp.timing.batch}: {drafter_words(b.who)} at P = {b.P}"  # type: ignore[union-attr]
            + (f", depth {b.depth}" if b.depth is not None else "")
            + f", {b.speedup:.2f}x ({setting_range(b)}; {b.cost})"
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
    exact_to = int((getattr(comp, "truncation", None) or {}).get("exact_up_to") or 0)
    explained = said_exact = False
    for p in shown:
        at = at_p(comp.ceiling, p)
        exact = p <= exact_to  # tails dropped is the full rows' value here: the lumped end is only an artefact
        if exact:
            words = "" if said_exact else f"; {exact_words(exact_to)}"
        else:
            words = "" if explained else f"; {RANGE_WORDS}"
        if at is not None:
            value = f"{at[0]:.2f}" if exact else span(at[0], at[1])
            top = float(comp.ceiling.lower.ci_high[p - 1]) if exact else at[3]  # one number: its own interval
            line = f"ceiling at P = {p}: {value} accepted tokens per call ({ci(at[2], top)}{words})"
            key = ("fraction_of_ceiling_upper", "fraction_of_ceiling")
        elif p in set(comp.optimum.P.tolist()):
            lo, hi, _ = comp.optimum_at(p)
            value = f"{lo:.2f}" if exact else span(lo, hi)
            line = f"ceiling at P = {p} (simulated, i.i.d. model): {value} accepted tokens per call"
            line += f" ({words[2:]})" if words else ""
            key = ("fraction_of_optimum_upper", "fraction_of_optimum")
        else:
            continue
        if exact:
            said_exact = True
        else:
            explained = True
        fr = [
            f"{m.name} {f'{100 * d[key[1]]:.0f}%' if exact else _percent(d[key[0]], d[key[1]])}"
            for m, d in rows
            if m.P == p and key[0] in d
        ]
        out.append(line + ("; " + ", ".join(fr) + " of it" if fr else ""))
        if comp.kinds and at is not None and p == shown[0]:  # where prompts carry kinds: the ceiling per kind, once
            parts = []
            for k, v in comp.kinds.items():
                mine = [
                    f"{m.name} "
                    + (
                        f"{100 * d['fraction_of_its_kind_ceiling']:.0f}%"
                        if p <= exact_to
                        else _percent(d["fraction_of_its_kind_ceiling_upper"], d["fraction_of_its_kind_ceiling"])
                    )
                    for m, d in rows
                    if m.kind == k and m.P == p and "fraction_of_its_kind_ceiling" in d
                ]
                value = f"{v['lower'][p - 1]:.2f}" if p <= exact_to else span(v["lower"][p - 1], v["upper"][p - 1])
                parts.append(f"{k} {value}" + (f" ({', '.join(mine)})" if mine else ""))
            out.append(f"  by kind of text at P = {p}: " + ", ".join(parts))
    out += [f"warning: {w}" for w in comp.warnings]
    return out


def terminal_lines(comp: Any, tree_size: int | None = None) -> list[str]:
    """Return everything ``compare`` prints on the terminal, as plain text (tables in fixed-width columns).

    Parameters
    ----------
    comp
        The comparison.
    tree_size
        The user's P.

    Returns
    -------
    list of str
        The answer, the table per P and the measured table, one line per drafter, the advice's details and the
        notes; Markdown only in the files ``--out`` writes.

    """
    from .._util.text import plain

    out = [*answer_lines(comp, tree_size), "", *plain(comp.markdown()), ""]
    out += [f"- {line}" for line in summary_lines(comp)]
    if comp.advice is not None:
        out += ["", *plain(comp.advice.markdown())]
    out += ["", "notes:"]
    out += [f"- {line}" for line in plain(comp.notes + (comp.advice.notes if comp.advice is not None else []))]
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
