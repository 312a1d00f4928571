"""A prompt's token ids from the server's own tokenizer, for branches on engines that take ids only as the prompt.

A branch (``collect --branch-at``) continues a prompt plus the first T token ids one of its continuations sampled.
llama.cpp reads a mixed prompt ``[text, id, id, ...]`` (:data:`MIXED`); vLLM and SGLang take a prompt as text or as
a list of token ids, not both, so there the text is turned into ids by the server itself, ``POST /tokenize`` with
``{"model", "prompt", "add_special_tokens": true}`` (vLLM; SGLang also serves it as ``/v1/tokenize``), answered
``{"tokens": [...], "count": n, "max_model_len": m}``. ``add_special_tokens`` true is what both apply to a text
prompt of ``/v1/completions``, and neither adds a BOS to a prompt given as ids, so ``[*ids_of(text), *prefix]`` is
the context the continuation was sampled in. Each prompt text is tokenized once (cached).
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import InputError
from .http import Client, Refused
from .probe import ServerInfo

__all__ = ["BY_IDS", "MIXED", "PATHS", "ServerTokenizer", "branch_prompt_kind"]

#: Engines whose completions read llama.cpp's mixed prompt ``[text, id, ...]``.
MIXED = frozenset({"llama.cpp"})
#: Engines whose completions take the prompt as token ids, the text tokenized by the server's ``/tokenize``.
BY_IDS = frozenset({"vllm", "sglang"})
#: The tokenize endpoints tried per engine, in order (a 404 tries the next).
PATHS: dict[str, tuple[str, ...]] = {"vllm": ("/tokenize",), "sglang": ("/v1/tokenize", "/tokenize")}


def branch_prompt_kind(info: ServerInfo) -> str:
    """Return how a branch's prompt is sent to this server, or refuse an engine that takes neither form.

    Parameters
    ----------
    info
        The server (:func:`~speedoflight.serving.probe.probe`).

    Returns
    -------
    str
        ``"mixed"`` (llama.cpp) or ``"ids"`` (vLLM, SGLang).

    Raises
    ------
    InputError
        For any other engine (OpenAI, unknown): one line with the fix.

    """
    if info.engine in MIXED:
        return "mixed"
    if info.engine in BY_IDS:
        return "ids"
    raise InputError(
        "{branch_at} continues a prompt plus sampled token ids, which collect sends as llama.cpp's mixed prompt "
        f"[text, ids...] or, to vLLM and SGLang, as token ids from the server's /tokenize; {info.url} is "
        f"{info.engine}, which takes neither: use `speedoflight dump --branch-at` with the model, or collect "
        "without {branch_at}",
        param="branch_at",
    )


class ServerTokenizer:
    """A prompt text's token ids as the server's ``/tokenize`` gives them, each text asked for once."""

    def __init__(self, client: Client, info: ServerInfo) -> None:
        self.client, self.info = client, info
        self.paths = PATHS.get(info.engine, ("/tokenize",))
        self.cache: dict[str, tuple[int, ...]] = {}
        self.requests = 0
        self._lock = threading.Lock()

    def ids(self, text: str) -> tuple[int, ...]:
        """Return the token ids the server reads ``text`` as, special tokens (a BOS) included.

        Parameters
        ----------
        text
            A prompt.

        Returns
        -------
        tuple of int
            Its ids, as the server's ``/tokenize`` answers them.

        Raises
        ------
        InputError
            For a server without the endpoint, a refusal, or an answer without a list of token ids.

        """
        with self._lock:
            got = self.cache.get(text)
        if got is not None:
            return got
        body = {"model": self.info.model, "prompt": text, "add_special_tokens": True}
        fix = (
            "--branch-at sends the prompt as token ids, which needs the server's /tokenize (a proxy that forwards "
            "only /v1 hides it): give --url the server itself, or use `speedoflight dump --branch-at` with the "
            "model, or collect without --branch-at"
        )
        answer: Any = None
        paths = self.paths
        for i, path in enumerate(paths):
            where = f"{self.info.url}{path}"
            try:
                answer = self.client.request("POST", path, body)
                break
            except Refused as exc:
                if exc.status == 404 and i + 1 < len(paths):
                    with self._lock:
                        self.paths = paths[i + 1 :]  # not served: never asked again
                    continue
                if exc.status in (404, 405):
                    raise InputError(f"{where} is not served ({exc.status}: {exc.message[:100]}); {fix}") from None
                raise InputError(
                    f"{where} refused to tokenize a prompt ({exc.status}: {exc.message[:200]}); {fix}"
                ) from None
        tokens = answer.get("tokens") if isinstance(answer, dict) else None
        if not (isinstance(tokens, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in tokens)):
            raise InputError(f"{where} answered without a list of token ids ('tokens'); {fix}")
        got = tuple(tokens)
        with self._lock:
            self.cache[text] = got
            self.requests += 1
        return got
