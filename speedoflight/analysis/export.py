"""The ceiling as a what-if an engine can run: a speculation profile and each engine's synthetic-acceptance setting.

From a verifier's logged continuations (dumps, API logs) the profile is that of the ceiling's best chain of K
draft tokens: P(X >= d), d = 1..K, of the chain the grafted search finds with one child per node
(:func:`speedoflight.simulation.grafted.optimum` with ``max_width=1``: the verifier's most likely token at every
step, the chain a perfect drafter of K tokens proposes), averaged over roots (``positions="start"``: each prompt's
end; ``"all"``: every generated position). From a measured log it is the log's own per-position acceptance
(:attr:`speedoflight.logs.result.Measured.distribution`). Either way it is written in NVIDIA specdec_bench's
``speculation_profile.json`` schema (:mod:`speedoflight.formats.profile`), which this project's own reader
(:mod:`speedoflight.logs.specdec`) reads back, and converted for each engine's knob
(:mod:`speedoflight.formats.engines`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._util.jsonsafe import finite_or_none
from ..errors import InputError
from ..formats.engines import ENGINES, Snippet, engine_snippets
from ..formats.profile import build_profile, marginal_from_distribution
from ..options import RunOptions

__all__ = ["DEFAULT_K", "FORMAT", "Export", "export_ceiling", "export_measured"]

#: The draft length exported when none is given for a dump (a common num_speculative_tokens).
DEFAULT_K = 4
#: This project's block inside the profile.
FORMAT = "speedoflight-export"
_METHOD = "speedoflight-ceiling-chain"


@dataclass(frozen=True)
class Export:
    """A speculation profile and the engines' settings that replay it.

    Attributes
    ----------
    profile : dict
        The ``speculation_profile.json`` payload (schema 1.0), with this project's block ``speedoflight`` (what
        it describes, notes, the command, every engine's snippet).
    marginal, conditional : list of float
        P(X >= i) and P(i accepted | 1..i-1 accepted), i = 1..K, as written (6 decimals).
    mean_accept_length : float
        AL = 1 + sum of the marginals (tokens per verifier call, bonus included); X = AL - 1.
    what : str
        One line: what the profile describes.
    snippets : list of Snippet
        Every engine's setting (:data:`speedoflight.formats.engines.ENGINES`).
    notes : tuple of str
        How it was made and what to know.
    per_category : dict
        ``{kind: {...}}`` as written in the profile (empty where the prompts carry no kinds).

    """

    profile: dict[str, Any]
    marginal: list[float]
    conditional: list[float]
    mean_accept_length: float
    what: str
    snippets: list[Snippet]
    notes: tuple[str, ...] = ()
    per_category: dict[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        """Draft positions, K."""
        return len(self.marginal)


def _finish(
    marginal: np.ndarray,
    *,
    what: str,
    source: str,
    method: str,
    model: str | None,
    mean_per_request: float | None,
    per_category: dict[str, dict[str, Any]] | None,
    accept_length_model: str,
    conditions: dict[str, Any],
    notes: list[str],
    command: str | None,
) -> Export:
    m = np.minimum.accumulate(np.clip(np.asarray(marginal, dtype=np.float64), 0.0, 1.0))
    base = build_profile(m, per_category=per_category)  # the rounded rates the snippets are written for
    snippets = engine_snippets(base["marginal_accept_rates"], ENGINES)
    block = {
        "format": FORMAT,
        "version": 1,
        "what": what,
        "source": source,
        "on_measured": "measured: true marks a complete profile (not specdec_bench's placeholder); "
        + (
            "these rates are speedoflight's prediction of the ceiling, not a measurement"
            if source == "ceiling"
            else "these rates are the measured log's own"
        ),
        "notes": notes,
        "command": command,
        "engines": [s.to_dict() for s in snippets],
    }
    profile = build_profile(
        m,
        method=method,
        target_model=model or None,
        mean_per_request=mean_per_request,
        per_category=per_category,
        accept_length_model=accept_length_model,
        conditions=conditions,
        extra={"speedoflight": block},
    )
    profile = finite_or_none(profile)  # JSON-ready: a count the source does not give is null, not NaN
    return Export(
        profile=profile,
        marginal=list(profile["marginal_accept_rates"]),
        conditional=list(profile["conditional_accept_rates"]),
        mean_accept_length=float(profile["mean_accept_length"]),
        what=what,
        snippets=snippets,
        notes=tuple(notes),
        per_category=profile["per_category"] or {},
    )


def _by_prompt(values: np.ndarray, prompts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, inverse = np.unique(prompts, return_inverse=True)
    sums = np.zeros((len(uniq), values.shape[1]))
    np.add.at(sums, inverse, values)
    return uniq, sums / np.bincount(inverse)[:, None]


def export_ceiling(
    dumps: str | Sequence[str],
    k: int = DEFAULT_K,
    *,
    positions: str = "start",
    replicates: int = 64,
    seed: int = 0,
    command: str | None = None,
) -> Export:
    """Return the speculation profile of the ceiling's best chain of ``k`` draft tokens on the inputs' verifier.

    Parameters
    ----------
    dumps
        Dumps with sampled continuations or API logs (``speedoflight collect``).
    k
        Draft tokens (``num_speculative_tokens``); at most the longest logged continuation.
    positions
        ``"start"`` (each prompt's end: the chain after a prompt) or ``"all"`` (every generated position: the
        average over a generation, what a serving stack's counters average over).
    replicates
        Draws of the rows of unknown nodes per root.
    seed
        Seed of the draws.
    command
        The command line, recorded in the profile.

    Returns
    -------
    Export
        The profile (with ``per_category`` where the prompts carry kinds and ``mean_accept_length_per_request``
        over prompts), and every engine's setting.

    """
    from ..readers import input_model
    from ..readers.kinds import prompt_kinds, read_continuations
    from ..simulation.grafted import optimum

    if k < 1:
        raise InputError(f"-K must be at least 1, got {k}")
    if positions not in ("start", "all"):
        raise InputError(f"{{positions}} must be start or all, got {positions!r}", param="positions")
    files, parts = read_continuations(dumps)
    longest = max((int(a["pos"].max()) + 1 if a["pos"].size else 0) for a in parts)
    if k > longest:
        raise InputError(
            f"-K {k} is beyond the logged continuations (the longest holds {longest} positions): the chain's "
            f"acceptance at depth {k} would rest on no logged row; give -K {longest} or less, or log longer "
            "continuations"
        )
    res = optimum(
        files,
        pmax=k,
        positions=positions,
        replicates=replicates,
        tail="drop",
        parts=parts,
        max_width=1,
        profile=(k, k),
        run=RunOptions(seed=seed),
    )
    assert res.profile_roots is not None
    roots = res.profile_roots
    prompts, per_prompt = _by_prompt(roots, res.root_prompt)
    kinds = prompt_kinds(files, parts)
    per_category: dict[str, dict[str, Any]] = {}
    for kind in sorted(set(kinds.values())):
        mask = np.array([kinds.get(int(p)) == kind for p in res.root_prompt])
        if mask.any():
            per_category[kind] = {
                "marginal_accept_rates": roots[mask].mean(axis=0),
                "prompts": len(np.unique(res.root_prompt[mask])),
                "roots": int(mask.sum()),
            }
    model = input_model(files[0])
    where = "each prompt's end" if positions == "start" else "every generated position"
    what = (
        f"the ceiling's best chain of K = {k} draft tokens (the verifier's most likely token at every step) of "
        f"{model or 'the verifier'}, averaged over {where} ({len(prompts)} prompts, {len(roots)} roots)"
    )
    notes = [
        "P(X >= d) of the chain the grafted ceiling finds with one child per node (max_width = 1), from the "
        "logged top-k rows below each root; nodes off the logged continuations draw rows from the prompt's own "
        f"pool ({replicates} draws per root, seed {seed}); the top token's probability is exact in top-k rows, so "
        "dropped tails do not enter",
        "mean_accept_length_per_request averages the prompts' own AL (a prompt = a request)",
        *res.notes,
    ]
    if kinds and len(per_category) and sum(c["roots"] for c in per_category.values()) < len(roots):
        notes.append("some prompts record no kind and are in no category")
    conditions = {
        "computed_by": "speedoflight export",
        "inputs": [os.path.basename(f) for f in files],
        "positions": positions,
        "prompts": len(prompts),
        "roots": len(roots),
        "continuations_per_prompt": res.continuations_per_prompt,
        "replicates": replicates,
        "seed": seed,
    }
    return _finish(
        roots.mean(axis=0),
        what=what,
        source="ceiling",
        method=_METHOD,
        model=model,
        mean_per_request=float(np.mean(1.0 + per_prompt.sum(axis=1))),
        per_category=per_category or None,
        accept_length_model="chain_analytic",
        conditions=conditions,
        notes=notes,
        command=command,
    )


def export_measured(
    path: str, k: int | None = None, *, label: str | None = None, fmt: str | None = None, command: str | None = None
) -> Export:
    """Return the speculation profile of a measured log's own per-position acceptance.

    Parameters
    ----------
    path
        Any file :func:`speedoflight.logs.acceptance.read_acceptance` reads that gives the distribution of X
        (per-position counters, a histogram, per-iteration lengths, a speculation profile).
    k
        Draft positions to keep; None: what the source measured (its P).
    label
        Which system, where the file holds several.
    fmt
        Force the log's format.
    command
        The command line, recorded in the profile.

    Returns
    -------
    Export
        The profile and every engine's setting.

    """
    from ..logs.acceptance import read_acceptance

    if k is not None and k < 1:
        raise InputError(f"-K must be at least 1, got {k}")
    entries = read_acceptance(path, fmt)
    if label is not None:
        entries = [e for e in entries if label in (e.label, e.name)]
        if not entries:
            raise InputError(f"{path}: no system labelled {label!r}")
    if len(entries) > 1:
        names = ", ".join(repr(e.name) for e in entries[:8])
        raise InputError(f"{path}: {len(entries)} systems ({names}); pick one with {{label}}", param="label")
    m = entries[0]
    if m.distribution is None:
        raise InputError(
            f"{path}: {m.format} gives X only as a mean ({m.mean_accepted:.4g}), not per draft position; a profile "
            "needs per-position counts (vLLM's or llama.cpp's /metrics, a histogram, per-iteration lengths)"
        )
    measured_k = max(int(m.P or 0), len(m.distribution) - 1)
    if measured_k < 1:
        raise InputError(f"{path}: the source measured no draft position")
    kk = measured_k if k is None else k
    if kk > measured_k:
        raise InputError(
            f"-K {kk} is beyond what {path} measured ({measured_k} draft positions); give -K {measured_k} or less"
        )
    marginal = np.array(marginal_from_distribution(m.distribution, kk))
    notes = [f"{m.format}: {m.convention}", *m.notes]
    if kk < measured_k:
        notes.append(f"the first {kk} of the {measured_k} measured positions: AL counts only those")
    what = f"the measured acceptance of {m.name} ({m.format}, K = {kk})"
    conditions = {
        "computed_by": "speedoflight export",
        "inputs": [os.path.basename(path)],
        "format": m.format,
        "iterations": m.iterations,
        "measured_k": measured_k,
    }
    return _finish(
        marginal,
        what=what,
        source="measured",
        method=m.label or m.format,
        model=m.model,
        mean_per_request=None,
        per_category=None,
        accept_length_model="measured_per_k",
        conditions=conditions,
        notes=notes,
        command=command,
    )
