"""Plain CSV / JSONL tables of per-iteration acceptance, and speedoflight's own measured files."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .._util.provenance import model_name
from .._util.text import is_number
from ..errors import InputError
from ._text import _count, _integer, _p_from_sizes
from .result import Measured
from .uncertainty import between_groups, from_distribution, totals_only

# --- plain CSV / JSONL ---------------------------------------------------------------------------------------

_X_KEYS = ("accepted", "accepted_tokens", "num_accepted")
_TPC_KEYS = ("tokens_per_call", "accept_length", "acceptance_length", "mean_acceptance_length", "tokens_per_step")
_P_KEYS = ("tree_size", "P", "p", "draft_tokens", "num_draft_tokens")
_GROUP_KEYS = ("sequence", "seq", "request", "request_id", "prompt", "question_id")
_LABEL_KEYS = ("label", "drafter", "system", "method")


def _key(r: dict[str, Any], lkey: str | None) -> tuple[str, str | None]:
    """Return a record's system: its label, and its kind of text where a ``kind`` column names one."""
    kind = r.get("kind")
    return (str(r.get(lkey, "")) if lkey else "", str(kind) if kind not in (None, "") else None)


def _named(label: str, kind: str | None) -> str:
    """Return the entry's label: a system measured on several kinds of text is one entry per kind."""
    return f"{label} [{kind}]".strip() if kind else label


__all__ = ["read_csv", "read_own", "read_plain"]

#: Accepted draft tokens in one verifier call above this are refused as a damaged or wrong column.
MAX_ACCEPTED = 65_536


#: A column of verify steps per record makes each record one request's mean, weighted by its steps.
_STEP_KEYS = ("steps", "num_spec_steps", "verify_steps", "spec_verify_ct", "decoding_steps", "iterations")


def _request_means(
    path: str, fmt: str, rows: list[dict[str, Any]], where: list[str], xkey: str | None, tkey: str | None, skey: str
) -> list[Measured]:
    """Read records of per-request means (X, or X + 1) with their verify steps: X = sum(steps x mean) / sum(steps)."""
    lkey = next((k for k in _LABEL_KEYS if k in set().union(*(r.keys() for r in rows))), None)
    by_label: dict[tuple[str, str | None], tuple[list[float], list[float]]] = {}
    name = xkey if xkey is not None else tkey
    for r, w in zip(rows, where, strict=True):
        raw, steps = r.get(name), r.get(skey)  # type: ignore[arg-type]
        if raw in (None, "") or steps in (None, ""):
            raise InputError(f"{path}: {w}: needs both {name!r} and {skey!r}")
        v = _num(path, w, str(name), raw)
        n = _num(path, w, skey, steps)
        if not (np.isfinite(v) and np.isfinite(n)) or n < 0 or v < (0 if xkey is not None else 1):
            raise InputError(f"{path}: {w}: {name} = {raw!r} with {skey} = {steps!r} is not a mean over steps")
        if n == 0:
            continue
        x = v if xkey is not None else v - 1
        if x > MAX_ACCEPTED:
            raise InputError(f"{path}: {w}: {x:g} accepted draft tokens per call is not a plausible mean")
        tot, cnt = by_label.setdefault(_key(r, lkey), ([], []))
        tot.append(x * n)
        cnt.append(n)
    if not by_label:
        raise InputError(f"{path}: no record with {skey} > 0")
    out = []
    for (label, kind), (tot, cnt) in by_label.items():
        if len(tot) >= 2:
            mean, se, ci, how = between_groups(np.array(tot), np.array(cnt))
        else:
            mean, se, ci, how = totals_only(tot[0], cnt[0], None)
        out.append(
            Measured.build(
                path,
                fmt,
                _named(label, kind),
                (mean, se, ci, how),
                float(sum(cnt)),
                f"each record is one request's mean '{name}' over its '{skey}' verify steps"
                + ("" if xkey is not None else " (X + 1; X = value - 1)")
                + "; requests weighted by their steps",
                groups=len(tot),
                kind=kind,
            )
        )
    return out


def read_plain(path: str, fmt: str, rows: list[dict[str, Any]], where: list[str]) -> list[Measured]:
    """Turn plain records (one iteration, or one request with lists) into entries per label.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    fmt
        The format recorded in each entry (``"csv"`` or ``"jsonl"``).
    rows
        One dict per record: X (``accepted`` ...) or tokens per call (``tokens_per_call`` ...), a value or a
        list; optionally P (``tree_size`` ...), a group (``sequence`` ...) and a label (``label`` ...).
    where
        Where each row is in the file (``"line 3"``), for error messages; one per row.

    Returns
    -------
    list of Measured
        One entry per label; the interval is between groups (the group column, or each record holding a list),
        else from the distribution of X.

    """
    if not rows:
        raise InputError(f"{path}: holds no records")
    keys = set().union(*(r.keys() for r in rows))
    xkey = next((k for k in _X_KEYS if k in keys), None)
    tkey = next((k for k in _TPC_KEYS if k in keys), None)
    if xkey is None and tkey is None:
        raise InputError(
            f"{path}: no column named 'accepted' (draft tokens accepted per iteration) or 'tokens_per_call' "
            f"(accepted + 1); found {', '.join(sorted(map(str, keys)))[:200]}"
        )
    skey = next((k for k in _STEP_KEYS if k in keys), None)
    if skey is not None:
        return _request_means(path, fmt, rows, where, xkey, tkey, skey)
    pkey = next((k for k in _P_KEYS if k in keys), None)
    gkey = next((k for k in _GROUP_KEYS if k in keys), None)
    lkey = next((k for k in _LABEL_KEYS if k in keys), None)
    by_label: dict[tuple[str, str | None], dict[str, list[Any]]] = {}
    for i, (r, w) in enumerate(zip(rows, where, strict=True)):
        raw = r.get(xkey) if xkey is not None else r.get(tkey)  # type: ignore[arg-type]
        name = xkey if xkey is not None else tkey
        if raw is None or raw == "":
            raise InputError(f"{path}: {w}: no value for {name!r}")
        values = raw if isinstance(raw, list) else [raw]
        xs = []
        for v in values:
            v = _num(path, w, str(name), v)
            x = _integer(path, w, str(name), v, minimum=0 if xkey is not None else 1)
            xs.append(x if xkey is not None else x - 1)
        sizes: list[int] = []
        if pkey is not None and r.get(pkey) not in (None, ""):
            rawp = r[pkey]
            plist = rawp if isinstance(rawp, list) else [rawp] * len(xs)
            if len(plist) != len(xs):
                raise InputError(f"{path}: {w}: {pkey} has {len(plist)} values for {len(xs)} iterations")
            sizes = [_integer(path, w, pkey, _num(path, w, pkey, p), minimum=0) for p in plist]
            for x, s in zip(xs, sizes, strict=True):
                if x > s:
                    raise InputError(
                        f"{path}: {w}: {x} accepted but only {s} drafted ({pkey}); more accepted than drafted"
                    )
        group = r.get(gkey) if gkey else (i if isinstance(raw, list) else None)
        d = by_label.setdefault(_key(r, lkey), {"x": [], "g": [], "s": []})
        d["x"].extend(xs)
        d["g"].extend([group] * len(xs))
        d["s"].extend(sizes)
    conv = (
        f"'{xkey}' counts accepted draft tokens per iteration (X)"
        if xkey is not None
        else f"'{tkey}' counts tokens per verifier call (X + 1); X = {tkey} - 1"
    )
    return [
        replace(
            _from_iterations(path, fmt, _named(label, kind), np.array(d["x"]), d["g"], np.array(d["s"]), conv),
            kind=kind,
        )
        for (label, kind), d in by_label.items()
    ]


def _num(path: str, where: str, name: str, v: Any) -> float:
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            raise InputError(f"{path}: {where}: {name} = {v!r} is not a number") from None
    return _count(path, where, name, v, minimum=-math.inf)


def _from_iterations(
    path: str, fmt: str, label: str, x: np.ndarray, groups: Sequence[Any], sizes: np.ndarray, convention: str
) -> Measured:
    keys = [g for g in groups]
    notes: list[str] = []
    top = float(x.max()) if len(x) else 0.0
    if top > MAX_ACCEPTED:
        raise InputError(
            f"{path}{': ' + label if label else ''}: {top:g} accepted draft tokens in one verifier call is not a plausible count (at most "
            f"{MAX_ACCEPTED}); check the column"
        )
    whole = bool(np.all(x == np.round(x)))
    if all(k is None for k in keys):
        if not whole:
            raise InputError(
                f"{path}{': ' + label if label else ''}: per-iteration values must be whole counts of tokens; for averages per request, "
                "give a request id column (request, request_id or sequence)"
            )
        counts = np.bincount(x.astype(np.int64))
        mean, se, ci, how = from_distribution(counts, "per-iteration values, no request ids")
        n_groups = None
    else:
        uniq: dict[Any, int] = {}
        idx = np.array([uniq.setdefault(k, len(uniq)) for k in keys])
        totals = np.bincount(idx, weights=x.astype(float))
        counts = np.bincount(idx).astype(float)
        mean, se, ci, how = between_groups(totals, counts)
        n_groups = len(uniq)
    p, mean_size = _p_from_sizes(sizes)
    dist = np.bincount(x.astype(np.int64)) / len(x) if whole else None
    return Measured.build(
        path,
        fmt,
        label,
        (mean, se, ci, how),
        float(len(x)),
        convention,
        P=p,
        mean_draft_size=mean_size,
        groups=n_groups,
        distribution=dist,
        notes=tuple(notes),
    )


def read_csv(path: str, text: str) -> list[Measured]:
    """Read a CSV with a header (``accepted`` or ``tokens_per_call`` ...) into entries per label.

    See :func:`read_plain`.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        The CSV content, header line first.

    Returns
    -------
    list of Measured
        One entry per label.

    """
    try:
        reader = csv.DictReader(io.StringIO(text))
        rows = [{k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in r.items() if k} for r in reader]
    except csv.Error as exc:
        raise InputError(f"{path}: is not valid CSV ({exc})") from None
    if reader.fieldnames is None:
        raise InputError(f"{path}: is empty")
    names = [f.strip() for f in reader.fieldnames]
    if all(is_number(f) for f in names):
        raise InputError(
            f"{path}: the first line holds numbers, not column names; add a header line such as 'accepted' "
            "(draft tokens accepted per iteration) or 'tokens_per_call'"
        )
    return read_plain(path, "csv", rows, [f"line {i + 2}" for i in range(len(rows))])


# --- speedoflight-measured -----------------------------------------------------------------------------------


def read_own(path: str, run: Any = None) -> list[Measured]:
    """Read a ``speedoflight-measured`` file into one entry per (drafter, shape, P), interval between prompts.

    Parameters
    ----------
    path
        A JSONL file written by ``speedoflight measure``.
    run
        The file already read (:func:`~speedoflight.formats.measured.read_measured`): it is not read again.

    Returns
    -------
    list of Measured
        One entry per (drafter, shape, P), labelled ``"drafter shape"``, with the recorded P.

    """
    from ..formats.measured import read_measured

    run = run if run is not None else read_measured(path)
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in run.records:
        groups.setdefault((r["drafter"], r["shape"], int(r["P"])), []).append(r)
    out = []
    for (drafter, shape, p), recs in groups.items():
        x = np.concatenate([np.asarray(r["accepted"], dtype=np.int64) for r in recs])
        g = [r["prompt"] for r in recs for _ in r["accepted"]]
        sizes = np.concatenate([np.asarray(r["tree_size"], dtype=np.int64) for r in recs])
        m = _from_iterations(
            path,
            "speedoflight-measured",
            f"{drafter} {shape}",
            x,
            g,
            sizes,
            "accepted draft tokens per iteration (X), as speedoflight measure records it",
        )
        out.append(
            replace(
                m,
                P=p,
                notes=(*m.notes, f"model {model_name(run.meta) or '?'}, temperature {run.meta.get('temperature')}"),
                model=model_name(run.meta) or None,
            )
        )
    return out
