"""Sanity checks on a comparison: another model in the log, a drafter above the ceiling, a broken drafter.

Each check returns plain sentences that ``compare``, ``report`` and ``--json`` (as ``warnings``) show; none
stops the run, since the user may know better (``--same-model`` acknowledges a name mismatch).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..logs.result import Measured

__all__ = ["BROKEN_FRACTION", "BROKEN_MAX_P", "comparison_warnings", "same_model"]

#: A drafter below this fraction of the ceiling ...
BROKEN_FRACTION = 0.2
#: ... at P at most this looks broken, not mistuned.
BROKEN_MAX_P = 4


def _canonical(name: str) -> str:
    """Return a model name without its organisation, file suffix, quantisation tag, case and punctuation."""
    n = name.strip().lower().rsplit("/", 1)[-1]
    n = re.sub(r"\.(gguf|safetensors|bin|pt)$", "", n)
    n = re.sub(r"[-_.](q\d[\w]*|f16|bf16|fp16|fp8|int[48]|awq|gptq)$", "", n)
    return re.sub(r"[^a-z0-9]", "", n)


def same_model(a: str, b: str) -> bool:
    """Return whether two model names plausibly name one model (``meta-llama/Llama-3.1-8B`` = ``llama-3.1-8b``).

    Parameters
    ----------
    a, b
        Model names, as a log and a dump write them.

    Returns
    -------
    bool
        True when the canonical names are equal, or one contains the other and is at least 6 characters long
        (so ``m`` is not ``SmolLM2-135M``).

    """
    ca, cb = _canonical(a), _canonical(b)
    if not (ca and cb):
        return False
    short, long_ = sorted((ca, cb), key=len)
    return short == long_ or (len(short) >= 6 and short in long_)


def comparison_warnings(
    measured: Sequence[Measured],
    dump_model: str,
    ceiling_at: Any,
    *,
    acknowledged: bool = False,
) -> list[str]:
    """Return the warnings of a comparison.

    Parameters
    ----------
    measured
        The measured systems.
    dump_model
        The model the dumps name ('' when unknown).
    ceiling_at
        ``ceiling_at(P) -> (lower, upper, ci_low, ci_high)`` or None where there is no ceiling at P.
    acknowledged
        ``--same-model``: the user says the log's model is the dump's, whatever the names.

    Returns
    -------
    list of str
        One sentence per problem found.

    """
    out: list[str] = []
    named = sorted({m.model for m in measured if m.model})
    if dump_model and not acknowledged:
        for name in named:
            if not same_model(name, dump_model):
                out.append(
                    f"model mismatch: the measured source names {name!r} but the dumps are {dump_model!r}; the "
                    "ceiling is the dumps' verifier's, so compare like with like, or pass --same-model if they are "
                    "the same model"
                )
    low: dict[str, list[tuple[int, float]]] = {}
    for m in measured:
        at = ceiling_at(m.P) if m.P is not None else None
        if at is None:
            continue
        lower, _upper, _lo, hi = at
        if m.mean_accepted > hi:
            out.append(
                f"above the ceiling: {m.name} reaches X = {m.mean_accepted:.2f} at P = {m.P}, above the ceiling's "
                f"upper end {hi:.2f}; the usual causes are another model, temperature or kind of text than the "
                "dumps', or a source that counts the verifier's bonus token (+1) in its acceptance length"
            )
        elif m.P is not None and m.P <= BROKEN_MAX_P and lower > 0 and m.mean_accepted < BROKEN_FRACTION * lower:
            low.setdefault(m.name, []).append((int(m.P), m.mean_accepted / lower))
    if low:  # one warning for every drafter this low: the causes and what to check are the same
        by_p: dict[str, list[str]] = {}
        for name, pts in low.items():
            fr = [100 * f for _, f in pts]
            r = f"{min(fr):.0f}%" if round(min(fr)) == round(max(fr)) else f"{min(fr):.0f}%..{max(fr):.0f}%"
            by_p.setdefault(", ".join(str(p) for p, _ in pts), []).append(f"{r}|{name}")
        groups = []
        for ps, who in by_p.items():
            named = [f"{n} {r}" for r, n in (w.split("|", 1) for w in who)]
            groups.append(f"{' and '.join(named)} of the ceiling at P = {ps}")
        out.append(
            f"broken drafter? {'; '.join(groups)} (X over the ceiling's lower estimate); this low at P <= "
            f"{BROKEN_MAX_P} looks like a drafter or configuration problem (wrong draft model or tokenizer, "
            "mismatched temperature, or a drafter that often proposes nothing, such as n-gram lookup without a "
            "match), not a tree-size question"
        )
    return out
