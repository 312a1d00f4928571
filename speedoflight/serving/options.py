"""What ``speedoflight collect`` asks a server for: :class:`CollectOptions`, checked before any request."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError

__all__ = ["MAX_TOP_LOGPROBS", "CollectOptions"]

#: Most top log-probabilities asked for (OpenAI's cap is 20; vLLM's is its --max-logprobs, 20 by default).
MAX_TOP_LOGPROBS = 1000


@dataclass(frozen=True)
class CollectOptions:
    """What to ask the server for.

    Attributes
    ----------
    n : int
        Continuations per prompt.
    max_tokens : int
        Tokens per continuation.
    top_logprobs : int
        Top log-probabilities per position.
    temperature : float
        Sampling temperature (> 0).
    chat : bool
        Use ``/v1/chat/completions`` (each prompt one user message) instead of ``/v1/completions``.
    model : str or None
        The model id to request (default: the only one the server lists).
    concurrency : int
        Requests in flight at once.
    seed : int
        Seed of the first continuation; continuation j of a prompt uses ``seed + j``.
    timeout : float
        Seconds allowed per request.
    retries : int
        Retries per request on 429, 5xx and dropped connections.
    backoff : float
        Seconds before the first retry (doubling).
    limit : int or None
        Only the first N prompts (after ``per_kind``).
    per_kind : int or None
        Only the first N prompts of each kind.
    branch_at : tuple of int
        Branch points, tokens into each continuation: ``branches`` more continuations are asked for from the
        prompt plus each continuation's first T tokens (``collect --branch-at``; llama.cpp, vLLM and SGLang).
    branches : int
        Continuations per branch point (with ``branch_at``).

    """

    n: int = 4
    max_tokens: int = 64
    top_logprobs: int = 20
    temperature: float = 1.0
    chat: bool = False
    model: str | None = None
    concurrency: int = 2
    seed: int = 0
    timeout: float = 120.0
    retries: int = 5
    backoff: float = 0.5
    limit: int | None = None
    per_kind: int | None = None
    branch_at: tuple[int, ...] = ()
    branches: int = 0

    def check(self) -> None:
        """Refuse impossible values, naming the flag.

        Raises
        ------
        InputError
            For the first bad value.

        """
        for name, v in (("n", self.n), ("max_tokens", self.max_tokens), ("concurrency", self.concurrency)):
            if v < 1:
                raise InputError(f"{{{name}}} must be at least 1, got {v}", param=name)
        if not 1 <= self.top_logprobs <= MAX_TOP_LOGPROBS:
            raise InputError(
                f"{{top_logprobs}} must be 1..{MAX_TOP_LOGPROBS}, got {self.top_logprobs}", param="top_logprobs"
            )
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise InputError(
                f"{{temperature}} must be > 0, got {self.temperature:g}: the ceiling is that of sampling (greedy "
                "continuations are all alike)",
                param="temperature",
            )
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise InputError(f"{{timeout}} must be > 0 seconds, got {self.timeout:g}", param="timeout")
        if self.retries < 0:
            raise InputError(f"{{retries}} must be >= 0, got {self.retries}", param="retries")
        if not 0 <= self.seed < 2**31 - self.n:
            raise InputError(f"{{seed}} must be 0 <= S < {2**31 - self.n}, got {self.seed}", param="seed")
        if self.branches and not self.branch_at:
            raise InputError(
                "{branches} N goes with {branch_at} POSITIONS (where each continuation branches)",
                param=("branches", "branch_at"),
            )
        if self.branch_at:
            if self.branches < 1:
                raise InputError(
                    "{branch_at} needs {branches} N >= 1 (continuations asked for at each branch point)",
                    param=("branch_at", "branches"),
                )
            bad = [t for t in self.branch_at if not 1 <= t < self.max_tokens]
            if bad:
                raise InputError(
                    f"{{branch_at}} {bad[0]}: branch points lie inside a continuation, 1..{self.max_tokens - 1} tokens "
                    "in (more continuations from the prompt's end are -n)",
                    param="branch_at",
                )
            if self.chat:
                raise InputError(
                    "{branch_at} continues a prompt plus tokens the model sampled, which needs /v1/completions: "
                    "drop {chat} (give the chat-formatted prompt as text) or drop {branch_at}",
                    param=("branch_at", "chat"),
                )
