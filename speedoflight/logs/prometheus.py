"""Prometheus ``/metrics`` scrapes of serving engines: their speculative-decoding counters.

vLLM, llama.cpp and LMDeploy keep the same counters (llama.cpp and LMDeploy adopted vLLM's schema): drafts
(verification steps), draft tokens, accepted draft tokens, and accepted draft tokens per position, where the
counter at position i counts the drafts whose position i was accepted, i.e. it estimates P(X > i). One scrape is
cumulative since the server started: X = accepted / drafts over that whole time.

SGLang's scrape is read in :mod:`.sglang`; TensorRT-LLM's is refused in :mod:`.tensorrt` (it counts no drafts).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ._text import _count, _integer
from .plain import _num
from .result import Measured
from .uncertainty import distribution_from_cumulative, from_distribution, totals_only

__all__ = [
    "LLAMACPP",
    "LMDEPLOY",
    "VLLM",
    "CounterSchema",
    "read_counters",
    "samples",
]

_BASES = ("drafts", "draft_tokens", "accepted_tokens", "accepted_tokens_per_pos")


@dataclass(frozen=True)
class CounterSchema:
    """The speculative-decoding counters of one engine, named as vLLM names them.

    Attributes
    ----------
    prefix : str
        What every counter's name starts with (``vllm:spec_decode_num_``).
    fmt : str
        The format name its entries record.
    absent : str
        What to check when no counter is there.
    no_drafts : str
        What to do when the drafts counter is 0.
    convention : str
        The entries' convention.
    mean_length_gauge : str or None
        A gauge holding 1 + accepted / drafts per engine, checked against the counters where present.

    """

    prefix: str
    fmt: str
    absent: str
    no_drafts: str
    convention: str
    mean_length_gauge: str | None = None


#: vLLM's ``/metrics`` (``vllm/v1/metrics/loggers.py``).
VLLM = CounterSchema(
    "vllm:spec_decode_num_",
    "vllm-metrics",
    "was speculative decoding enabled (and --disable-log-stats off)?",
    "no drafts yet (vllm:spec_decode_num_drafts is 0); scrape after traffic",
    "counters: accepted draft tokens / drafts = X; vLLM's mean acceptance length is X + 1; the per-position "
    "counters are cumulative (drafts with position i accepted, i.e. P(X > i))",
)

#: llama.cpp's server ``/metrics`` (``--metrics``; ggml-org/llama.cpp PR #26389, merged 2026-08).
LLAMACPP = CounterSchema(
    "llamacpp:spec_decode_num_",
    "llama.cpp-metrics",
    "start llama-server with --metrics and speculative decoding (builds from 2026-08, PR #26389, have them)",
    "no drafts (llamacpp:spec_decode_num_drafts_total is 0): speculative decoding is off or no speculative "
    "request has finished yet; scrape after traffic",
    "llama.cpp's counters: accepted draft tokens / verification steps (spec_decode_num_drafts) = X; its mean "
    "acceptance length is X + 1; the per-position counters count verification steps that accepted position i, "
    "i.e. P(X > i)",
)

#: LMDeploy's ``/metrics`` (``lmdeploy/metrics/loggers.py``, PrometheusStatLogger, since 2026-05, PR #4625).
LMDEPLOY = CounterSchema(
    "lmdeploy:spec_decode_num_",
    "lmdeploy-metrics",
    "was the server started with --disable-metrics, or without speculative decoding? (releases from 2026-05 have them)",
    "no drafts (lmdeploy:spec_decode_num_drafts_total is 0); scrape after traffic",
    "LMDeploy's counters (vLLM's schema): accepted draft tokens / drafts = X; its "
    "lmdeploy:spec_decode_mean_accept_length gauge is X + 1 per engine (checked); the per-position counters count "
    "drafts whose position i was accepted, i.e. P(X > i)",
    mean_length_gauge="lmdeploy:spec_decode_mean_accept_length",
)


def samples(path: str, text: str) -> list[Any]:
    """Return every sample of a scrape.

    Parameters
    ----------
    path
        The file's name, for messages.
    text
        One scrape of ``GET /metrics``.

    Returns
    -------
    list
        ``prometheus_client`` samples (``name``, ``labels``, ``value``).

    """
    from prometheus_client.parser import text_string_to_metric_families

    try:
        return [s for fam in text_string_to_metric_families(text) for s in fam.samples]
    except (ValueError, TypeError, IndexError) as exc:
        raise InputError(f"{path}: is not valid Prometheus text ({exc}); save the body of GET /metrics as is") from None


def read_counters(path: str, text: str, schema: CounterSchema) -> list[Measured]:
    """Read one scrape of vLLM-schema counters into one entry per model; engines (DP ranks) are summed.

    Parameters
    ----------
    path
        The file's name, recorded as ``source`` and used in error messages.
    text
        One scrape of ``GET /metrics`` (Prometheus text).
    schema
        Whose counters (:data:`VLLM`, :data:`LLAMACPP`, :data:`LMDEPLOY`).

    Returns
    -------
    list of Measured
        One entry per ``model_name`` label: X = accepted tokens / drafts, with the interval from the distribution
        where per-position counters exist, else from totals only (no standard error).

    """
    pre = schema.prefix
    per_model: dict[str, dict[str, Any]] = {}
    gauges: dict[tuple[str, str], float] = {}
    engines: dict[tuple[str, str], dict[str, float]] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for s in samples(path, text):
        if schema.mean_length_gauge and s.name == schema.mean_length_gauge:
            gauges[(s.labels.get("model_name", ""), s.labels.get("engine", ""))] = s.value
            continue
        if not s.name.startswith(pre) or s.name.endswith("_created"):
            continue
        base = s.name[len(pre) :].removesuffix("_total")
        if base not in _BASES:
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
            e = engines.setdefault((model, s.labels.get("engine", "")), {})
            e[base] = e.get(base, 0.0) + value
    if not per_model:
        raise InputError(f"{path}: no {pre}* counters; {schema.absent}")
    _check_gauges(path, schema, gauges, engines)
    return [_entry(path, schema, model, d) for model, d in per_model.items()]


def _check_gauges(
    path: str, schema: CounterSchema, gauges: dict[tuple[str, str], float], engines: dict[tuple[str, str], Any]
) -> None:
    """Refuse a mean-length gauge that its own engine's counters contradict (set together, so they must agree)."""
    for (model, engine), value in gauges.items():
        e = engines.get((model, engine), {})
        drafts, acc = e.get("drafts", 0.0), e.get("accepted_tokens")
        if drafts > 0 and acc is not None and abs(value - (1 + acc / drafts)) > 1e-6 * max(1.0, abs(value)):
            raise InputError(
                f"{path}: {schema.mean_length_gauge} of engine {engine!r} is {value:g}, but its counters give "
                f"1 + {acc:g}/{drafts:g} = {1 + acc / drafts:.6g}; was the file assembled from several scrapes?"
            )


def _entry(path: str, schema: CounterSchema, model: str, d: dict[str, Any]) -> Measured:
    pre = schema.prefix
    where = f"model {model!r}" if model else "the counters"
    missing = {"drafts", "accepted_tokens"} - d["have"]
    if missing:
        raise InputError(f"{path}: {where}: {pre}{sorted(missing)[0]} is missing")
    drafts, acc, dtok = d["drafts"], d["accepted_tokens"], d["draft_tokens"]
    if drafts == 0:
        raise InputError(f"{path}: {where}: {schema.no_drafts}")
    if "draft_tokens" in d["have"] and acc > dtok:
        raise InputError(f"{path}: {where}: {acc:g} tokens accepted but only {dtok:g} drafted")
    notes: list[str] = []
    per_pos = [d["pos"][i] for i in sorted(d["pos"])]
    if d["pos"] and sorted(d["pos"]) != list(range(len(per_pos))):
        raise InputError(f"{path}: {where}: per-position counters have gaps (positions {sorted(d['pos'])})")
    k = len(per_pos) or None
    if per_pos and (any(b > a for a, b in itertools.pairwise(per_pos)) or per_pos[0] > drafts):
        raise InputError(
            f"{path}: {where}: accepted-per-position counts rise with the position or exceed the drafts; "
            "a later position can only be accepted after the earlier ones"
        )
    if per_pos and abs(sum(per_pos) - acc) > 0.5:
        # a trimmed scrape (positions cut off, or engines missing from the per-position series): the totals
        # stand, the per-position series cannot give the distribution
        notes.append(
            f"the per-position counters sum to {sum(per_pos):g}, not the {acc:g} accepted tokens (a trimmed "
            "scrape?): X from the totals, no distribution"
        )
        per_pos, k = [], None
    if per_pos:
        counts = distribution_from_cumulative(drafts, per_pos)
        estimate = from_distribution(counts, "per-position counters")
        dist = counts / drafts
    else:
        estimate = totals_only(acc, drafts, None)
        dist = None
    return Measured.build(
        path,
        schema.fmt,
        model,
        estimate,
        drafts,
        schema.convention,
        P=k,
        mean_draft_size=dtok / drafts if "draft_tokens" in d["have"] else None,
        distribution=dist,
        notes=tuple(notes),
        model=model or None,
    )
