"""SGLang responses: ``meta_info`` verify steps, accepted and drafted tokens."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import InputError
from ._text import _count, _integer
from .result import Measured
from .uncertainty import between_groups

__all__ = ["read_sglang", "read_sglang_log"]


def read_sglang(path: str, objs: list[Any]) -> list[Measured]:
    """Read SGLang response objects (``meta_info``) into one entry.

    X is accepted tokens per verify step, with the interval between requests.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    objs
        The responses, each with ``meta_info`` (or its fields at the top level).

    Returns
    -------
    list of Measured
        One entry; requests with ``spec_verify_ct`` 0 are skipped (and noted).

    """
    totals, counts, sizes = [], [], []
    skipped = 0
    mismatched = 0
    for i, o in enumerate(objs, start=1):
        where = f"record {i}"
        if not isinstance(o, dict):
            raise InputError(f"{path}: {where} is not a JSON object")
        meta = o.get("meta_info", o)
        if not isinstance(meta, dict):
            raise InputError(f"{path}: {where}: meta_info is not an object")
        if "spec_verify_ct" not in meta:
            raise InputError(f"{path}: {where}: meta_info has no spec_verify_ct; was speculative decoding on?")
        v = _integer(path, where, "spec_verify_ct", meta["spec_verify_ct"])
        if v == 0:
            skipped += 1
            continue
        comp = meta.get("completion_tokens")
        if "spec_accept_token_num" in meta:
            a = _integer(path, where, "spec_accept_token_num", meta["spec_accept_token_num"])
        elif comp is not None:
            a = _integer(path, where, "completion_tokens", comp) - v
            if a < 0:
                raise InputError(f"{path}: {where}: completion_tokens {comp} is below spec_verify_ct {v}")
        else:
            raise InputError(f"{path}: {where}: needs spec_accept_token_num, or completion_tokens with spec_verify_ct")
        if "spec_draft_token_num" in meta:
            dnum = _integer(path, where, "spec_draft_token_num", meta["spec_draft_token_num"])
            if a > dnum:
                raise InputError(f"{path}: {where}: {a} tokens accepted but only {dnum} drafted")
            sizes.append(dnum / v)
        if "spec_accept_length" in meta and comp is not None:
            length = _count(path, where, "spec_accept_length", meta["spec_accept_length"])
            if abs(length - float(comp) / v) > 0.01 * length + 1e-6:
                raise InputError(
                    f"{path}: {where}: spec_accept_length {length} is not completion_tokens / spec_verify_ct "
                    f"= {float(comp) / v:.3f}"
                )
        if comp is not None and abs(float(comp) - (a + v)) > max(2.0, 0.05 * float(comp)):
            mismatched += 1
        totals.append(a)
        counts.append(v)
    if not counts:
        raise InputError(f"{path}: no request with spec_verify_ct > 0")
    mean, se, ci, how = between_groups(np.array(totals, float), np.array(counts, float))
    notes = []
    if skipped:
        notes.append(f"{skipped} request(s) without verify steps skipped")
    if mismatched:
        notes.append(
            f"{mismatched} request(s) where completion_tokens differs from accepted + verify steps by more than 2 "
            "(prefill token, stop strings or truncation)"
        )
    p = None
    if sizes and max(sizes) - min(sizes) < 1e-9 and abs(sizes[0] - round(sizes[0])) < 1e-9:
        p = round(sizes[0])
    return [
        Measured(
            source=path,
            format="sglang",
            label="",
            mean_accepted=mean,
            iterations=float(sum(counts)),
            se=se,
            ci=ci,
            uncertainty=how,
            convention="SGLang's spec_accept_length is completion tokens per verify step (X + 1); "
            "X = spec_accept_token_num / spec_verify_ct (or completion_tokens - spec_verify_ct when absent)",
            P=p,
            mean_draft_size=float(np.mean(sizes)) if sizes else None,
            groups=len(counts),
            notes=tuple(notes),
        )
    ]


_DECODE = re.compile(r"Decode batch(?: \[\d+\])?[.,]")
_RANK = re.compile(r"^\s*\[[^\]]*?((?: (?:DP|PP|TP|EP)\d+)+)\]")
_ACCEPT_LEN = re.compile(r"accept len: ([-+0-9.eEnaif]+)")
_RUNNING = re.compile(r"#running-req: (\d+)")


def read_sglang_log(path: str, text: str) -> list[Measured]:
    """Read SGLang server ``Decode batch ... accept len: A ...`` lines into one entry (and one per DP rank).

    ``accept len`` is the tokens a request gains per verify step over the last logging interval (40 decode
    batches by default), bonus token included: A = X + 1. SGLang's ``accept rate`` is left alone: its
    denominator changed between releases (it counted the tree slot of the current token, and before 0.5.15 the
    bonus token in the numerator), so it is not a per-token acceptance. A line does not say how many verify
    steps it covers; intervals are weighted by the running requests at the time of the line, an estimate.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        The server log; other lines are ignored.

    Returns
    -------
    list of Measured
        All ranks pooled, then one entry per DP rank when there are several.

    """
    by: dict[str, list[tuple[float, float]]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not _DECODE.search(line):
            continue
        m = _ACCEPT_LEN.search(line)
        if not m:
            continue
        where = f"line {lineno}"
        try:
            a = float(m.group(1))
        except ValueError:
            raise InputError(f"{path}: {where}: accept len {m.group(1)!r} is not a number") from None
        if not np.isfinite(a) or a < 1:
            raise InputError(f"{path}: {where}: accept len {a:g} is below 1 or not finite (it counts the bonus token)")
        r = _RUNNING.search(line)
        weight = float(r.group(1)) if r else 1.0
        if weight <= 0:
            continue
        rank = _RANK.search(line)
        dp = " ".join(x for x in (rank.group(1).split() if rank else []) if x.startswith("DP"))
        by.setdefault(dp, []).append((a - 1.0, weight))
    if not by:
        raise InputError(f"{path}: no SGLang 'Decode batch ... accept len' line")
    out = [_sglang_log_entry(path, "", [x for rows in by.values() for x in rows])]
    if len(by) > 1:
        out += [_sglang_log_entry(path, dp or "no DP rank", rows) for dp, rows in by.items()]
    return out


def _sglang_log_entry(path: str, label: str, rows: list[tuple[float, float]]) -> Measured:
    x = np.array([r[0] for r in rows])
    w = np.array([r[1] for r in rows])
    notes = (
        "each interval weighted by its running requests (the line does not say how many verify steps it "
        "covers): an estimate",
    )
    if len(rows) >= 5:
        mean, se, ci, _ = between_groups(x * w, w)
        how = f"batch means over {len(rows)} logging intervals, weighted by running requests (t-interval)"
    else:
        mean, se, ci = float((x * w).sum() / w.sum()), None, None
        how = f"{len(rows)} logging interval(s): too few for an interval"
    return Measured(
        source=path,
        format="sglang-log",
        label=label,
        mean_accepted=mean,
        iterations=float(w.sum()),
        se=se,
        ci=ci,
        uncertainty=how,
        convention="SGLang's 'accept len' is tokens per verify step, bonus token included: X = accept len - 1 "
        "(its 'accept rate' is not a per-token acceptance and is not used)",
        notes=notes,
    )
