"""``speedoflight report``: the main job, one self-contained folder with a Markdown report and its figures.

With no inputs it runs on the real data shipped in the repository's ``data/``
folder: the SmolLM2-135M dump (100 prompts x 8 continuations), the measured
drafters on the same model, and the exact real-model oracle curves of
SmolLM2-135M and Gemma 3 270M.

The answer comes first, in at most :data:`FIRST_SCREEN` lines: the verifier,
the ceiling at the user's P with its interval, each measured drafter's
fraction of it, the best (P, depth) with its expected speedup on the GPU for
the drafter's cost and the batch, one sentence of what to change, and the
warnings. Details follow: the verifier's mu and mu2, the measured table and
figure, the best settings per drafter and per batch size, per-position
acceptance, the real optimum against the theory; the wide table of every
bound is an appendix, and the notes appear once.

The folder is written through a temporary folder and renamed at the end, so
a failed run leaves no half report. The figures are drawn by a second Python
process while the numbers are still computed (:mod:`.drawing`), with the same
files as drawing them here; where that process cannot run, they are drawn here.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._util.atomic import atomic_dir
from .._util.jsonsafe import finite_or_none
from .._util.provenance import sha256_file
from .._util.shipped import SHIPPED, shipped_data
from .._version import __version__
from ..errors import InputError
from ..options import ReadOptions, RunOptions, split_legacy

if TYPE_CHECKING:
    from ..timing import GPU

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


def run_report(
    out: str = "report",
    *,
    dumps: Sequence[str] | None = None,
    measured: Sequence[str] | None = None,
    tree_size: int | None = None,
    oracles: Sequence[str] | None = None,
    pools: Sequence[str] | None = None,
    timing: Any = None,
    gpu: GPU | None = None,
    params: float | None = None,
    replicates: int = 64,
    command: str | None = None,
    n_layers: int | None = None,
    same_model: bool = False,
    keep: int | None = None,
    read: ReadOptions | None = None,
    run: RunOptions | None = None,
    **legacy: Any,
) -> str:
    """Write the report folder and return the path of its Markdown file.

    Parameters
    ----------
    out
        Output folder (its other files are left alone; this command's files are each replaced atomically).
    dumps, measured
        The verifier's dumps (or API logs) and measured acceptance files. Without ``dumps`` the report is the demo
        on the shipped SmolLM2 data (its measured drafters and oracles included); with ``dumps`` only the files
        given are read, and ``measured`` may be empty (the ceiling, the bounds and the best setting alone).
    tree_size
        P of every measured system that does not record it (the user's current setting).
    oracles, pools
        Real-model oracle files with one dump each; default: the shipped ones in the demo, none otherwise.
    timing
        The timing model (:class:`~speedoflight.timing.Timing`); None: ``gpu`` with ``params``.
    gpu, params
        Used without ``timing``: the device (:class:`~speedoflight.timing.GPU`, e.g.
        ``speedoflight.timing.resolve_gpu("h100")``; None: the H100 SXM preset), and the verifier's size (default: the
        size in the input's model name). A preset's name is still taken, deprecated.
    replicates
        Simulation of the optimal tree.
    command
        The command line, recorded in the report.
    n_layers, same_model
        As for :func:`~speedoflight.analysis.compare.compare`.
    keep
        ``--top-k``: tokens kept per row of the simulations (None: the default rule, docs/theory.md section 3.6).

    read
        How to read ``dumps`` where the files do not say (:class:`~speedoflight.options.ReadOptions`, as for
        :func:`~speedoflight.analysis.compare.compare`).
    run
        The seed of the simulations and the bootstraps, and progress bars on stderr
        (:class:`~speedoflight.options.RunOptions`; its ``client`` is unused).
    **legacy
        Deprecated: the old keywords ``kind``, ``vocab_size``, ``temperature``, ``tensor``, ``seed``, ``progress``, folded into ``read`` and ``run`` with a DeprecationWarning.

    Returns
    -------
    str
        Path of ``report.md``.

    """
    read, run = split_legacy("run_report", legacy, read=(ReadOptions, read), run=(RunOptions, run))
    from ..readers import input_model
    from ..timing import Timing

    shown: dict[str, str] = {}  # shipped files by name, wherever this install keeps them
    if dumps is None:
        if measured:
            raise InputError(
                "measured files need the verifier's dumps or API logs beside them; the shipped demo dump is never "
                "mixed with your files"
            )
        data = shipped_data()
        shown = {str(data / f): f"{f} (shipped)" for names in SHIPPED.values() for f in names}
        dumps = [str(data / f) for f in SHIPPED["dump"]]
        measured = [str(data / f) for f in SHIPPED["measured"]]
        if oracles is None:
            oracles = [str(data / f) for f in SHIPPED["oracle"]]
            pools = [str(data / f) for f in SHIPPED["pool"]]
    measured = list(measured or [])
    oracles = list(oracles or [])
    pools = list(pools or [])
    if len(oracles) != len(pools):
        raise InputError(
            f"give one {{pools}} per {{oracles}} ({len(oracles)} oracle files, {len(pools)} dumps)",
            param=("pools", "oracles"),
        )
    if timing is None:
        from .._util.paths import expand_paths

        params = params if params is not None else params_from_name(input_model(expand_paths(list(dumps))[0]))
        if params is None:
            raise InputError("the model's size is not in its name; give {params} (e.g. 8e9)", param="params")
        timing = Timing(gpu=_device(gpu), params=params)
    from ..kernels._jit import preload_numba
    from .drawing import Drawer

    preload_numba()  # numba's set-up while the first files are decompressed

    # the figures are drawn beside the numbers, in a second process, stopped before a failed run's folder is removed
    with atomic_dir(out) as tmp, Drawer() as drawer:
        md, report_json = _compute(
            drawer,
            tmp,
            dumps,
            measured,
            oracles,
            pools,
            tree_size=tree_size,
            timing=timing,
            replicates=replicates,
            command=command,
            n_layers=n_layers,
            same_model=same_model,
            keep=keep,
            read=read,
            run=run,
            shown=shown,
        )
        with open(os.path.join(tmp, "report.json"), "w", encoding="utf-8") as fh:
            json.dump(report_json, fh)
        with open(os.path.join(tmp, "report.md"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(md))
        drawer.finish()
    return os.path.join(out, "report.md")


def _compute(
    drawer: Any,
    tmp: str,
    dumps: Sequence[str],
    measured: list[str],
    oracles: list[str],
    pools: list[str],
    *,
    tree_size: int | None,
    timing: Any,
    replicates: int,
    command: str | None,
    n_layers: int | None,
    same_model: bool,
    keep: int | None,
    read: ReadOptions,
    run: RunOptions,
    shown: dict[str, str],
) -> tuple[list[str], Any]:
    """Compute the report's numbers; send each figure to ``drawer`` (into ``tmp``) as soon as its inputs exist.

    Returns the Markdown lines and report.json's object.
    """
    import dataclasses

    from ..logs.acceptance import read_many
    from ..logs.plain import read_own
    from .compare import compare
    from .evidence import compare_real
    from .stages import read_dumps

    kind, vocab_size, temperature, tensor = read.kind, read.vocab_size, read.temperature, read.tensor
    seed, progress = run.seed, run.progress
    # each input is read once: the dumps in one pass (the moments, the curves, the pools, the grafted inputs),
    # shared by the comparison and, where an oracle's pool is the same dump, by its section
    stage = read_dumps(
        list(dumps),
        kind=kind,
        vocab_size=vocab_size,
        temperature=temperature,
        tensor=tensor,
        seed=seed,
        progress=progress,
        keep=keep,
    )
    m = stage.moments
    runs = _measure_runs(measured)  # speedoflight measure files, each read once
    comp = compare(
        list(dumps),
        [e for f in measured for e in (read_own(f, run=runs[f]) if f in runs else read_many([f]))],
        tree_size=tree_size,
        timing=timing,
        replicates=replicates,
        n_layers=n_layers,
        same_model=same_model,
        stage=stage,
        keep=keep,
        read=ReadOptions(kind=kind, vocab_size=vocab_size, temperature=temperature, tensor=tensor),
        run=RunOptions(seed=seed, progress=progress),
    )
    light = comp if comp.ceiling is None else dataclasses.replace(comp, ceiling=comp.ceiling.without_roots())
    drawer.draw("compare", (light,), os.path.join(tmp, "compare.png"))
    profiles = comp.profiles
    if profiles:
        drawer.draw("positions", (comp.measured, profiles), os.path.join(tmp, "positions.png"))
    evidence = []
    by_model: dict[str, list[str]] = {}  # the measure files by the model they ran (their oracle's)
    for f, measure_run in runs.items():
        by_model.setdefault(str(measure_run.meta.get("model", {}).get("name")), []).append(f)
    plain = kind is None and vocab_size is None and tensor is None and temperature == 1.0  # read as compare_real reads
    for o, p in zip(oracles, pools, strict=True):
        from ..formats.oracle import load_oracle

        loaded = load_oracle(o)  # opened once: its model names the measure files it is held against
        oname = str(loaded.meta.get("model", {}).get("name"))
        evidence.append(
            compare_real(
                o,
                p,
                by_model.get(oname, []),
                replicates=max(replicates, 100),
                seed=seed,
                progress=progress,
                loaded=loaded,
                runs=[runs[f] for f in by_model.get(oname, [])],
                stage=stage if plain and stage.same_files([p]) else None,
            )
        )
    if evidence:
        drawer.draw("evidence", (evidence,), os.path.join(tmp, "evidence.png"))
    md = report_markdown(comp, m, evidence, tree_size, bool(profiles), command, shown, [*dumps, *measured, *oracles])
    report_json = finite_or_none(
        {
            "answer": comp.answer_lines(tree_size),
            "warnings": comp.warnings,
            "moments": m.to_dict(),
            "compare": comp.to_dict(),
            "evidence": [e.to_dict() for e in evidence],
            "positions": {k: v.tolist() for k, v in profiles.items()},
        }
    )
    return md, report_json


def _measure_runs(measured: Sequence[str]) -> dict[str, Any]:
    """Read each speedoflight measure file once (path -> its run); other acceptance logs are left to ``read_many``."""
    from ..formats.measured import read_measured

    runs: dict[str, Any] = {}
    for f in measured:
        if not os.path.isfile(f):
            continue  # a pipe (`<(...)`) can be read once only: read_many takes it, and no oracle pairs with it
        try:
            runs[f] = read_measured(f)
        except InputError:
            continue  # not a speedoflight measure file: another log's reader takes it, and no oracle pairs with it
    return runs


def _checksum(path: str) -> str:
    """Return the input's SHA-256 (16 digits); a pipe was read once already, so it has none."""
    if not os.path.isfile(path):
        return "(a pipe or device, read once: no checksum)"
    return f"sha256 `{sha256_file(path)[:16]}`"


#: The first screen holds at most this many lines.
FIRST_SCREEN = 18


def report_markdown(
    comp: Any,
    m: Any,
    evidence: Sequence[Any],
    tree_size: int | None,
    positions: bool,
    command: str | None,
    shown: dict[str, str],
    inputs: Sequence[str],
) -> list[str]:
    """Return the report's lines: the answer first (at most :data:`FIRST_SCREEN` lines), then the details.

    Parameters
    ----------
    comp, m, evidence
        The comparison, the moments and the real-model comparisons.
    tree_size
        The user's P.
    positions
        Whether ``positions.png`` was drawn.
    command
        The command line that regenerates the report.
    shown, inputs
        Display names of shipped files, and every input file (hashed in the last section).

    Returns
    -------
    list of str

    """
    from .evidence import evidence_markdown

    answer = comp.answer_lines(tree_size)
    main = [x for x in answer if not x.startswith("warning: ")]
    warned = comp.warnings
    first = [f"# speedoflight report: {comp.model or 'the verifier'}", ""]
    first += [f"  - {x.strip()}" if x.startswith("  ") else f"- {x}" for x in main]  # engine settings: nested
    room = FIRST_SCREEN - len(first) - 1
    if warned:
        first += [f"- **warning:** {w}" for w in warned[: max(room - 1, 1)]]
        if len(warned) > max(room - 1, 1):
            first.append(f"- ({len(warned) - max(room - 1, 1)} more warnings under Details)")
    if len(first) > FIRST_SCREEN:  # never longer than a screen: the rest is under Details
        first = [*first[: FIRST_SCREEN - 1], "- (more under Details)"]
    first.append("")
    n = 1
    md = [*first, "## Details", ""]
    md += [
        f"speedoflight {__version__}, {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}."
        + (f" Regenerate with `{command}`." if command else ""),
        "E[X] counts **accepted draft tokens per verifier call**; tokens per call are E[X] + 1; logarithms are "
        "natural (nats).",
        "",
        f"### {n}. The verifier",
        "",
        f"{comp.model or 'Unknown model'}: {m.n_rows} positions in {m.n_sequences} sequences.",
        "",
        "| quantity | value | 95% CI |",
        "|---|---|---|",
        f"| mu (expected entropy, nats) | {m.mu:.4f} | {m.mu_ci[0]:.4f}..{m.mu_ci[1]:.4f} |",
        f"| mu2 (expected second log-moment, nats²) | {m.mu2:.4f} | {m.mu2_ci[0]:.4f}..{m.mu2_ci[1]:.4f} |",
        f"| surprisal variance mu2 - mu² (nats²) | {m.surprisal_variance:.4f} | |",
        "",
    ]
    n += 1
    md += [f"### {n}. Measured drafters against the ceiling", "", comp.measured_markdown(), ""]
    said = comp.advice.sentence() if comp.advice is not None else None
    md += [f"- {x}" for x in comp.summary_lines() if not x.startswith("timing:") and x != said]
    md += ["", "![measured vs speed of light](compare.png)", ""]
    if comp.advice is not None:
        n += 1
        md += [f"### {n}. Which P and depth", "", f"Timing: {comp.timing.describe()}.", ""]
        md += [*comp.advice.markdown(), ""]
    if positions:
        n += 1
        md += [f"### {n}. Per-position acceptance", "", "![per-position acceptance](positions.png)", ""]
    if evidence:
        n += 1
        md += [f"### {n}. The real optimum against the theory", ""]
        md += [line.replace("## ", "#### ") for line in evidence_markdown(evidence, "evidence.png", notes=False)]
    if len(warned) > 1:
        md += ["### Warnings", "", *[f"- {w}" for w in warned], ""]
    md += ["## Appendix: every bound per P", "", comp.markdown().split("\n\n")[0], ""]
    notes = [*comp.notes, *(comp.advice.notes if comp.advice is not None else [])]
    notes = list(dict.fromkeys([*notes, *[x for e in evidence for x in e.notes]]))
    md += ["## Notes", "", *[f"- {x}" for x in notes], "", "## Inputs", ""]
    md += [f"- `{shown.get(f, f)}` {_checksum(f)}" for f in dict.fromkeys(inputs)]
    return [*md, ""]


def _device(gpu: GPU | str | None) -> GPU:
    """Return the device of :func:`run_report`: the H100 SXM preset for None; a name (deprecated) resolved."""
    from ..timing import GPUS, resolve_gpu

    if gpu is None:
        return GPUS["h100-sxm"]
    if isinstance(gpu, str):
        import warnings

        warnings.warn(
            f"run_report(gpu={gpu!r}) is deprecated: pass the device, gpu=speedoflight.timing.resolve_gpu({gpu!r})",
            DeprecationWarning,
            stacklevel=3,
        )
        return resolve_gpu(gpu)
    return gpu
