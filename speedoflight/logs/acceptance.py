"""Measured acceptance from the logs people have, normalised to X per iteration.

Every reader returns :class:`Measured` entries: X is the number of **draft
tokens accepted per iteration** (verifier call); the iteration produces
X + 1 tokens, which serving systems call the "acceptance length" or
"tokens per step". Each entry says which convention its source used
(``convention``) and how its uncertainty was obtained (``uncertainty``).

Formats (:func:`read_acceptance` detects them from the content):

``csv`` / ``jsonl``
    Plain per-iteration logs: a column (CSV header) or key (JSONL) named
    ``accepted`` (X) or ``tokens_per_call`` / ``accept_length`` (X + 1);
    optional ``tree_size`` (or ``P``), a group column ``sequence`` /
    ``request`` (for the interval over groups), and ``label`` / ``drafter``
    to hold several systems in one file. A JSONL line may also hold a list
    (``{"accepted": [2, 0, 3]}``: one request per line).
``speedoflight-measured``
    The JSONL written by ``speedoflight measure``; one entry per drafter,
    shape and P.
``vllm-metrics``
    The Prometheus text of vLLM's ``/metrics``: ``vllm:spec_decode_num_drafts``,
    ``..._num_draft_tokens``, ``..._num_accepted_tokens`` and
    ``..._num_accepted_tokens_per_pos{position="i"}`` (with or without
    ``_total``). The counters are cumulative since the server started; the
    per-position counter at i counts drafts whose position i was accepted,
    i.e. it estimates P(X > i), not a conditional rate.
``vllm-log``
    vLLM's ``SpecDecoding metrics:`` log lines (each covers the interval
    since the previous one): fields are read by name, unknown ones ignored.
``sglang``
    Responses with ``meta_info`` (``spec_verify_ct``, ``spec_accept_token_num``,
    ``spec_draft_token_num``, ``spec_accept_length`` = completion tokens per
    verify step), one per JSONL line or a JSON list.
``spec-bench`` / ``eagle``
    Answer JSONL: ``choices[].accept_lengths`` (tokens per step, X + 1),
    ``new_tokens``, ``decoding_steps`` (Spec-Bench), ``choices[].new_tokens``
    and ``idxs`` (EAGLE; ``idxs`` is the last loop index of a turn, so the
    turn made idx + 1 verifier calls).
``llama.cpp``
    Server logs: per-request ``draft acceptance = R (A accepted / G generated),
    mean acceptance length = L, acceptance rate per position = (...)`` lines,
    and cumulative ``statistics <impl>: ... #gen drafts = N, ... #acc tokens = A,
    #mean acc len = L`` lines (one entry per implementation).

Where a source prints rounded values (vLLM and llama.cpp print the mean
acceptance length to 2 decimals and per-position rates to 3), the checks
between its numbers allow for that rounding and nothing more.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any

import numpy as np

from .._util.provenance import model_name
from .._util.text import is_number
from ..errors import InputError

__all__ = ["FORMATS", "Measured", "read_acceptance", "read_many"]

#: Formats :func:`read_acceptance` knows, with what each one counts.
FORMATS = {
    "csv": "per-iteration accepted draft tokens (or tokens per call) in CSV",
    "jsonl": "per-iteration accepted draft tokens (or tokens per call) in JSONL",
    "speedoflight-measured": "speedoflight measure output: accepted draft tokens per iteration",
    "vllm-metrics": "vLLM /metrics counters: drafts, draft tokens, accepted tokens, accepted per position",
    "vllm-log": "vLLM 'SpecDecoding metrics:' log lines",
    "sglang": "SGLang meta_info: spec_verify_ct, spec_accept_token_num, spec_draft_token_num",
    "spec-bench": "Spec-Bench answers: accept_lengths (tokens per step), new_tokens, decoding_steps",
    "eagle": "EAGLE answers: new_tokens and idxs (last loop index) per turn",
    "llama.cpp": "llama.cpp server log: draft acceptance / statistics lines",
}


@dataclass(frozen=True)
class Measured:
    """Measured acceptance of one system, as accepted draft tokens per iteration (X).

    Attributes
    ----------
    source : str
        The file it was read from.
    format : str
        One of :data:`FORMATS`.
    label : str
        Which system inside the file (drafter, model, implementation); may be empty.
    mean_accepted : float
        Mean X, accepted draft tokens per verifier call.
    iterations : float
        Verifier calls behind the mean (may be fractional where recovered from rounded printouts).
    se : float or None
        Standard error of ``mean_accepted``; None where none can honestly be given.
    ci : tuple of float or None
        95% confidence interval.
    uncertainty : str
        How ``se`` was obtained.
    convention : str
        What the source counted and how it was converted to X.
    P : int or None
        Draft tokens per iteration (tree size, or speculative tokens of a chain) when the source records it.
    mean_draft_size : float or None
        Mean draft tokens actually proposed per iteration (drafters may propose fewer than P).
    groups : int or None
        Requests or sequences behind the mean.
    distribution : numpy.ndarray or None
        Estimated P(X = i), i = 0, 1, ..., when the source gives it.
    notes : tuple of str
        Anything the reader noticed (checks that needed a tolerance, skipped records).

    """

    source: str
    format: str
    label: str
    mean_accepted: float
    iterations: float
    se: float | None
    ci: tuple[float, float] | None
    uncertainty: str
    convention: str
    P: int | None = None
    mean_draft_size: float | None = None
    groups: int | None = None
    distribution: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    @property
    def tokens_per_call(self) -> float:
        """Tokens per verifier call, X + 1."""
        return self.mean_accepted + 1.0

    @property
    def name(self) -> str:
        """``label`` if set, else the file's name."""
        return self.label or os.path.basename(self.source)

    def with_p(self, p: int) -> Measured:
        """Return the same measurement with P given by the user."""
        note = f"P = {p} given by the user" + (f" (the source recorded {self.P})" if self.P not in (None, p) else "")
        return replace(self, P=int(p), notes=(*self.notes, note))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "source": self.source,
            "format": self.format,
            "label": self.label,
            "mean_accepted": self.mean_accepted,
            "tokens_per_call": self.tokens_per_call,
            "se": self.se,
            "ci": list(self.ci) if self.ci else None,
            "uncertainty": self.uncertainty,
            "iterations": self.iterations,
            "groups": self.groups,
            "P": self.P,
            "mean_draft_size": self.mean_draft_size,
            "convention": self.convention,
            "distribution": None if self.distribution is None else [float(x) for x in self.distribution],
            "notes": list(self.notes),
        }


# --- uncertainty ---------------------------------------------------------------------------------------------

Z95 = NormalDist().inv_cdf(0.975)  # stdlib: reading a log must not wait for scipy.stats


def _cluster(totals: np.ndarray, counts: np.ndarray) -> tuple[float, float | None, tuple[float, float] | None, str]:
    """Ratio estimator sum(totals)/sum(counts) with the between-group (cluster) standard error."""
    totals = np.asarray(totals, dtype=float)
    counts = np.asarray(counts, dtype=float)
    n = counts.sum()
    mean = float(totals.sum() / n)
    g = len(counts)
    if g < 2:
        return mean, None, None, "one group only: no interval"
    resid = totals - mean * counts
    se = float(math.sqrt(g / (g - 1) * np.sum(resid**2)) / n)
    from scipy import special

    t = float(special.stdtrit(g - 1, 0.975))  # the Student-t quantile, as stats.t.ppf
    return mean, se, (mean - t * se, mean + t * se), f"between {g} groups (requests/sequences), t-interval"


def _from_distribution(
    counts: np.ndarray, what: str, mean: float | None = None
) -> tuple[float, float | None, tuple[float, float] | None, str]:
    """Mean and standard error of X from counts of X = 0, 1, ..., treating iterations as independent.

    ``mean`` replaces the counts' own mean where exact totals are known and the counts come from rounded rates.
    """
    counts = np.clip(np.asarray(counts, dtype=float), 0, None)
    n = counts.sum()
    x = np.arange(len(counts))
    if mean is None:
        mean = float((counts * x).sum() / n)
    if n < 2:
        return mean, None, None, "a single iteration: no interval"
    var = float((counts * (x - mean) ** 2).sum() / (n - 1))
    se = math.sqrt(var / n)
    return (
        mean,
        se,
        (mean - Z95 * se, mean + Z95 * se),
        f"from the distribution of X ({what}), iterations treated as independent: iterations of one request are "
        "correlated, so the true error is larger",
    )


def _totals_only(accepted: float, iterations: float, k: int | None) -> tuple[float, float | None, Any, str]:
    """Only totals: the mean, and at most the Bhatia-Davis bound sqrt(m (K - m) / n) when X <= K is known."""
    mean = accepted / iterations
    if k is None or iterations < 2:
        return mean, None, None, "totals only: no standard error can be given"
    se = math.sqrt(max(mean * (k - mean), 0.0) / iterations)
    return (
        mean,
        se,
        (mean - Z95 * se, mean + Z95 * se),
        f"totals only: se is the largest any distribution on 0..{k} with this mean allows (Bhatia-Davis), "
        "iterations treated as independent",
    )


def _distribution_from_cumulative(drafts: float, per_pos: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return counts of X = 0..K from the drafts and the counts of drafts with position i accepted (P(X > i))."""
    c = np.concatenate([[drafts], np.asarray(per_pos, dtype=float), [0.0]])
    return c[:-1] - c[1:]


# --- shared helpers ------------------------------------------------------------------------------------------


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder; give the log file itself") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror})") from None
    if raw[:2] == b"PK" or raw[:1] == b"\x80" or b"\x00" in raw[:4096]:
        raise InputError(
            f"{path}: is a binary file (an archive or a pickle?), not an acceptance log; give a CSV, JSONL, "
            "Prometheus text or server log"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: is not UTF-8 text; give a CSV, JSONL, Prometheus text or server log") from None


def _json_objects(path: str, text: str) -> list[Any]:
    """JSONL lines, or one JSON document (an object or a list of objects)."""
    stripped = text.strip()
    if not stripped:
        raise InputError(f"{path}: is empty")
    if stripped[0] == "[":
        try:
            doc = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: is not valid JSON ({exc.msg} at line {exc.lineno}); truncated?") from None
        return list(doc)
    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if len(out) == 0 and stripped[0] == "{":
                try:
                    return [json.loads(stripped)]
                except json.JSONDecodeError:
                    pass
            raise InputError(f"{path}: line {i} is not JSON; the file may be truncated") from None
    return out


def _count(path: str, where: str, name: str, value: Any, *, minimum: float = 0) -> float:
    """Check a finite, non-negative (or >= minimum) number; raise one clear error otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{path}: {where}: {name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InputError(f"{path}: {where}: {name} is {value}; it must be finite")
    if v < minimum:
        raise InputError(f"{path}: {where}: {name} = {value:g} is below {minimum:g}; counts cannot be negative")
    return v


def _integer(path: str, where: str, name: str, value: Any, *, minimum: int = 0) -> int:
    v = _count(path, where, name, value, minimum=minimum)
    if v != int(v):
        raise InputError(f"{path}: {where}: {name} = {value} is not a whole number")
    return int(v)


def _p_from_sizes(sizes: np.ndarray) -> tuple[int | None, float | None]:
    """P (the largest draft) and the mean draft size."""
    if len(sizes) == 0:
        return None, None
    return int(np.max(sizes)), float(np.mean(sizes))


# --- plain CSV / JSONL ---------------------------------------------------------------------------------------

_X_KEYS = ("accepted", "accepted_tokens", "num_accepted")
_TPC_KEYS = ("tokens_per_call", "accept_length", "acceptance_length", "tokens_per_step")
_P_KEYS = ("tree_size", "P", "p", "draft_tokens", "num_draft_tokens")
_GROUP_KEYS = ("sequence", "seq", "request", "request_id", "prompt", "question_id")
_LABEL_KEYS = ("label", "drafter", "system", "method")


def _plain(path: str, fmt: str, rows: list[dict[str, Any]], where: list[str]) -> list[Measured]:
    """Plain records (one iteration, or one request with lists) to entries per label."""
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
    pkey = next((k for k in _P_KEYS if k in keys), None)
    gkey = next((k for k in _GROUP_KEYS if k in keys), None)
    lkey = next((k for k in _LABEL_KEYS if k in keys), None)
    by_label: dict[str, dict[str, list[Any]]] = {}
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
        d = by_label.setdefault(str(r.get(lkey, "")) if lkey else "", {"x": [], "g": [], "s": []})
        d["x"].extend(xs)
        d["g"].extend([group] * len(xs))
        d["s"].extend(sizes)
    conv = (
        f"'{xkey}' counts accepted draft tokens per iteration (X)"
        if xkey is not None
        else f"'{tkey}' counts tokens per verifier call (X + 1); X = {tkey} - 1"
    )
    return [
        _from_iterations(path, fmt, label, np.array(d["x"]), d["g"], np.array(d["s"]), conv)
        for label, d in by_label.items()
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
    if all(k is None for k in keys):
        counts = np.bincount(x.astype(np.int64))
        mean, se, ci, how = _from_distribution(counts, "per-iteration values, no request ids")
        n_groups = None
    else:
        uniq: dict[Any, int] = {}
        idx = np.array([uniq.setdefault(k, len(uniq)) for k in keys])
        totals = np.bincount(idx, weights=x.astype(float))
        counts = np.bincount(idx).astype(float)
        mean, se, ci, how = _cluster(totals, counts)
        n_groups = len(uniq)
    p, mean_size = _p_from_sizes(sizes)
    dist = np.bincount(x.astype(np.int64)) / len(x)
    return Measured(
        source=path,
        format=fmt,
        label=label,
        mean_accepted=mean,
        iterations=float(len(x)),
        se=se,
        ci=ci,
        uncertainty=how,
        convention=convention,
        P=p,
        mean_draft_size=mean_size,
        groups=n_groups,
        distribution=dist,
        notes=tuple(notes),
    )


def _read_csv(path: str, text: str) -> list[Measured]:
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
    return _plain(path, "csv", rows, [f"line {i + 2}" for i in range(len(rows))])


# --- speedoflight-measured -----------------------------------------------------------------------------------


def _read_own(path: str) -> list[Measured]:
    from ..formats.measured import read_measured

    run = read_measured(path)
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
            )
        )
    return out


# --- vLLM /metrics ------------------------------------------------------------------------------------------

_VLLM = "vllm:spec_decode_num_"


def _read_prometheus(path: str, text: str) -> list[Measured]:
    from prometheus_client.parser import text_string_to_metric_families

    per_model: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    try:
        samples = [s for fam in text_string_to_metric_families(text) for s in fam.samples]
    except (ValueError, TypeError, IndexError) as exc:
        raise InputError(f"{path}: is not valid Prometheus text ({exc}); save the body of GET /metrics as is") from None
    for s in samples:
        if not s.name.startswith(_VLLM) or s.name.endswith("_created"):
            continue
        base = s.name[len(_VLLM) :].removesuffix("_total")
        if base not in ("drafts", "draft_tokens", "accepted_tokens", "accepted_tokens_per_pos"):
            continue
        key = (base, tuple(sorted(s.labels.items())))
        if key in seen:
            raise InputError(
                f"{path}: {s.name} {dict(s.labels)} appears twice; save one scrape per file (the counters are "
                "cumulative: for an interval, subtract two scrapes)"
            )
        seen.add(key)
        value = _count(path, s.name, "the counter", s.value)
        model = s.labels.get("model_name", "")
        d = per_model.setdefault(model, {"drafts": 0.0, "draft_tokens": 0.0, "accepted_tokens": 0.0, "pos": {}})
        d.setdefault("have", set()).add(base)
        if base == "accepted_tokens_per_pos":
            if "position" not in s.labels:
                raise InputError(f"{path}: {s.name} has no 'position' label")
            pos = _integer(path, s.name, "position", _num(path, s.name, "position", s.labels["position"]))
            d["pos"][pos] = d["pos"].get(pos, 0.0) + value  # summed over engines
        else:
            d[base] += value
    if not per_model:
        raise InputError(
            f"{path}: no vllm:spec_decode_num_* counters; was speculative decoding enabled (and --disable-log-stats off)?"
        )
    out = []
    for model, d in per_model.items():
        where = f"model {model!r}" if model else "the counters"
        missing = {"drafts", "accepted_tokens"} - d["have"]
        if missing:
            raise InputError(f"{path}: {where}: vllm:spec_decode_num_{sorted(missing)[0]} is missing")
        drafts, acc, dtok = d["drafts"], d["accepted_tokens"], d["draft_tokens"]
        if drafts == 0:
            raise InputError(f"{path}: {where}: no drafts yet (vllm:spec_decode_num_drafts is 0); scrape after traffic")
        if "draft_tokens" in d["have"] and acc > dtok:
            raise InputError(f"{path}: {where}: {acc:g} tokens accepted but only {dtok:g} drafted")
        notes: list[str] = []
        per_pos = [d["pos"][i] for i in sorted(d["pos"])]
        if d["pos"] and sorted(d["pos"]) != list(range(len(per_pos))):
            raise InputError(f"{path}: {where}: per-position counters have gaps (positions {sorted(d['pos'])})")
        conv = (
            "counters: accepted draft tokens / drafts = X; vLLM's mean acceptance length is X + 1; the per-position "
            "counters are cumulative (drafts with position i accepted, i.e. P(X > i))"
        )
        k = len(per_pos) or None
        if per_pos:
            if any(b > a for a, b in itertools.pairwise(per_pos)) or per_pos[0] > drafts:
                raise InputError(
                    f"{path}: {where}: accepted-per-position counts rise with the position or exceed the drafts; "
                    "a later position can only be accepted after the earlier ones"
                )
            if abs(sum(per_pos) - acc) > 0.5:
                raise InputError(
                    f"{path}: {where}: the per-position counts sum to {sum(per_pos):g} but "
                    f"{acc:g} tokens were accepted; the scrape is inconsistent"
                )
            counts = _distribution_from_cumulative(drafts, per_pos)
            mean, se, ci, how = _from_distribution(counts, "per-position counters")
            dist = counts / drafts
        else:
            mean, se, ci, how = _totals_only(acc, drafts, None)
            dist = None
        out.append(
            Measured(
                source=path,
                format="vllm-metrics",
                label=model,
                mean_accepted=mean,
                iterations=drafts,
                se=se,
                ci=ci,
                uncertainty=how,
                convention=conv,
                P=k,
                mean_draft_size=dtok / drafts if "draft_tokens" in d["have"] else None,
                distribution=dist,
                notes=tuple(notes),
            )
        )
    return out


# --- printed lines (vLLM and llama.cpp) ----------------------------------------------------------------------

_KEY = re.compile(r"(?:^|,\s*)([A-Za-z#][A-Za-z0-9 #/()\-]*?)\s*[:=]\s*")


def _fields(text: str) -> dict[str, str]:
    """``Key: value, Key: value, ...`` (or ``key = value``) to a dict; lists like ``0.8, 0.5`` stay whole."""
    out: dict[str, str] = {}
    text = text.strip()
    spans = [(m.start(), m.end(), m.group(1).strip().lower()) for m in _KEY.finditer(text)]
    for i, (_, end, key) in enumerate(spans):
        stop = spans[i + 1][0] if i + 1 < len(spans) else len(text)
        out[key] = text[end:stop].strip().rstrip(",").strip()
    return out


def _number(s: str) -> float:
    m = re.match(r"\s*\(?\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|nan|inf)", s)
    if not m:
        raise ValueError(s)
    return float(m.group(1))


def _numbers(s: str) -> list[float]:
    return [float(v) for v in re.findall(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", s)]


def _drafts_from_printout(
    path: str, where: str, accepted: float, drafted: float, mean_len: float | None, rates: list[float] | None
) -> tuple[float, str | None]:
    """Return the number of drafts behind a printed line, and a note when it is recovered from the rounded mean.

    A chain drafts K tokens every time, so drafts = drafted / K, where K is the number of per-position
    rates; the printed mean acceptance length (2 decimals) must then equal 1 + accepted / drafts. When it
    does not (drafts of varying length), drafts come from the printed mean instead.
    """
    k = len(rates) if rates else None
    if mean_len is not None:
        if mean_len < 1 - 0.005:
            raise InputError(
                f"{path}: {where}: mean acceptance length {mean_len} is below 1 (it counts the bonus token)"
            )
        if rates is not None and abs(sum(rates) - (mean_len - 1)) > 0.005 + 0.0005 * len(rates) + 1e-9:
            raise InputError(
                f"{path}: {where}: the per-position rates sum to {sum(rates):.3f} but the mean acceptance length "
                f"minus 1 is {mean_len - 1:.2f}; the line is inconsistent"
            )
    if k and drafted > 0 and abs(drafted / k - round(drafted / k)) < 1e-9:
        n = drafted / k
        if mean_len is None or abs(1 + accepted / n - mean_len) <= 0.005 + 1e-9:
            return n, None
    if mean_len is None:
        raise InputError(
            f"{path}: {where}: the line prints no mean acceptance length, so the number of drafts cannot be "
            "recovered; use vLLM's /metrics counters or llama.cpp's statistics lines"
        )
    if mean_len - 1 <= 0.005:
        if accepted > 0:
            raise InputError(
                f"{path}: {where}: {accepted:g} tokens accepted but the mean acceptance length is {mean_len}"
            )
        if k:
            return drafted / k, None
        raise InputError(
            f"{path}: {where}: nothing accepted and no per-position rates: the number of drafts is unknown"
        )
    lo, hi = accepted / (mean_len + 0.005 - 1), accepted / max(mean_len - 0.005 - 1, 1e-12)
    n = accepted / (mean_len - 1)
    return n, f"drafts recovered from the printed mean acceptance length (between {lo:.1f} and {hi:.1f})"


def _read_vllm_log(path: str, text: str) -> list[Measured]:
    totals: list[float] = []
    counts: list[float] = []
    per_pos_sum: np.ndarray | None = None
    drafted_total = 0.0
    notes: set[str] = set()
    k_seen: set[int] = set()
    n_lines = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        at = line.find("SpecDecoding metrics:")
        if at < 0:
            continue
        where = f"line {lineno}"
        f = _fields(line[at + len("SpecDecoding metrics:") :])
        try:
            acc = float(_number(f["accepted"]))
            drafted = float(_number(f["drafted"]))
        except (KeyError, ValueError):
            raise InputError(
                f"{path}: {where}: a SpecDecoding line without 'Accepted: N tokens, Drafted: N tokens'"
            ) from None
        mean_len = _number(f["mean acceptance length"]) if "mean acceptance length" in f else None
        rates = _numbers(f["per-position acceptance rate"]) if "per-position acceptance rate" in f else None
        _count(path, where, "Accepted", acc)
        _count(path, where, "Drafted", drafted)
        if acc > drafted:
            raise InputError(f"{path}: {where}: {acc:g} tokens accepted but only {drafted:g} drafted")
        if drafted == 0:
            continue  # an idle interval
        n, note = _drafts_from_printout(path, where, acc, drafted, mean_len, rates)
        if note:
            notes.add("some intervals: " + note)
        n_lines += 1
        totals.append(acc)
        counts.append(n)
        drafted_total += drafted
        if rates is not None:
            k_seen.add(len(rates))
            c = np.asarray(rates) * n
            if per_pos_sum is None:
                per_pos_sum = c
            elif len(c) == len(per_pos_sum):
                per_pos_sum = per_pos_sum + c
            else:
                per_pos_sum = None
                notes.add("the number of speculative positions changed between lines")
    if n_lines == 0:
        raise InputError(f"{path}: no 'SpecDecoding metrics:' line with drafted tokens")
    drafts = float(sum(counts))
    acc_total = float(sum(totals))
    dist = None
    if n_lines >= 5:
        mean, se, ci, _ = _cluster(np.array(totals), np.array(counts))
        how = f"batch means over {n_lines} logging intervals (t-interval)"
    elif per_pos_sum is not None and len(k_seen) == 1:
        mean, se, ci, how = _from_distribution(
            _distribution_from_cumulative(drafts, per_pos_sum), "per-position rates", acc_total / drafts
        )
    else:
        mean, se, ci, how = _totals_only(acc_total, drafts, next(iter(k_seen)) if len(k_seen) == 1 else None)
    if per_pos_sum is not None and len(k_seen) == 1:
        dist = np.clip(_distribution_from_cumulative(drafts, per_pos_sum) / drafts, 0, 1)
    return [
        Measured(
            source=path,
            format="vllm-log",
            label="",
            mean_accepted=mean,
            iterations=drafts,
            se=se,
            ci=ci,
            uncertainty=how,
            convention="vLLM prints the mean acceptance length 1 + accepted/drafts (bonus token included); "
            "X = accepted draft tokens / drafts; lines are per logging interval and are summed",
            P=next(iter(k_seen)) if len(k_seen) == 1 else None,
            mean_draft_size=drafted_total / drafts,
            distribution=dist,
            notes=tuple(sorted(notes)),
        )
    ]


_LCPP_SLOT = re.compile(
    r"draft acceptance(?: rate)?\s*=\s*([\d.]+)\s*\(\s*(\d+)\s*accepted\s*/\s*(\d+)\s*generated\s*\)(.*)$"
)
_LCPP_STATS = re.compile(r"statistics\s+([\w\-.]+)\s*:(.*)$")


def _read_llamacpp(path: str, text: str) -> list[Measured]:
    slots_t: list[float] = []
    slots_n: list[float] = []
    slot_drafted = 0.0
    slot_k: set[int] = set()
    slot_notes: set[str] = set()
    stats: dict[str, list[dict[str, Any]]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        where = f"line {lineno}"
        m = _LCPP_SLOT.search(line)
        if m:
            rate, acc, gen = float(m.group(1)), float(m.group(2)), float(m.group(3))
            if acc > gen:
                raise InputError(f"{path}: {where}: {acc:g} accepted but only {gen:g} generated")
            if gen and abs(rate - acc / gen) > 1e-4 + 0.5e-5:
                raise InputError(f"{path}: {where}: draft acceptance {rate} is not {acc:g}/{gen:g}")
            f = _fields(m.group(4))
            mean_len = _number(f["mean acceptance length"]) if "mean acceptance length" in f else None
            rates = _numbers(f["acceptance rate per position"]) if "acceptance rate per position" in f else None
            if gen == 0:
                continue
            n, note = _drafts_from_printout(path, where, acc, gen, mean_len, rates)
            if note:
                slot_notes.add("some requests: " + note)
            if rates:
                slot_k.add(len(rates))
            slots_t.append(acc)
            slots_n.append(n)
            slot_drafted += gen
            continue
        m = _LCPP_STATS.search(line)
        if m and "#gen drafts" in m.group(2):
            f = _fields(m.group(2))
            try:
                rec = {
                    "drafts": _number(f["#gen drafts"]),
                    "gen": _number(f["#gen tokens"]),
                    "acc": _number(f["#acc tokens"]),
                    "acc_drafts": _number(f["#acc drafts"]) if "#acc drafts" in f else None,
                    "mean_len": _number(f["#mean acc len"]) if "#mean acc len" in f else None,
                    "rates": _numbers(f["#acc rate/pos"]) if "#acc rate/pos" in f else None,
                    "where": where,
                }
            except (KeyError, ValueError):
                raise InputError(
                    f"{path}: {where}: a statistics line without '#gen drafts', '#gen tokens' and '#acc tokens'"
                ) from None
            stats.setdefault(m.group(1), []).append(rec)
    out = []
    if slots_n:
        mean, se, ci, how = _cluster(np.array(slots_t), np.array(slots_n))
        out.append(
            Measured(
                source=path,
                format="llama.cpp",
                label="requests (draft acceptance lines)",
                mean_accepted=mean,
                iterations=float(sum(slots_n)),
                se=se,
                ci=ci,
                uncertainty=how,
                convention="llama.cpp prints accepted/generated draft tokens per request and the mean acceptance "
                "length 1 + accepted/drafts; X = accepted / drafts",
                P=next(iter(slot_k)) if len(slot_k) == 1 else None,
                mean_draft_size=slot_drafted / sum(slots_n),
                groups=len(slots_n),
                notes=tuple(sorted(slot_notes)),
            )
        )
    for impl, recs in stats.items():
        # cumulative counters: a drop means the server restarted; add up the last line of every run
        finals = [
            r for r, nxt in zip(recs, [*recs[1:], None], strict=True) if nxt is None or nxt["drafts"] < r["drafts"]
        ]
        drafts = sum(r["drafts"] for r in finals)
        acc = sum(r["acc"] for r in finals)
        gen = sum(r["gen"] for r in finals)
        for r in finals:
            w = r["where"]
            if r["acc"] > r["gen"]:
                raise InputError(f"{path}: {w}: #acc tokens {r['acc']:g} exceeds #gen tokens {r['gen']:g}")
            if r["acc_drafts"] is not None and r["acc_drafts"] > r["drafts"]:
                raise InputError(f"{path}: {w}: #acc drafts exceeds #gen drafts")
            if (
                r["drafts"]
                and r["mean_len"] is not None
                and abs(1 + r["acc"] / r["drafts"] - r["mean_len"]) > 0.005 + 1e-9
            ):
                raise InputError(
                    f"{path}: {w}: #mean acc len {r['mean_len']} is not 1 + #acc tokens / #gen drafts "
                    f"= {1 + r['acc'] / r['drafts']:.3f}"
                )
            if (
                r["drafts"]
                and r["rates"]
                and abs(sum(r["rates"]) - r["acc"] / r["drafts"]) > 0.0005 * len(r["rates"]) + 1e-9
            ):
                raise InputError(
                    f"{path}: {w}: #acc rate/pos sums to {sum(r['rates']):.3f}, not #acc tokens / #gen drafts"
                )
        if drafts == 0:
            continue
        ks = {len(r["rates"]) for r in finals if r["rates"]}
        if len(finals) == 1 and finals[0]["rates"]:
            counts = _distribution_from_cumulative(drafts, np.asarray(finals[0]["rates"]) * drafts)
            mean, se, ci, how = _from_distribution(counts, "#acc rate/pos", acc / drafts)
            dist = np.clip(counts / drafts, 0, 1)
        else:
            mean, se, ci, how = _totals_only(acc, drafts, next(iter(ks)) if len(ks) == 1 else None)
            dist = None
        out.append(
            Measured(
                source=path,
                format="llama.cpp",
                label=impl,
                mean_accepted=mean,
                iterations=drafts,
                se=se,
                ci=ci,
                uncertainty=how,
                convention="llama.cpp statistics lines are cumulative per drafting implementation; "
                "X = #acc tokens / #gen drafts (its #mean acc len is X + 1)",
                P=next(iter(ks)) if len(ks) == 1 else None,
                mean_draft_size=gen / drafts,
                distribution=dist,
                notes=(f"{len(finals)} server run(s) (cumulative counters; a drop starts a new run)",),
            )
        )
    if not out:
        raise InputError(f"{path}: no llama.cpp 'draft acceptance' or 'statistics' line with drafts")
    return out


# --- SGLang, Spec-Bench, EAGLE ------------------------------------------------------------------------------


def _read_sglang(path: str, objs: list[Any]) -> list[Measured]:
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
    mean, se, ci, how = _cluster(np.array(totals, float), np.array(counts, float))
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


def _read_answers(path: str, objs: list[Any], fmt: str) -> list[Measured]:
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
            mean, se, ci, how = _cluster(np.array(d["tot"], float), np.array(d["n"], float))
            conv = (
                "EAGLE's idxs is the last loop index of a turn, so a turn made idx + 1 verifier calls, each yielding "
                "X + 1 tokens; X = new_tokens / (idx + 1) - 1 (EAGLE's scripts divide by idx)"
                if fmt == "eagle"
                else "Spec-Bench: X = new_tokens / decoding_steps - 1 per turn"
            )
            out.append(
                Measured(
                    source=path,
                    format=fmt,
                    label=model,
                    mean_accepted=mean,
                    iterations=float(sum(d["n"])),
                    se=se,
                    ci=ci,
                    uncertainty=how.replace("requests/sequences", "turns"),
                    convention=conv,
                    groups=len(d["n"]),
                    notes=tuple(sorted(notes)),
                )
            )
    if not out:
        raise InputError(f"{path}: no answer with decoding steps")
    return out


# --- detection -----------------------------------------------------------------------------------------------


def _detect_json(objs: list[Any]) -> str:
    first = next((o for o in objs if isinstance(o, dict)), None)
    if first is None:
        return "unknown"
    if first.get("format") == "speedoflight-measured":
        return "speedoflight-measured"
    if isinstance(first.get("choices"), list) and first["choices"] and isinstance(first["choices"][0], dict):
        ch = first["choices"][0]
        if "accept_lengths" in ch or "decoding_steps" in ch:
            return "spec-bench"
        if "idxs" in ch:
            return "eagle"
    meta = first.get("meta_info")
    if isinstance(meta, dict) or "spec_verify_ct" in first:
        return "sglang"
    if any(k in first for k in _X_KEYS + _TPC_KEYS):
        return "jsonl"
    return "unknown"


def detect(path: str, text: str) -> str:
    """Return the format of an acceptance file, detected from its content."""
    head = text.lstrip()[:1]
    if head in ("{", "["):
        try:
            objs = _json_objects(path, text)
        except InputError:
            if text.lstrip().startswith('{"format": "speedoflight-measured"'):
                return "speedoflight-measured"
            raise
        return _detect_json(objs)
    if _VLLM in text:
        return "vllm-metrics"
    if "SpecDecoding metrics:" in text:
        return "vllm-log"
    if _LCPP_SLOT.search(text) or "#gen drafts" in text:
        return "llama.cpp"
    first = text.splitlines()[0] if text.strip() else ""
    if "," in first or any(k in first.split() for k in _X_KEYS + _TPC_KEYS):
        return "csv"
    return "unknown"


def read_acceptance(path: str | os.PathLike[str], fmt: str | None = None) -> list[Measured]:
    """Read measured acceptance from any supported file.

    Parameters
    ----------
    path
        A CSV, JSONL/JSON, Prometheus text or server log (see the module docstring).
    fmt
        Force a format (one of :data:`FORMATS`); by default it is detected from the content.

    Returns
    -------
    list of Measured
        One entry per system in the file (drafter and shape, model, or drafting implementation).

    Raises
    ------
    InputError
        For an unreadable file, an unknown layout, missing fields, negative counts, more tokens accepted than
        drafted, or totals that contradict each other.

    """
    p = os.fspath(path)
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    text = _read_text(p)
    if not text.strip():
        raise InputError(f"{p}: is empty")
    kind = fmt or detect(p, text)
    if kind == "csv":
        return _read_csv(p, text)
    if kind == "speedoflight-measured":
        return _read_own(p)
    if kind == "vllm-metrics":
        return _read_prometheus(p, text)
    if kind == "vllm-log":
        return _read_vllm_log(p, text)
    if kind == "llama.cpp":
        return _read_llamacpp(p, text)
    if kind in ("jsonl", "sglang", "spec-bench", "eagle"):
        objs = _json_objects(p, text)
        if kind == "sglang":
            return _read_sglang(p, objs)
        if kind in ("spec-bench", "eagle"):
            return _read_answers(p, objs, kind)
        if not all(isinstance(o, dict) for o in objs):
            raise InputError(f"{p}: every JSONL line must be an object")
        return _plain(p, "jsonl", objs, [f"line {i}" for i in range(1, len(objs) + 1)])
    raise InputError(
        f"{p}: not a recognised acceptance log; expected one of: {', '.join(FORMATS)} (a CSV needs a header line "
        "with 'accepted' or 'tokens_per_call')"
    )


def read_many(paths: Iterable[str | os.PathLike[str]], fmt: str | None = None) -> list[Measured]:
    """Read several files (see :func:`read_acceptance`) into one list."""
    out: list[Measured] = []
    for path in paths:
        out.extend(read_acceptance(path, fmt))
    return out
