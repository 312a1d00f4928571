"""Answer files of Spec-Bench and EAGLE: accept lengths, new tokens and decoding steps per turn."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import InputError
from ._text import _integer
from .plain import _from_iterations
from .result import Measured
from .uncertainty import between_groups

__all__ = ["read_answers"]


def read_answers(path: str, objs: list[Any], fmt: str) -> list[Measured]:
    """Read Spec-Bench or EAGLE answer objects (``fmt``) into one entry per model, interval between turns.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    objs
        The answer records, each with a ``choices`` list.
    fmt
        ``"spec-bench"`` or ``"eagle"``.

    Returns
    -------
    list of Measured
        One entry per ``model_id``: from ``accept_lengths`` where a model's answers have them (interval between
        choices), else from ``new_tokens`` and ``decoding_steps`` or ``idxs`` per turn (interval between turns).

    """
    per_model: dict[str, dict[str, list[Any]]] = {}
    notes: set[str] = set()
    for i, o in enumerate(objs, start=1):
        where = f"line {i}"
        if not isinstance(o, dict) or not isinstance(o.get("choices"), list):
            raise InputError(f"{path}: {where}: an answer record needs a 'choices' list")
        d = per_model.setdefault(str(o.get("model_id", "")), {"x": [], "g": [], "tot": [], "n": []})
        for j, ch in enumerate(o["choices"]):
            w = f"{where}, choice {j}"
            if not isinstance(ch, dict):
                raise InputError(f"{path}: {w}: not an object")
            group = (o.get("question_id", i), j)
            if fmt == "spec-bench" and "accept_lengths" in ch:
                al = ch["accept_lengths"]
                if not isinstance(al, list):
                    raise InputError(f"{path}: {w}: accept_lengths must be a list")
                xs = [_integer(path, w, "accept_lengths", a, minimum=1) - 1 for a in al]
                d["x"].extend(xs)
                d["g"].extend([group] * len(xs))
                steps = ch.get("decoding_steps")
                if isinstance(steps, list) and sum(steps) != len(xs):
                    notes.add("decoding_steps and the length of accept_lengths differ in some answers")
                continue
            new = ch.get("new_tokens")
            key = "decoding_steps" if fmt == "spec-bench" else "idxs"
            steps = ch.get(key)
            if not isinstance(new, list) or not isinstance(steps, list) or len(new) != len(steps):
                raise InputError(f"{path}: {w}: needs lists new_tokens and {key} of equal length (one per turn)")
            for t, (nt, st) in enumerate(zip(new, steps, strict=True)):
                nt = _integer(path, f"{w}, turn {t}", "new_tokens", nt)
                st = _integer(path, f"{w}, turn {t}", key, st)
                calls = st + 1 if fmt == "eagle" else st
                if calls == 0:
                    continue
                if nt < calls:
                    raise InputError(
                        f"{path}: {w}, turn {t}: {nt} new tokens from {calls} verifier calls; every call yields at "
                        "least one token"
                    )
                d["tot"].append(nt - calls)
                d["n"].append(calls)
    out = []
    for model, d in per_model.items():
        if d["x"]:
            m = _from_iterations(
                path,
                fmt,
                model,
                np.array(d["x"], dtype=np.int64),
                d["g"],
                np.array([], dtype=np.int64),
                "Spec-Bench's accept_lengths are tokens per step (X + 1); X = accept_length - 1",
            )
            out.append(replace(m, notes=tuple(sorted(notes))))
        elif d["n"]:
            mean, se, ci, how = between_groups(np.array(d["tot"], float), np.array(d["n"], float))
            conv = (
                "EAGLE's idxs is the last loop index of a turn, so a turn made idx + 1 verifier calls, each yielding "
                "X + 1 tokens; X = new_tokens / (idx + 1) - 1 (EAGLE's scripts divide by idx)"
                if fmt == "eagle"
                else "Spec-Bench: X = new_tokens / decoding_steps - 1 per turn"
            )
            out.append(
                Measured.build(
                    path,
                    fmt,
                    model,
                    (mean, se, ci, how.replace("requests/sequences", "turns")),
                    float(sum(d["n"])),
                    conv,
                    groups=len(d["n"]),
                    notes=tuple(sorted(notes)),
                )
            )
    if not out:
        raise InputError(f"{path}: no answer with decoding steps")
    return out
