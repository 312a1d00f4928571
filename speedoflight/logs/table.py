"""The table of measured-acceptance formats: one :class:`~.format.Format` entry per format, tried in this order.

Adding a format is one entry in :data:`TABLE` (its reader lives in the module of its source). Everything that lists
formats is generated from the table: :data:`FORMATS`, and (:mod:`.render`) the CLI's ``--measured`` help, the
format table of ``docs/cli.md`` and the list in :mod:`.acceptance`'s docstring.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from ._text import _json_objects
from .aiperf import is_aiperf, read_aiperf
from .answers import read_answers
from .exllama import is_exllamav3, read_exllamav3
from .format import Format, first_object, on_json, on_text
from .llamacpp import _LCPP_SLOT, is_legacy_summary, read_llamacpp, read_llamacpp_summary, read_llamacpp_timings
from .lmdeploy import is_lmdeploy_log, read_lmdeploy_log
from .ollama import is_ollama_log, read_ollama_log
from .plain import _TPC_KEYS, _X_KEYS, read_csv, read_own, read_plain
from .prometheus import LLAMACPP, LMDEPLOY, read_counters
from .result import Measured
from .sglang import (
    is_server_info,
    is_sglang_metrics,
    read_server_info,
    read_sglang,
    read_sglang_log,
    read_sglang_metrics,
)
from .specdec import is_speculation_profile, read_speculation_profile
from .tensorrt import is_tensorrt_llm, is_tensorrt_llm_metrics, read_tensorrt_llm, refuse_tensorrt_llm
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

__all__ = ["FORMATS", "TABLE", "by_name", "detect"]


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
        "specdec-bench-profile",
        "NVIDIA specdec_bench speculation_profile.json (schema 1.0): mean accept length, marginal rates per position",
        "NVIDIA specdec_bench `speculation_profile.json` (NVIDIA/Model-Optimizer "
        "`examples/specdec_bench/specdec_bench/speculation_profile.py` @095124e9, 2026)",
        "`num_speculative_tokens` (P), `mean_accept_length` (per decode step, bonus included), "
        "`marginal_accept_rates` (entry i = P(X >= i + 1)), `acceptance_length_histogram` (steps by length); "
        "refused where its own validation fails (1 + sum of marginals within 0.02 of the mean, marginals "
        "non-increasing) or `measured` is false",
        "mean_accept_length - 1 (`mean_accept_length_per_request` averages requests and is not used)",
        "from the histogram of steps (steps as independent); none without it",
        is_speculation_profile,
        on_json(read_speculation_profile),
        json=True,
    ),
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
        "sglang-server-info",
        "SGLang /get_server_info: avg_spec_accept_length per DP rank (a mean without its count)",
        "SGLang `/get_server_info` (sgl-project/sglang `managers/scheduler.py`, `get_internal_state`)",
        "`internal_states[].avg_spec_accept_length` (older releases: at the top level), one per DP rank: the "
        "log's `accept len` pooled since the server started",
        "A - 1 (A counts the bonus token)",
        "none: the reply does not say over how many verify steps",
        is_server_info,
        on_json(read_server_info),
        json=True,
    ),
    Format(
        "exllamav3",
        "ExLlamaV3 job results: new_tokens, accepted/rejected_draft_tokens (a lower bound on X)",
        "ExLlamaV3 job results, saved as JSONL (turboderp-org/exllamav3 `exllamav3/generator/job.py` @4f8ad012, "
        "2026-08)",
        "`new_tokens`, `accepted_draft_tokens`, `rejected_draft_tokens` of each finished job; a result without "
        "`new_tokens` is refused (accepted and rejected alone do not bound X)",
        "a **lower bound**: accepted / (new_tokens - accepted), since every forward pass emits its accepted tokens "
        "plus one and passes without a draft count; labelled so",
        "between jobs",
        is_exllamav3,
        on_json(read_exllamav3),
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
        "llama.cpp-metrics",
        "llama.cpp server /metrics: llamacpp:spec_decode_num_* counters (vLLM's schema)",
        "llama.cpp `/metrics` (`llama-server --metrics`; ggml-org/llama.cpp PR #26389, merged 2026-08; verified on a "
        "2026-10 build)",
        "`llamacpp:spec_decode_num_drafts_total` (verification steps), `_draft_tokens_total`, "
        "`_accepted_tokens_total`, `_accepted_tokens_per_pos_total{position=i}`",
        "accepted / drafts",
        "from the distribution of X that the per-position counters give (position i counts steps with X > i)",
        lambda text: LLAMACPP.prefix in text,
        lambda path, text, k: read_counters(path, text, LLAMACPP),
    ),
    Format(
        "lmdeploy-metrics",
        "LMDeploy /metrics: lmdeploy:spec_decode_num_* counters (vLLM's schema)",
        "LMDeploy `/metrics` (InternLM/lmdeploy `lmdeploy/metrics/loggers.py` @1263d5cd, 2026-08; PR #4625)",
        "`lmdeploy:spec_decode_num_drafts_total`, `_draft_tokens_total`, `_accepted_tokens_total`, "
        "`_accepted_tokens_per_pos_total{position=i}`, summed over engines (DP ranks), one entry per `model_name`; "
        "the `lmdeploy:spec_decode_mean_accept_length` gauge checked against each engine's counters",
        "accepted / drafts",
        "from the distribution of X that the per-position counters give",
        lambda text: LMDEPLOY.prefix in text,
        lambda path, text, k: read_counters(path, text, LMDEPLOY),
    ),
    Format(
        "sglang-metrics",
        "SGLang /metrics: spec_verify_calls_total with generation tokens and requests (an estimate)",
        "SGLang `/metrics` (sgl-project/sglang `srt/metrics/collector.py`, PR #25689, 2026-05)",
        "`sglang:spec_verify_calls_total`, `sglang:generation_tokens_total`, `sglang:num_requests_total` per "
        "`model_name` (the `sglang:spec_accept_length` gauge covers the last logging interval only: not used)",
        "(generation tokens - requests - verify calls) / verify calls: each request's completion tokens are the "
        "prefill token, one per verify call and its accepted drafts; an estimate",
        "none (totals only)",
        is_sglang_metrics,
        on_text(read_sglang_metrics),
    ),
    Format(
        "tensorrt-llm-metrics",
        "TensorRT-LLM /metrics: refused, with the reason (no draft count; its acceptance length is a gauge)",
        "TensorRT-LLM Prometheus metrics (NVIDIA/TensorRT-LLM `tensorrt_llm/metrics/collector.py` @050f80de)",
        "`trtllm_spec_decode_num_draft_tokens_total` and `_num_accepted_tokens_total` count tokens, not drafts; "
        "`trtllm_spec_decode_acceptance_length` is a gauge holding the last iteration's value",
        "none: refused (accepted / draft tokens is the per-token rate, not X); read the iteration stats "
        "(`tensorrt-llm`) instead",
        "none",
        is_tensorrt_llm_metrics,
        on_text(refuse_tensorrt_llm),
    ),
    Format(
        "lmdeploy-log",
        "LMDeploy server log: '[date DPn] Avg thr ... SpecDecoding metrics:' stats lines",
        "LMDeploy server logs (InternLM/lmdeploy `lmdeploy/metrics/loggers.py` @1263d5cd, 2026-08; the bare "
        "`SpecDecoding metrics:` line of 2025-11 to 2026-02 too)",
        "the `SpecDecoding metrics:` part of each `[date DPn]` stats line (its own field order: `Draft acceptance "
        "rate` (checked), `Mean acceptance length`, `Accepted`, `Drafted`, `Per-position acceptance rate`); "
        "told from vLLM's by LMDeploy's `[date DPn] Avg ...` prefix; one entry per DP rank too",
        "accepted / drafts, drafts from the mean length (or drafted / K where the rates agree)",
        "batch means over 5+ intervals, else the distribution",
        is_lmdeploy_log,
        read_lmdeploy_log,
        marks=("SpecDecoding metrics:",),
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
        "llama.cpp server logs (ggml-org/llama.cpp `tools/server/server-context.cpp` @001d906a, "
        "`common/speculative.cpp`; PR #24536)",
        "per-request `draft acceptance = R (A accepted / G generated), mean len = L` (2026; its trace-level "
        "`acc per pos = (...)` line too) or `..., mean acceptance length = L, acceptance rate per position = (...)` "
        "(PR #24536); cumulative `statistics <impl>: ... #gen drafts = N, #acc tokens = A, #mean acc len = L` (last "
        "line of each server run; `-lv 4`). A request line that accepted nothing, prints a mean length of 1.00 or "
        "none at all cannot give its drafts (they vary in length): the statistics lines are read instead, or the "
        "log is refused",
        "A / drafts, drafts from the mean length (to 2 decimals)",
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
        "n_accept / (n_predict - n_accept - 1): the first token comes from the prompt pass, then each call emits its "
        "accepted tokens plus one (examples/speculative/speculative.cpp)",
        "none (totals only)",
        is_legacy_summary,
        on_text(read_llamacpp_summary),
    ),
    Format(
        "ollama-log",
        "Ollama MLX runner 'speculative decode stats' lines (a lower bound on X)",
        "Ollama server logs (ollama/ollama `x/mlxrunner/speculate_stats.go` @fb307609, 2026-08)",
        '`msg="speculative decode stats"` lines, one per request: `iterations`, `drafted`, `accepted`, '
        "`acceptance` and `avg_accepted` (both checked), `max_draft`",
        "a **lower bound**: accepted / iterations, since iterations include rounds without a draft; labelled so",
        "between requests",
        is_ollama_log,
        on_text(read_ollama_log),
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
