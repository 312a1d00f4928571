"""SGLang responses: ``meta_info`` verify steps, accepted and drafted tokens."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ._text import _count, _integer
from .result import Measured
from .uncertainty import between_groups

__all__ = ["read_sglang"]


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
