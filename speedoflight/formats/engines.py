"""Each serving engine's synthetic-acceptance knob, set to a profile: the what-if the engine can run.

Every engine below can replace its real draft/target comparison by a forced acceptance pattern, for benchmarking.
Their conventions differ, so each snippet converts the profile (the marginals P(X >= i), i = 1..K) to what its
knob means, and says where that convention was read (the engine's source) and what the knob keeps of the profile:
the per-position shape, or only the mean.

=========  =============================================  ==========================================  ===========
engine     knob                                           unit                                        keeps
=========  =============================================  ==========================================  ===========
vllm       ``synthetic_acceptance_rates``                 marginal P(X >= i), length K                every rate
sglang     ``SGLANG_SIMULATE_ACC_LEN``                    AL = 1 + E[X] (bonus token included)        the mean
trtllm     ``TLLM_SPEC_DECODE_FORCE_NUM_ACCEPTED_TOKENS``  E[X] = AL - 1 (draft tokens only)           the mean
llamacpp   ``--spec-synth-rates``                         marginal P(X >= i), exactly n_max of them   every rate
atom       ``--spec-decode-acceptance-length``            AL (bonus token included)                   the mean
dynamo     ``--aic-nextn-accept-rates``                   conditional P(i accepted | 1..i-1 were)     every rate
=========  =============================================  ==========================================  ===========
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .profile import Rates, acceptance_length, conditional_from_marginal

__all__ = ["ENGINES", "Snippet", "engine_snippets", "number"]

#: The engines a snippet is written for, in the order they are printed.
ENGINES = ("vllm", "sglang", "trtllm", "llamacpp", "atom", "dynamo")

#: Dynamo's mocker samples 1 to 5 MTP draft tokens (its ``--aic-nextn`` help).
_DYNAMO_MAX_K = 5


@dataclass(frozen=True)
class Snippet:
    """What to give one engine so that it runs the profile.

    Attributes
    ----------
    engine : str
        One of :data:`ENGINES`.
    knob : str
        The engine's setting.
    text : str
        What to paste (a command line or environment assignments, with ``<...>`` for the user's own values).
    convention : str
        What the knob means and how the profile was converted to it.
    keeps : str
        ``"every rate"`` (the per-position shape) or ``"the mean"`` (only AL; the shape is the engine's own).
    source : str
        Where the convention was read.
    notes : tuple of str
        Caveats (limits of the knob, versions).

    """

    engine: str
    knob: str
    text: str
    convention: str
    keeps: str
    source: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the snippet as a JSON-ready dict.

        Returns
        -------
        dict
            Every field, ``notes`` as a list.

        """
        return {
            "engine": self.engine,
            "knob": self.knob,
            "text": self.text,
            "convention": self.convention,
            "keeps": self.keeps,
            "source": self.source,
            "notes": list(self.notes),
        }


def number(x: float) -> str:
    """Return ``x`` rounded to 6 decimals without trailing zeros (``0.9``, ``1``, ``0.123457``).

    Parameters
    ----------
    x
        A rate or a length.

    Returns
    -------
    str
        Its shortest fixed-point spelling at 6 decimals.

    """
    text = f"{round(float(x), 6):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _csv(values: Sequence[float]) -> str:
    return ",".join(number(v) for v in values)


def _vllm(m: list[float], k: int, al: float) -> Snippet:
    config = {
        "method": "<method>",
        "model": "<drafter>",
        "num_speculative_tokens": k,
        "rejection_sample_method": "synthetic",
        "synthetic_acceptance_rates": [float(number(v)) for v in m],
    }
    return Snippet(
        "vllm",
        "speculative_config.synthetic_acceptance_rates",
        f"vllm serve <model> --speculative-config '{json.dumps(config)}'",
        "marginal (unconditional) rates, entry i = P(the first i + 1 drafts all accepted), exactly "
        "num_speculative_tokens of them, within [0, 1], non-increasing: the profile's marginal_accept_rates as "
        "they are; vLLM divides consecutive ones into the conditional rates its rejection loop uses",
        "every rate",
        "vllm-project/vllm vllm/config/speculative.py @002e77c1 (SpeculativeConfig.synthetic_acceptance_rates, "
        "_resolve_synthetic_acceptance_rates); vllm/v1/spec_decode/utils.py @01046b9a "
        "(unconditional_to_conditional_rates: c_i = p_i / p_{i-1})",
        (
            f'"synthetic_acceptance_length": {number(al)} (AL, bonus token included, within [1, K + 1]) sets the '
            "mean only: vLLM resolves it to the minimum-variance schedule (1 up to floor(AL - 1), then the "
            "fraction, then 0), not to this profile's shape",
            "the drafts still come from a real drafter: give your method and drafter in the same JSON",
        ),
    )


def _sglang(m: list[float], k: int, al: float) -> Snippet:
    return Snippet(
        "sglang",
        "SGLANG_SIMULATE_ACC_LEN",
        f"SGLANG_SIMULATE_ACC_LEN={number(al)} SGLANG_SIMULATE_ACC_METHOD=match-expected "
        "SGLANG_SIMULATE_ACC_TOKEN_MODE=real-draft-token python -m sglang.launch_server --model-path <model> "
        f"--speculative-algorithm <algorithm> --speculative-num-steps {k} --speculative-eagle-topk 1 "
        f"--speculative-num-draft-tokens {k + 1}",
        "the mean acceptance length AL = 1 + E[X], bonus token included (SGLang sets correct drafts = length - 1), "
        f"clamped to [1, num_steps + 1]: AL = 1 + sum of the marginals = {number(al)}",
        "the mean",
        "sgl-project/sglang python/sglang/srt/speculative/spec_utils.py @00731f0b (sample_simulated_acc_len, "
        "generate_simulated_accept_index); python/sglang/srt/environ.py (SGLANG_SIMULATE_ACC_LEN, default -1: off)",
        (
            "match-expected draws floor(AL) or floor(AL) + 1 tokens per verify step, one draw for the whole batch: "
            "the mean is the profile's, the per-position shape is not",
            "set SGLANG_SIMULATE_ACC_METHOD explicitly: older releases default to multinomial, a normal draw of "
            "standard deviation 1 rounded and clamped to [1, num_steps + 1], whose mean is not AL",
            "SGLANG_SIMULATE_ACC_TOKEN_MODE=real-draft-token (newer releases) keeps the drafter's tokens; without "
            "it the accepted tokens are a fixed id",
        ),
    )


def _trtllm(m: list[float], k: int, al: float) -> Snippet:
    x = al - 1.0
    whole = math.floor(x + 0.5)
    return Snippet(
        "trtllm",
        "TLLM_SPEC_DECODE_FORCE_NUM_ACCEPTED_TOKENS",
        f"TLLM_SPEC_DECODE_FORCE_NUM_ACCEPTED_TOKENS={number(x)} <your TensorRT-LLM server command, with "
        f"speculative_config.max_draft_len: {k}>",
        f"accepted draft tokens per iteration, the bonus token NOT included: E[X] = AL - 1 = {number(x)}",
        "the mean",
        "NVIDIA/TensorRT-LLM tensorrt_llm/_torch/speculative/interface.py @00b6d5a2 "
        "(get_force_num_accepted_tokens_float for the one-model path: the integer part is accepted every "
        "iteration and the fraction is the probability of one more; get_force_num_accepted_tokens for the "
        "two-model path parses an integer)",
        (
            "a fractional value works on the one-model path (EAGLE3 one-model, MTP) of builds that have "
            "get_force_num_accepted_tokens_float; the two-model path (TorchSampler) and older builds parse an "
            f"integer, and a fraction there is refused with a warning and forcing stays off: give "
            f"{whole} instead, which forces exactly {whole} every iteration (mean {whole}, not {number(x)})",
        ),
    )


def _llamacpp(m: list[float], k: int, al: float) -> Snippet:
    return Snippet(
        "llamacpp",
        "--spec-synth-rates",
        f"llama-server -m <model> --spec-type <drafter> --spec-draft-n-max {k} --spec-draft-n-min 0 "
        f"--spec-draft-p-min 0 --spec-synth-rates {_csv(m)}",
        "unconditional (marginal) per-position rates, entry i = P(the first i + 1 drafts all accepted), exactly "
        "n_max of them, finite, within [0, 1], non-increasing: the profile's marginal_accept_rates as they are; "
        "the engine divides consecutive ones into conditional acceptance probabilities",
        "every rate",
        "ggml-org/llama.cpp common/arg.cpp and common/speculative.cpp, as built into xllamacpp 2026.10.11549 "
        "('--spec-synth-rates P0,P1,...: comma-separated unconditional per-position synthetic acceptance "
        "probabilities (benchmarking only)', env LLAMA_ARG_SPEC_SYNTH_RATES; common_speculative_synth_rates_resolve "
        "checks the count, range and order); measured on that build (tests/test_engine.py, tests/test_engine_export.py)",
        (
            "a draft cut short (--spec-draft-p-min above 0, or the end of a request: at most max_tokens - generated "
            "- 1 tokens are drafted) cannot accept past its length, so keep p_min 0 for drafts of n_max tokens",
            f"--spec-synth-len {number(al)} (AL, bonus token included) sets the mean only, with equal conditional "
            "rates p (it solves sum p^(j+1) = AL - 1), not this profile's shape",
        ),
    )


def _atom(m: list[float], k: int, al: float) -> Snippet:
    return Snippet(
        "atom",
        "--spec-decode-acceptance-length",
        f"python -m atom.entrypoints.openai_server --model <model> --method <method> --num-speculative-tokens {k} "
        f"--spec-decode-acceptance-length {number(al)}",
        "the mean acceptance length AL = 1 + E[X], bonus token included, within [1, num_speculative_tokens + 1] "
        f"(or --spec-decode-acceptance-rate = (AL - 1) / K = {number((al - 1.0) / k)})",
        "the mean",
        "ROCm/ATOM atom/config.py @00afbe32 (SpeculativeConfig._resolve_synthetic_acceptance); "
        "atom/model_ops/rejection_sampler.py (acceptance_length_to_rates)",
        (
            "ATOM resolves AL to the minimum-variance schedule (1 up to floor(AL - 1), then the fraction, then 0), "
            "so the mean is the profile's and the per-position shape is not",
        ),
    )


def _dynamo(m: list[float], k: int, al: float) -> Snippet:
    c = conditional_from_marginal(m)
    notes = [
        "the mocker simulates timing (no model runs): the rates set how many tokens each simulated step emits",
        "commit not pinned: read in the 2026 versions of args.py stored in the search index; the mocker's own tests "
        "pad a list shorter than --aic-nextn with 0",
    ]
    if k > _DYNAMO_MAX_K:
        notes.insert(0, f"the mocker takes 1 to {_DYNAMO_MAX_K} draft tokens (--aic-nextn); export with -K 5 or less")
    return Snippet(
        "dynamo",
        "--aic-nextn-accept-rates",
        f"python -m dynamo.mocker --model-path <model> --aic-perf-model --aic-nextn {k} "
        f"--aic-nextn-accept-rates {_csv(c)}",
        "conditional rates, entry i = P(draft i accepted | all earlier drafts were accepted): the profile's "
        "conditional_accept_rates (m[i] / m[i - 1])",
        "every rate",
        "ai-dynamo/dynamo components/src/dynamo/mocker/args.py (--aic-nextn-accept-rates, alias "
        "--ais-nextn-accept-rates: 'Comma-separated conditional MTP acceptance rates. Entry i is P(draft i accepted "
        "| all earlier drafts were accepted)'); NVIDIA specdec_bench speculation_profile.py names the mocker as the "
        "consumer of conditional_accept_rates",
        tuple(notes),
    )


_WRITERS = {
    "vllm": _vllm,
    "sglang": _sglang,
    "trtllm": _trtllm,
    "llamacpp": _llamacpp,
    "atom": _atom,
    "dynamo": _dynamo,
}


def engine_snippets(marginal: Rates, engines: Sequence[str] | None = None) -> list[Snippet]:
    """Return each engine's synthetic-acceptance setting for the profile with these marginals.

    Parameters
    ----------
    marginal
        P(X >= 1), ..., P(X >= K) (as rounded in the profile).
    engines
        Which (names of :data:`ENGINES`); None: all, in that order.

    Returns
    -------
    list of Snippet
        One per engine.

    """
    names = list(ENGINES if engines is None else engines)
    unknown = [e for e in names if e not in _WRITERS]
    if unknown:
        raise InputError(f"{{engine}} {unknown[0]!r} is not one of {', '.join((*ENGINES, 'profile'))}", param="engine")
    m = [float(x) for x in marginal]
    al = acceptance_length(m)
    return [_WRITERS[e](m, len(m), al) for e in names]
