"""One request of a collection: its body, what the server refuses and how that is handled, its answer checked.

Truncation and penalties are switched off per engine (:data:`NEUTRAL`); an optional field the server refuses by
name is tried with its other spelling of "off" (:data:`ALTERNATIVES`) and then dropped, and the collection says
so. Any other refusal becomes one line naming its cause: a cap on ``top_logprobs``, a prompt longer than the
context, or the server's own message.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..readers import jsonl, responses
from .http import Client, Refused
from .options import CollectOptions
from .probe import ServerInfo

__all__ = ["ALTERNATIVES", "NEUTRAL", "Asker", "Job", "check_response", "top_width"]

#: Fields sent to switch truncation and penalties off, per engine; a server that refuses one by name gets the
#: request without it. vLLM and SGLang take top_k -1 as "off" (vLLM prefers 0 since 0.8 and still accepts -1);
#: llama.cpp takes 0 (its samplers skip top_k <= 0), and its own penalties, DRY, XTC, top-n-sigma and mirostat are
#: switched off explicitly because a server's command line may have switched them on.
NEUTRAL: dict[str, dict[str, Any]] = {
    "llama.cpp": {
        "top_k": 0,
        "min_p": 0.0,
        "typical_p": 1.0,
        "repeat_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "dry_multiplier": 0.0,
        "xtc_probability": 0.0,
        "top_n_sigma": -1.0,
        "mirostat": 0,
    },
    "vllm": {
        "top_k": -1,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "return_tokens_as_token_ids": True,
    },
    "sglang": {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0},
    "openai": {"presence_penalty": 0.0, "frequency_penalty": 0.0},
    "unknown": {"top_k": -1, "min_p": 0.0, "presence_penalty": 0.0, "frequency_penalty": 0.0},
}
#: Other spellings of "off" tried before a refused field is dropped (vLLM before 0.8 wants -1, after it prefers 0).
ALTERNATIVES: dict[str, dict[Any, Any]] = {"top_k": {-1: 0, 0: -1}}


@dataclass(frozen=True)
class Job:
    """One request: prompt ``index`` (its text and kind), continuations ``first`` .. ``first + count - 1``.

    A branch (``prefix`` not empty) continues the prompt plus those sampled token ids, ``at`` = their number;
    ``head`` is the prompt's own token ids where the engine takes the prompt as ids only (vLLM, SGLang), None where
    it reads llama.cpp's mixed prompt ``[text, ids...]``.
    """

    index: int
    text: str
    kind: str
    first: int
    count: int
    prefix: tuple[int, ...] = ()
    head: tuple[int, ...] | None = None

    @property
    def at(self) -> int:
        """Tokens into the continuation where a branch starts (0: not a branch)."""
        return len(self.prefix)

    def seed(self, base: int) -> int:
        """Return the request's seed: ``base + first``; a branch's also depends on its prefix (its own stream).

        Parameters
        ----------
        base
            The collection's ``--seed``.

        Returns
        -------
        int
            The seed sent with the request.

        """
        if not self.prefix:
            return base + self.first
        salt = zlib.crc32(",".join(map(str, self.prefix)).encode())
        return (base + self.first + 7919 * salt) % (2**31 - 1)


def _body(job: Job, opt: CollectOptions, model: str, extra: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model}
    if opt.chat:
        body["messages"] = [{"role": "user", "content": job.text}]
        body.update(logprobs=True, top_logprobs=opt.top_logprobs)
    else:
        # a branch: llama.cpp reads an array of text and token ids as one prompt (the text tokenized as alone);
        # vLLM and SGLang take ids only, the text's from the server's /tokenize (serving/prompt_ids.py)
        if not job.prefix:
            body["prompt"] = job.text
        elif job.head is not None:
            body["prompt"] = [*job.head, *job.prefix]
        else:
            body["prompt"] = [job.text, *job.prefix]
        body["logprobs"] = opt.top_logprobs
    body.update(max_tokens=opt.max_tokens - job.at, temperature=opt.temperature, top_p=1.0, seed=job.seed(opt.seed))
    if job.count > 1:
        body["n"] = job.count
    body["stream"] = False
    body.update(extra)
    return body


_CONTEXT = re.compile(r"context|too long|maximum.*length|exceeds.*(?:length|size|tokens)", re.IGNORECASE)
_CAP = re.compile(
    r"(?:max(?:imum)?\s*allowed|less than or equal to|<=|at most|maximum(?: value)? (?:is|of))\s*:?\s*(\d+)",
    re.IGNORECASE,
)


def _refusal(exc: Refused, job: Job, opt: CollectOptions, info: ServerInfo, path: str) -> InputError:
    """Return the one-line error for a refusal that no fallback fixes."""
    msg = exc.message
    if "logprob" in msg.lower():
        cap = _CAP.search(msg)
        capped = f" at {cap.group(1)}" if cap else ""
        fix = " (vLLM: start it with --max-logprobs K)" if info.engine == "vllm" else ""
        return InputError(
            f"{info.url} caps top_logprobs{capped}{fix}, below the {{top_logprobs}} {opt.top_logprobs} asked for "
            f"({exc.status}: {msg[:200]}); rerun with {{top_logprobs}} {cap.group(1) if cap else 'K'} or raise the cap",
            param="top_logprobs",
        )
    if _CONTEXT.search(msg):
        return InputError(
            f"prompt {job.index + 1} of {path} does not fit the server's context with {{max_tokens}} {opt.max_tokens} "
            f"({exc.status}: {msg[:200]}); shorten it, lower {{max_tokens}}, or drop it from the file",
            param="max_tokens",
        )
    return InputError(f"{info.url} refused the request for prompt {job.index + 1} ({exc.status}: {msg[:300]})")


def _named_field(msg: str, fields: Sequence[str]) -> str | None:
    """Return the optional field a refusal names (the longest first, so ``top_k`` never hides ``top_k_x``)."""
    low = msg.lower()
    for f in sorted(fields, key=len, reverse=True):
        if f.lower() in low:
            return f
    return None


class Asker:
    """Sends one job's request, dropping optional fields the server refuses by name (shared by the workers)."""

    def __init__(self, client: Client, info: ServerInfo, opt: CollectOptions, prompts_path: str) -> None:
        self.client, self.info, self.opt, self.path = client, info, opt, prompts_path
        self.extra = dict(NEUTRAL.get(info.engine, NEUTRAL["unknown"]))
        self.dropped: list[str] = []
        self.tried: set[str] = set()
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        """The completions endpoint asked: chat or plain."""
        return "/v1/chat/completions" if self.opt.chat else "/v1/completions"

    def ask(self, job: Job) -> tuple[dict[str, Any], dict[str, Any]]:
        """Send one job's request; return (the body sent, the answer).

        Parameters
        ----------
        job
            The prompt and the continuations asked for.

        Returns
        -------
        tuple of dict
            The request body as finally sent (without refused fields) and the server's JSON answer.

        Raises
        ------
        InputError
            For a refusal no fallback fixes (see :func:`_refusal`), and everything :meth:`Client.request` raises.

        """
        while True:
            with self._lock:
                extra = dict(self.extra)
            body = _body(job, self.opt, self.info.model, extra)
            try:
                return body, self.client.request("POST", self.endpoint, body)
            except Refused as exc:
                name = _named_field(exc.message, list(extra)) if exc.status in (400, 422) else None
                if name is None:
                    raise _refusal(exc, job, self.opt, self.info, self.path) from None
                with self._lock:
                    if self.extra.get(name) == extra.get(name):  # no other worker changed it meanwhile
                        other = ALTERNATIVES.get(name, {}).get(extra[name])
                        if other is not None and name not in self.tried:
                            self.tried.add(name)
                            self.extra[name] = other  # the other spelling of "off"
                        else:
                            del self.extra[name]
                            self.dropped.append(name)


def check_response(resp: Any, job: Job, info: ServerInfo, first: bool) -> tuple[int, int, bool, int]:
    """Check an answer: choices with log-probabilities in a readable layout, no empty positions.

    Parameters
    ----------
    resp
        The server's answer.
    job
        What was asked (for the messages).
    info
        The server.
    first
        The collection's first answer (an answer with no tokens is refused).

    Returns
    -------
    tuple
        (choices, positions listed, whether every position came with token ids, generated tokens without a row).

    Raises
    ------
    InputError
        For an answer without choices or log-probabilities, or with positions that list none (speculation on).

    """
    where = f"{info.url}: the answer for prompt {job.index + 1}"
    choices = resp.get("choices") if isinstance(resp, dict) else None
    if not isinstance(choices, list) or not choices:
        raise InputError(f"{where} has no choices; is this an OpenAI-compatible completions endpoint?")
    got = responses.read_line(resp, None)
    if got is None:
        lp = choices[0].get("logprobs") if isinstance(choices[0], dict) else None
        if lp is None:
            raise InputError(
                f"{where} carries no log-probabilities: the server ignores 'logprobs' (some deployments switch them "
                "off); use a server that returns them"
            )
        raise InputError(f"{where} has log-probabilities in a layout speedoflight does not read")
    tokens, ids = 0, True
    for rows in got[1]:
        jsonl.check_listed(f"{info.url} (prompt {job.index + 1})", 1, rows)
        tokens += len(rows)
        for row in rows:
            keys = row[3]
            if not keys or not all(isinstance(k, int) for k in keys):
                ids = False
                break
    if first and tokens == 0:
        raise InputError(f"{where} holds no generated tokens; raise {{max_tokens}}", param="max_tokens")
    usage = resp.get("usage")
    generated = usage.get("completion_tokens") if isinstance(usage, dict) else None
    cut = max(0, generated - tokens) if isinstance(generated, int) else 0
    return len(choices), tokens, ids, cut


def top_width(resp: dict[str, Any]) -> int:
    """Return the most top log-probabilities any position of an answer lists.

    Parameters
    ----------
    resp
        A checked answer (:func:`check_response`).

    Returns
    -------
    int
        The widest row's length (0 for none).

    """
    got = responses.parse_line(resp, None)
    widths = [len(r[0]) for rows in (got[1] if got else []) for r in rows]
    return max(widths, default=0)
