"""``speedoflight report``: the main job, one self-contained folder with a Markdown report and its figures.

With no inputs it runs on the real data shipped in the repository's ``data/``
folder: the SmolLM2-135M dump (100 prompts x 8 continuations), the measured
drafters on the same model, and the exact real-model oracle curves of
SmolLM2-135M and Gemma 3 270M. Sections:

1. the verifier's mu and mu2 (:func:`~speedoflight.estimator.estimate`);
2. measured acceptance against the speed of light
   (:func:`~speedoflight.compare.compare`), table and figure;
3. the real optimum against the theory (:mod:`speedoflight.evidence`),
   when oracle files are given or shipped;
4. choosing P on a GPU: the best P and speedup ceiling per curve under the
   roofline timing model.

The folder is written through a temporary folder and renamed at the end, so
a failed run leaves no half report.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Sequence
from typing import Any

from .._util.atomic import atomic_dir
from .._util.jsonsafe import finite_or_none
from .._util.provenance import model_name, sha256_file
from .._util.shipped import SHIPPED, shipped_data
from .._version import __version__
from ..errors import InputError
from ..theory.registry import label

__all__ = ["params_from_name", "run_report", "shipped_data"]


def params_from_name(name: str) -> float | None:
    """Return the parameter count written in a model name (``SmolLM2-135M`` -> 1.35e8), or None.

    Parameters
    ----------
    name
        A model name.

    Returns
    -------
    float or None
        The number before an ``M`` (millions) or ``B`` (billions), times 1e6 or 1e9; None where there is none.

    """
    m = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([MmBb])(?![A-Za-z])", name)
    if not m:
        return None
    return float(m.group(1)) * (1e6 if m.group(2).lower() == "m" else 1e9)


def _model_name(path: str) -> str:
    from ..readers import open_source

    return model_name(open_source(path).metadata or {})


def run_report(
    out: str = "report",
    *,
    dumps: Sequence[str] | None = None,
    measured: Sequence[str] | None = None,
    tree_size: int | None = None,
    oracles: Sequence[str] | None = None,
    pools: Sequence[str] | None = None,
    gpu: str = "h100-sxm",
    params: float | None = None,
    replicates: int = 64,
    seed: int = 0,
    progress: bool = False,
    command: str | None = None,
) -> str:
    """Write the report folder and return the path of its Markdown file.

    Parameters
    ----------
    out
        Output folder (its other files are left alone; this command's files are each replaced atomically).
    dumps, measured
        The verifier's dumps and measured acceptance files; default: the shipped SmolLM2 data.
    tree_size
        P of every measured system that does not record it.
    oracles, pools
        Real-model oracle files with one dump each (section 3); default: the shipped ones when the defaults
        above are used, none otherwise.
    gpu, params
        Timing model of section 4; ``params`` defaults to the size in the dump's model name.
    replicates, seed
        Simulation of the optimal tree (and the bootstraps' seed).
    progress
        Progress bars on stderr.
    command
        The command line, recorded in the report.

    Returns
    -------
    str
        Path of ``report.md``.

    """
    from ..logs.acceptance import read_many
    from ..theory.estimator import estimate
    from ..theory.timing import Timing
    from .compare import compare
    from .evidence import compare_real, evidence_markdown, figure
    from .plots import save_figure

    defaults = dumps is None and measured is None
    shown: dict[str, str] = {}  # shipped files by name, wherever this install keeps them
    if dumps is None or measured is None:
        data = shipped_data()
        shown = {str(data / f): f"{f} (shipped)" for names in SHIPPED.values() for f in names}
        dumps = dumps or [str(data / f) for f in SHIPPED["dump"]]
        measured = measured or [str(data / f) for f in SHIPPED["measured"]]
        if defaults and oracles is None:
            oracles = [str(data / f) for f in SHIPPED["oracle"]]
            pools = [str(data / f) for f in SHIPPED["pool"]]
    oracles = list(oracles or [])
    pools = list(pools or [])
    if len(oracles) != len(pools):
        raise InputError(f"give one --pool per --oracle ({len(oracles)} oracle files, {len(pools)} pools)")
    name = _model_name(dumps[0]) if str(dumps[0]).endswith(".npz") else ""
    if params is None:
        params = params_from_name(name)
        if params is None:
            raise InputError("the model's size is not in its name; give --params (e.g. 8e9)")
    timing = Timing.preset(gpu, params)
    m = estimate(list(dumps), seed=seed, progress=progress)
    systems = read_many(measured)
    comp = compare(
        list(dumps), systems, tree_size=tree_size, timing=timing, replicates=replicates, seed=seed, progress=progress
    )
    from ..formats.measured import read_measured

    evidence = []
    by_model: dict[str, list[str]] = {}
    for f in measured:
        try:
            by_model.setdefault(str(read_measured(f).meta.get("model", {}).get("name")), []).append(f)
        except InputError:
            continue  # not a speedoflight measure file: it has no oracle counterpart
    for o, p in zip(oracles, pools, strict=True):
        from ..formats.oracle import load_oracle

        oname = str(load_oracle(o)[3].get("model", {}).get("name"))
        evidence.append(
            compare_real(o, p, by_model.get(oname, []), replicates=max(replicates, 100), seed=seed, progress=progress)
        )

    best = comp.best()
    md = [
        "# speedoflight report",
        "",
        *_answer(comp, name, tree_size),
        f"speedoflight {__version__}, {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}."
        + (f" Regenerate with `{command}`." if command else ""),
        "",
        "E[X] counts **accepted draft tokens per verifier call** (iteration); tokens per call are E[X] + 1. "
        "Logarithms are natural (nats).",
        "",
        "## 1. The verifier",
        "",
        f"Model: {name or 'unknown'}; {m.n_rows} positions in {m.n_sequences} sequences from {len(dumps)} file(s).",
        "",
        "| quantity | value | 95% CI |",
        "|---|---|---|",
        f"| mu (expected entropy, nats) | {m.mu:.4f} | {m.mu_ci[0]:.4f}-{m.mu_ci[1]:.4f} |",
        f"| mu2 (expected second log-moment, nats^2) | {m.mu2:.4f} | {m.mu2_ci[0]:.4f}-{m.mu2_ci[1]:.4f} |",
        f"| surprisal variance mu2 - mu^2 | {m.surprisal_variance:.4f} | |",
        "",
        f"Intervals: {m.ci_method}.",
        "",
        "## 2. Measured drafters against the speed of light",
        "",
        comp.markdown(),
        "",
        *[f"- {x}" for x in _condensed(comp)],
        "",
        "![measured vs speed of light](compare.png)",
        "",
    ]
    if evidence:
        md += [
            "## 3. The real optimum against the theory",
            "",
            "The exact optimal draft tree of the real model (searched with real forward passes, `speedoflight "
            "oracle`) against the i.i.d. simulation, the bounds and the measured drafters.",
            "",
            *[line.replace("## ", "### ") for line in evidence_markdown(evidence, "evidence.png")],
        ]
    md += [
        f"## {4 if evidence else 3}. Choosing P on a GPU",
        "",
        f"Roofline model: {timing.gpu.name} ({timing.gpu.bandwidth / 1e12:.2f} TB/s, {timing.gpu.flops / 1e12:.0f} "
        f"TFLOP/s dense), {params:.3g} parameters, batch 1, 2 bytes per parameter, no overhead, free drafter; "
        f"a pass turns compute-bound above P = {timing.knee():.0f}. Speedup = (E[X] + 1) t(0) / t(P).",
        "",
        "| curve | best P | speedup ceiling |",
        "|---|---|---|",
        *[f"| {label(k)} | {v['P']:.0f} | {v['speedup']:.2f}x |" for k, v in best.items() if k != "trivial"],
        "",
        "The right panel of the figure in section 2 shows the speedup against P. Other GPUs and sizes: "
        "`speedoflight report --gpu l4 --params 8e9`, or `speedoflight bound --gpu ... --params ...`.",
        "",
        "## Notes",
        "",
        *[f"- {x}" for x in comp.notes],
        "",
        "## Inputs",
        "",
        *[
            f"- `{shown.get(f, f)}` sha256 `{sha256_file(f)[:16]}`"
            for f in dict.fromkeys([*dumps, *measured, *oracles])
        ],
        "",
    ]
    with atomic_dir(out) as tmp:
        save_figure(comp.figure(), os.path.join(tmp, "compare.png"))
        if evidence:
            save_figure(figure(evidence), os.path.join(tmp, "evidence.png"))
        with open(os.path.join(tmp, "report.json"), "w", encoding="utf-8") as fh:
            json.dump(
                finite_or_none(
                    {
                        "moments": m.to_dict(),
                        "compare": comp.to_dict(),
                        "evidence": [e.to_dict() for e in evidence],
                    }
                ),
                fh,
            )
        with open(os.path.join(tmp, "report.md"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(md))
    return os.path.join(out, "report.md")


def _condensed(comp: object) -> list[str]:
    """Summary lines, one per measured system (its largest P) plus the GPU line."""
    from .compare import Comparison

    assert isinstance(comp, Comparison)
    lines = comp.summary_lines()
    keep: dict[str, str] = {}
    for line in lines:
        key = line.split(":", 1)[0]
        keep[key] = line  # the last line per system is its largest P
    return list(keep.values())


def _answer(comp: Any, model: str, tree_size: int | None) -> list[str]:
    """Return the report's first lines: the ceiling at the user's P with its interval, each drafter's share of it."""
    from .ceiling import ceiling_at

    res = comp.ceiling
    if res is None:
        return []
    rows = [(m, d) for m, d in zip(comp.measured, comp.measured_rows(), strict=True) if "ceiling_at_P" in d]
    ps = [tree_size] if tree_size else sorted({int(m.P) for m, _ in rows})
    shown = ps if len(ps) <= 3 else [ps[0], ps[len(ps) // 2], ps[-1]]
    out = []
    for p in shown:
        at = ceiling_at(res, p)
        if at is None:
            continue
        best = max((r for r in rows if r[0].P == p), key=lambda r: r[0].mean_accepted, default=None)
        line = (
            f"**The ceiling of {model or 'the verifier'} at P = {p}: {at[0]:.2f}..{at[1]:.2f} accepted draft tokens "
            f"per verifier call** (95% CI {at[2]:.2f}-{at[3]:.2f}; the real optimum predicted from the dump's own "
            "continuations, averaged over generated positions, top-k tails dropped..lumped)."
        )
        if best is not None:
            m, d = best
            line += (
                f" The best measured drafter there, {m.name}, reaches {m.mean_accepted:.2f}: "
                f"{100 * d['fraction_of_ceiling_upper']:.0f}%..{100 * d['fraction_of_ceiling']:.0f}% of it."
            )
        out += [line, ""]
    return out
