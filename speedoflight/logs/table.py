"""The table of measured-acceptance formats: one :class:`~.format.Format` entry per format, tried in this order.

Adding a format is one entry in :data:`TABLE` (its reader lives in the module of its source). Everything that lists
formats is generated from the table: :data:`FORMATS`, the CLI's ``--measured`` help (:func:`measured_help`), the
format table of ``docs/cli.md`` (:func:`markdown_table`) and the list in :mod:`.acceptance`'s docstring
(:func:`rst_list`).
"""

from __future__ import annotations

import textwrap
from typing import Any

from ..errors import InputError
from ._text import _json_objects
from .answers import read_answers
from .engines import is_aiperf, is_tensorrt_llm, read_aiperf, read_tensorrt_llm
from .format import Format, first_object, on_json, on_text
from .llamacpp import _LCPP_SLOT, is_legacy_summary, read_llamacpp, read_llamacpp_summary, read_llamacpp_timings
from .plain import _TPC_KEYS, _X_KEYS, read_csv, read_own, read_plain
from .result import Measured
from .sglang import read_sglang, read_sglang_log
from .vllm import _VLLM, read_prometheus, read_vllm_log
from .vllm_more import (
    V0_MARK,
    is_bench_result,
    is_bench_serve,
    is_vllm_per_request,
    read_bench_result,
    read_bench_serve,
    read_vllm_offline,
    read_vllm_per_request,
    read_vllm_v0_log,
)

__all__ = ["FORMATS", "TABLE", "by_name", "detect", "markdown_table", "measured_help", "rst_list"]


def _choice(objs: list[Any]) -> dict[str, Any]:
    ch = first_object(objs).get("choices")
    return ch[0] if isinstance(ch, list) and ch and isinstance(ch[0], dict) else {}


def _jsonl(path: str, text: str, k: int | None) -> list[Measured]:
    objs = _json_objects(path, text)
    if not all(isinstance(o, dict) for o in objs):
        raise InputError(f"{path}: every JSONL line must be an object")
    return read_plain(path, "jsonl", objs, [f"line {i}" for i in range(1, len(objs) + 1)])


def _csv_header(text: str) -> bool:
    first = text.splitlines()[0] if text.strip() else ""
    return "," in first or any(key in first.split() for key in _X_KEYS + _TPC_KEYS)


def _sglang_meta(objs: list[Any]) -> bool:
    first = first_object(objs)
    return (
        isinstance(first.get("meta_info"), dict) or "spec_verify_ct" in first or isinstance(first.get("sglext"), dict)
    )


TABLE: tuple[Format, ...] = (
    # --- JSON: responses, records and reports ----------------------------------------------------------------
    Format(
        "vllm-per-request",
        "vLLM responses' per-request metrics.speculative_decoding (0.29+)",
        "vLLM responses (0.29+, `--per-request-spec-decode-metrics`)",
        "`metrics.speculative_decoding` of each response (development builds: each choice's "
        "`speculative_decoding_stats`, sparse histogram): `num_spec_steps`, `num_accepted_draft_tokens`, "
        "`num_draft_tokens`, `num_spec_tokens`, `acceptance_histogram` (checked against the counts)",
        "accepted / steps",
        "between requests; the pooled histogram gives the distribution",
        is_vllm_per_request,
        on_json(read_vllm_per_request),
        json=True,
    ),
    Format(
        "vllm-bench-json",
        "vllm bench serve --save-result JSON: spec_decode_* keys",
        "`vllm bench serve --save-result` JSON",
        "`spec_decode_num_drafts`, `spec_decode_draft_tokens`, `spec_decode_accepted_tokens`, "
        "`spec_decode_acceptance_length` (checked), `spec_decode_per_position_acceptance_rates`",
        "accepted / drafts",
        "as `vllm-bench`",
        is_bench_result,
        on_json(read_bench_result),
        json=True,
    ),
    Format(
        "tensorrt-llm",
        "TensorRT-LLM iteration stats: specDecodingStats per iteration",
        "TensorRT-LLM iteration stats (`cpp/include/tensorrt_llm/executor/types.h`)",
        "`specDecodingStats` (`numAcceptedTokens`, `numDraftTokens`, `numRequestsWithDraftTokens`, "
        "`acceptanceLength` checked against them) per iteration, a JSON list or JSONL",
        "sum accepted / sum requests with drafts",
        "batch means over 5+ iterations, else totals only",
        is_tensorrt_llm,
        on_json(read_tensorrt_llm),
        json=True,
    ),
    Format(
        "aiperf",
        "NVIDIA AIPerf profile_export.jsonl: spec_decode_* metrics per request",
        "NVIDIA AIPerf `profile_export.jsonl`",
        "`metrics.spec_decode_accepted_draft_tokens`, `spec_decode_steps` (else from "
        "`spec_decode_acceptance_length`), `spec_decode_draft_tokens`; `spec_decode_acceptance.acceptance_histogram` "
        "where exported (checked against the counts)",
        "accepted / steps",
        "between requests",
        is_aiperf,
        on_json(read_aiperf),
        json=True,
    ),
    Format(
        "speedoflight-measured",
        "speedoflight measure output: accepted draft tokens per iteration",
        "`speedoflight measure`",
        "every drafter, shape and P of its JSONL",
        "as recorded",
        "between prompts",
        lambda objs: first_object(objs).get("format") == "speedoflight-measured",
        lambda path, text, k: read_own(path),
        json=True,
    ),
    Format(
        "spec-bench",
        "Spec-Bench answers: accept_lengths (tokens per step), new_tokens, decoding_steps",
        "Spec-Bench answer JSONL",
        "`choices[].accept_lengths` (tokens per step, X + 1), else `new_tokens` / `decoding_steps` per turn",
        "accept_length - 1",
        "between answers",
        lambda objs: "accept_lengths" in _choice(objs) or "decoding_steps" in _choice(objs),
        lambda path, text, k: read_answers(path, _json_objects(path, text), "spec-bench"),
        json=True,
    ),
    Format(
        "eagle",
        "EAGLE answers: new_tokens and idxs (last loop index) per turn",
        "EAGLE answer JSONL",
        "`choices[].new_tokens`, `idxs` per turn",
        "new_tokens / (idx + 1) - 1 (idx is the last loop index; EAGLE's scripts divide by idx)",
        "between turns",
        lambda objs: "idxs" in _choice(objs),
        lambda path, text, k: read_answers(path, _json_objects(path, text), "eagle"),
        json=True,
    ),
    Format(
        "llama.cpp-timings",
        "llama.cpp server responses' timings: draft_n, draft_n_accepted (a lower bound on X)",
        "llama.cpp server responses' `timings`",
        "`draft_n`, `draft_n_accepted`, `predicted_n` per response",
        "a **lower bound**: draft_n_accepted / (predicted_n - draft_n_accepted), since steps without a draft count "
        "as calls; labelled so",
        "between requests",
        lambda objs: isinstance(t := first_object(objs).get("timings"), dict) and "draft_n_accepted" in t,
        on_json(read_llamacpp_timings),
        json=True,
    ),
    Format(
        "sglang",
        "SGLang meta_info: spec_verify_ct, spec_accept_token_num, spec_draft_token_num",
        "SGLang responses",
        "`meta_info` (or OpenAI replies' `sglext.spec_tokens_details`): `spec_verify_ct` with "
        "`spec_num_correct_drafts` / `spec_num_proposed_drafts` (0.5.15+) or `spec_accept_token_num` / "
        "`spec_draft_token_num` (0.5.6+), and the histogram of accepted drafts per step where given (checked "
        "against the counts)",
        "accepted / verify steps; without accepted counts (0.4.6-0.5.4), completion tokens - verify steps - 1 (the "
        "token sampled at prefill; `spec_accept_length` = completion tokens / verify steps counts it, so it is not "
        "used)",
        "between requests",
        _sglang_meta,
        on_json(read_sglang),
        json=True,
    ),
    Format(
        "jsonl",
        "per-iteration accepted draft tokens (or tokens per call) in JSONL",
        "any JSONL",
        "a key `accepted` (X) or `tokens_per_call` / `accept_length` / `mean_acceptance_length` (X + 1), a value "
        "or a list per request; with a steps key (`steps`, `num_spec_steps`, ...) each record is one request's "
        "mean, weighted by its steps; optional `tree_size` (or `P`), `request` / `sequence`, `label` / `drafter`",
        "as given",
        "t-interval between requests (ratio estimator), or iterations as independent",
        lambda objs: any(key in first_object(objs) for key in _X_KEYS + _TPC_KEYS),
        _jsonl,
        json=True,
    ),
    # --- text: Prometheus scrapes, logs, printouts, CSV --------------------------------------------------------
    Format(
        "vllm-metrics",
        "vLLM /metrics counters: drafts, draft tokens, accepted tokens, accepted per position",
        "vLLM `/metrics` (Prometheus text, with or without `_total`)",
        "`vllm:spec_decode_num_drafts`, `_num_draft_tokens`, `_num_accepted_tokens`, "
        "`_num_accepted_tokens_per_pos{position=i}`, summed over engines, one entry per `model_name`",
        "accepted / drafts",
        "from the distribution of X that the per-position counters give (they are cumulative: position i counts "
        "drafts with X > i)",
        lambda text: _VLLM in text,
        on_text(read_prometheus),
    ),
    Format(
        "vllm-log",
        "vLLM 'SpecDecoding metrics:' log lines",
        "vLLM logs (V1)",
        "`SpecDecoding metrics:` lines of every release's field order, fields read by name (unknown ones such as "
        "`Current speculative depth` ignored), interleaved with other lines, ANSI colours stripped; counts summed "
        "over intervals and engines, and each process (`(APIServer pid=N)`) or engine (`Engine NNN:`) reported too",
        "accepted / drafts, drafts = drafted / K",
        "batch means over 5+ intervals, else the distribution",
        lambda text: "SpecDecoding metrics:" in text,
        read_vllm_log,
        marks=("SpecDecoding metrics:",),
    ),
    Format(
        "vllm-v0-log",
        "vLLM V0 'Speculative metrics:' log lines (cumulative counters)",
        "vLLM V0 logs",
        "cumulative `Speculative metrics:` lines (`Number of speculative tokens` K, draft and emitted tokens; the "
        'early "tokens tokens" spelling too); differences of consecutive lines, a fall in the counters starts a new '
        "run",
        'emitted / drafts - 1, drafts = draft tokens / K (V0\'s "accepted" counts positions after a rejection too, '
        "so it is not used)",
        "batch means over 5+ intervals, else totals only",
        lambda text: V0_MARK in text,
        on_text(read_vllm_v0_log),
        marks=(V0_MARK,),
    ),
    Format(
        "vllm-bench",
        "vllm bench serve reports' Speculative Decoding section",
        "`vllm bench serve` reports",
        "each run's `Speculative Decoding` section: `Drafts`, `Draft tokens`, `Accepted tokens`, `Acceptance "
        "length` (checked), `Position i` (%)",
        "accepted / drafts",
        "from the distribution the per-position lines give",
        is_bench_serve,
        on_text(read_bench_serve),
    ),
    Format(
        "sglang-log",
        "SGLang server 'Decode batch ... accept len' lines",
        "SGLang server logs",
        "`Decode batch ... accept len: A ...` lines of releases 0.4.2 to 0.5.23 (`accept rate` is not used: its "
        "denominator changed between releases), one entry per DP rank too",
        "A - 1 per interval, intervals weighted by `#running-req` (an estimate: a line does not say how many verify "
        "steps it covers)",
        "batch means over 5+ intervals",
        lambda text: "Decode batch" in text and "accept len:" in text,
        on_text(read_sglang_log),
        marks=("Decode batch",),
    ),
    Format(
        "vllm-offline",
        "vLLM examples/offline_inference/spec_decode.py printout",
        "vLLM `examples/offline_inference/spec_decode.py`",
        "`num_drafts`, `num_draft_tokens`, `num_accepted_tokens`, `mean acceptance length`, `acceptance at token i`",
        "accepted / drafts (`total_num_output_tokens` is not used: it counts a prefill token per request)",
        "from the distribution of X the per-token lines give",
        lambda text: "num_accepted_tokens:" in text and "num_drafts:" in text,
        on_text(read_vllm_offline),
    ),
    Format(
        "llama.cpp",
        "llama.cpp server log: draft acceptance / statistics lines",
        "llama.cpp server logs",
        "per-request `draft acceptance = R (A accepted / G generated), mean acceptance length = L, acceptance rate "
        "per position = (...)`; cumulative `statistics <impl>: ... #gen drafts = N, #acc tokens = A, #mean acc len "
        "= L` (last line of each server run)",
        "A / drafts",
        "between requests; statistics lines from `#acc rate/pos`",
        lambda text: bool(_LCPP_SLOT.search(text)) or "#gen drafts" in text,
        on_text(read_llamacpp),
        marks=("draft acceptance", "#gen drafts"),
    ),
    Format(
        "llama.cpp-summary",
        "llama.cpp speculative example summary: n_draft, n_predict, n_drafted, n_accept",
        "llama.cpp `speculative` example",
        "the end-of-run summary: `n_draft`, `n_predict`, `n_drafted`, `n_accept` (several runs in one file are "
        "reported each)",
        "n_accept / (n_predict - n_accept): each call emits its accepted tokens plus one; an estimate within one call",
        "none (totals only)",
        is_legacy_summary,
        on_text(read_llamacpp_summary),
    ),
    Format(
        "csv",
        "per-iteration accepted draft tokens (or tokens per call) in CSV",
        "any CSV with a header",
        "a column `accepted` (X) or `tokens_per_call` / `accept_length` / `mean_acceptance_length` (X + 1); with a "
        "steps column (`steps`, `num_spec_steps`, `verify_steps`, ...) each row is one request's mean, weighted by "
        "its steps; optional `tree_size` (or `P`), `request` / `sequence` (groups), `label` / `drafter` (several "
        "systems in one file)",
        "as given",
        "t-interval between requests (ratio estimator), or iterations as independent",
        _csv_header,
        on_text(read_csv),
    ),
)

#: Formats :func:`~speedoflight.logs.acceptance.read_acceptance` knows, with what each one counts.
FORMATS: dict[str, str] = {f.name: f.help for f in TABLE}


def by_name(name: str) -> Format:
    """Return the format called ``name``.

    Parameters
    ----------
    name
        One of :data:`FORMATS`.

    Returns
    -------
    Format
        Its entry.

    """
    return next(f for f in TABLE if f.name == name)


def detect(path: str, text: str) -> str:
    """Return the format of an acceptance file, detected from its content.

    A file that starts with ``{`` or ``[`` and parses as JSON is matched against the JSON formats, in the order of
    :data:`TABLE`; any other file against the text formats.

    Parameters
    ----------
    path
        The file's name, for error messages.
    text
        The file's content.

    Returns
    -------
    str
        One of :data:`FORMATS`, or ``"unknown"``.

    """
    if text.lstrip()[:1] in ("{", "["):
        try:
            objs = _json_objects(path, text)
        except InputError:
            if text.lstrip().startswith('{"format": "speedoflight-measured"'):
                return "speedoflight-measured"
            if not any(mark in text for f in TABLE for mark in f.marks):  # logs whose lines start "[date ...]"
                raise
        else:
            if not any(isinstance(o, dict) for o in objs):
                return "unknown"
            return next((f.name for f in TABLE if f.json and f.sniff(objs)), "unknown")
    return next((f.name for f in TABLE if not f.json and f.sniff(text)), "unknown")


# --- the table rendered for the CLI, the docs and the docstring ----------------------------------------------


def measured_help(width: int = 100) -> str:
    """Return the CLI's ``--measured`` help epilog: every format with its one line.

    Parameters
    ----------
    width
        The width to wrap at.

    Returns
    -------
    str
        The epilog.

    """
    pad = max(len(f.name) for f in TABLE) + 4
    lines = ["measured acceptance formats (detected from the content; X = accepted draft tokens per call):"]
    for f in TABLE:
        body = textwrap.wrap(f.help, width - pad)
        lines.append(f"  {f.name:<{pad - 2}}{body[0]}")
        lines += [" " * pad + rest for rest in body[1:]]
    return "\n".join(lines) + "\n"


def markdown_table() -> str:
    """Return the Markdown table of formats that ``docs/cli.md`` holds.

    Returns
    -------
    str
        A header and one row per format, in detection order.

    """
    rows = ["| format | source | what is read | X | uncertainty |", "|---|---|---|---|---|"]
    rows += [f"| `{f.name}` | {f.source} | {f.reads} | {f.x} | {f.uncertainty} |" for f in TABLE]
    return "\n".join(rows) + "\n"


def rst_list() -> str:
    """Return the formats as a reStructuredText definition list, for a docstring.

    Returns
    -------
    str
        Each format's name, then its help line, indented.

    """
    return "".join(f"``{f.name}``\n    {f.help}\n" for f in TABLE)
