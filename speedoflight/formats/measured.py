"""The ``speedoflight-measured`` JSONL file: per-iteration accepted lengths of real drafters (``speedoflight measure``).

Format version 1: the first line is a header object ``{"format":
"speedoflight-measured", "version": 1, ...}`` with the model, temperature,
seed, tokens per sequence, P values, drafters, settings, prompt source,
versions and command. Every further line is one (sequence, drafter, shape,
P); see :func:`write_measured`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._config import DEFAULT_CONFIDENCE
from .._util.atomic import atomic_path
from .._util.jsonsafe import loads as json_loads
from ..errors import InputError

__all__ = ["FORMAT", "VERSION", "MeasureRun", "read_measured", "write_measured"]

FORMAT = "speedoflight-measured"
VERSION = 1


@dataclass
class MeasureRun:
    """Per-iteration accepted lengths for every drafter, shape and P over a set of sequences."""

    records: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> list[dict[str, Any]]:
        """Per (drafter, shape, P): iterations, mean X with a t-interval over prompts, tokens per call.

        Returns
        -------
        list of dict
            One dict per (drafter, shape, P), in order of first appearance: ``drafter``, ``shape``, ``P``,
            ``iterations`` (verifier calls), ``mean_accepted`` (mean X, accepted draft tokens per call,
            over all iterations), ``prompt_mean_accepted`` (the mean of per-prompt means), ``ci_low`` and
            ``ci_high`` (Student-t interval of the per-prompt means at the default confidence; NaN with
            one prompt), ``tokens_per_call`` (``mean_accepted + 1``) and ``mean_tree_size`` (mean draft
            tokens proposed per call).

        """
        from .._util.stats import t_interval

        groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        for r in self.records:
            groups.setdefault((r["drafter"], r["shape"], r["P"]), []).append(r)
        out = []
        for (drafter, shape, p), recs in groups.items():
            by_prompt: dict[int, list[int]] = {}
            for r in recs:
                by_prompt.setdefault(r["prompt"], []).extend(r["accepted"])
            per_prompt = np.array([np.mean(v) for v in by_prompt.values()])
            all_x = np.concatenate([r["accepted"] for r in recs]).astype(float)
            if len(per_prompt) > 1:
                _, _, lo, hi = t_interval(per_prompt[:, None], DEFAULT_CONFIDENCE)
                ci = (float(lo[0]), float(hi[0]))
            else:
                ci = (float("nan"), float("nan"))
            out.append(
                {
                    "drafter": drafter,
                    "shape": shape,
                    "P": p,
                    "iterations": len(all_x),
                    "mean_accepted": float(all_x.mean()),
                    "prompt_mean_accepted": float(per_prompt.mean()),
                    "ci_low": ci[0],
                    "ci_high": ci[1],
                    "tokens_per_call": float(all_x.mean() + 1),
                    "mean_tree_size": float(np.mean(np.concatenate([r["tree_size"] for r in recs]))),
                }
            )
        return out


def write_measured(path: str, run: MeasureRun) -> None:
    """Write a measured-acceptance JSONL file atomically.

    Format ``speedoflight-measured`` version 1: the first line is a header
    object ``{"format": "speedoflight-measured", "version": 1, ...}`` with the
    model, temperature, seed, tokens per sequence, P values, drafters,
    settings, prompt source, versions and command. Every further line is one
    (sequence, drafter, shape, P)::

        {"prompt": 3, "sample": 0, "kind": "code", "drafter": "early-exit:8",
         "shape": "tree", "P": 16, "accepted": [2, 0, 5, ...],
         "tree_size": [16, 16, 16, ...], "start": [0, 3, 4, ...]}

    ``accepted[k]`` is X of the k-th iteration (draft tokens accepted; the
    iteration produced X + 1 tokens), ``tree_size[k]`` the number of draft
    tokens proposed (at most P; prompt lookup may find fewer) and
    ``start[k]`` the position in the continuation where it began.

    Parameters
    ----------
    path
        File to write (replaced atomically).
    run
        The run: ``run.meta`` is written as the header line, then each of ``run.records`` as one line.

    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(run.meta, sort_keys=True) + "\n")
        for rec in run.records:
            fh.write(json.dumps(rec) + "\n")


def read_measured(path: str) -> MeasureRun:
    """Read a ``speedoflight-measured`` JSONL file (see :func:`write_measured`), checking every record.

    Parameters
    ----------
    path
        The JSONL file.

    Returns
    -------
    MeasureRun
        The header as ``meta`` and every further line as ``records``.

    Raises
    ------
    InputError
        When the file is missing or unreadable, a line is not JSON, the header is not a version-1
        ``speedoflight-measured`` header, or a record lacks a field or has accepted lengths outside 0..P.

    """
    try:
        with open(path, encoding="utf-8-sig") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it as text ({exc})") from None
    try:
        objs = [json_loads(x) for x in lines if x.strip()]
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno} is not JSON; the file may be truncated") from None
    if not objs or not isinstance(objs[0], dict) or objs[0].get("format") != FORMAT:
        raise InputError(f"{path}: the first line is not a {FORMAT} header; write the file with `speedoflight measure`")
    if objs[0].get("version") != VERSION:
        raise InputError(f"{path}: {FORMAT} version {objs[0].get('version')} is not supported (reads {VERSION})")
    for i, r in enumerate(objs[1:], start=2):
        ok = (
            isinstance(r, dict)
            and all(k in r for k in ("drafter", "shape", "P", "accepted", "tree_size", "prompt"))
            and isinstance(r["accepted"], list)
            and len(r["accepted"]) == len(r["tree_size"])
            and all(isinstance(x, int) and 0 <= x <= r["P"] for x in r["accepted"])
        )
        if not ok:
            raise InputError(
                f"{path}: line {i} is not a valid record (needs drafter, shape, P, prompt, and accepted/tree_size "
                "lists of equal length with 0 <= accepted <= P)"
            )
    return MeasureRun(records=objs[1:], meta=objs[0])
