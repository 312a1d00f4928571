"""A small OpenAI-compatible server on 127.0.0.1 for the collect tests: a toy model with configurable faults.

The toy model has a vocabulary of ``VOCAB`` tokens; the distribution at a position is a softmax of pseudo-random
logits seeded by (prompt, previous token), so it is the same for the same context whatever the request; a
request's ``seed`` (plus the choice's index) seeds the sampling. It answers in llama.cpp's layout (``content``
entries with ``id``, ``token``, ``bytes``) by default, or in the OpenAI completions layout (``top_logprobs`` as
``{token: logprob}``) with ``layout="completions"``.

With ``whole_context`` (on by default for ``owned_by`` ``"vllm"`` and ``"sglang"``) the distribution is seeded by
the whole token context instead: the prompt's ids (:func:`toy_tokenize`, one id per character after a BOS) and
every token generated so far (:func:`context_distribution`). A prompt may then come as text, as a list of ids
(vLLM, SGLang: no BOS added) or as llama.cpp's mixed ``[text, id, ...]``: the same ids give the same distribution
whatever the form, and another context a different one. The vLLM mode answers in the completions layout, naming
tokens ``token_id:N`` when ``return_tokens_as_token_ids`` is sent, and serves ``POST /tokenize``; the SGLang mode
serves it as ``/v1/tokenize`` too and names tokens by their strings.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

VOCAB = 50
MODEL = "toy-135M-Instruct"


def distribution(prompt: str, prev: int) -> np.ndarray:
    """Return the toy model's log-probabilities after ``prev`` (-1 at the start) in the context of ``prompt``."""
    digest = hashlib.sha256(f"{prompt}|{prev}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    logits = rng.normal(scale=2.0, size=VOCAB)
    return logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()


#: The toy tokenizer's BOS, added to a text prompt (as vLLM and llama.cpp add one) and never to a prompt of ids.
BOS = 0


def toy_tokenize(text: str, special: bool = True) -> list[int]:
    """Return the toy tokenizer's ids of ``text``: a BOS (with ``special``), then one id per character."""
    return ([BOS] if special else []) + [1 + ord(c) % (VOCAB - 1) for c in text]


def context_distribution(context: list[int] | tuple[int, ...]) -> np.ndarray:
    """Return the whole-context toy model's log-probabilities after the token ids ``context``."""
    digest = hashlib.sha256(("ctx|" + ",".join(map(str, context))).encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    logits = rng.normal(scale=2.0, size=VOCAB)
    return logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()


def sample_context(context: list[int] | tuple[int, ...], seed: int, length: int) -> list[tuple[int, np.ndarray]]:
    """Return one continuation of ``context`` under the whole-context model: (token, its distribution) each."""
    rng = np.random.default_rng(seed)
    ctx, out = list(context), []
    for _ in range(length):
        lp = context_distribution(ctx)
        tok = int(rng.choice(VOCAB, p=np.exp(lp)))
        out.append((tok, lp))
        ctx.append(tok)
    return out


def sample(prompt: str, seed: int, length: int) -> list[tuple[int, np.ndarray]]:
    """Return one continuation: (sampled token, log-probabilities it was drawn from) per position."""
    rng = np.random.default_rng(seed)
    out, prev = [], -1
    for _ in range(length):
        lp = distribution(prompt, prev)
        tok = int(rng.choice(VOCAB, p=np.exp(lp)))
        out.append((tok, lp))
        prev = tok
    return out


@dataclass
class Faults:
    """What the fake server does wrong (each a knob a test turns)."""

    n_max: int = 64  # largest n it takes; above it: 400 (llama.cpp's message)
    ignore_n: bool = False  # answers one choice whatever n asks
    fail_first: int = 0  # answers 429 to this many requests first
    status_first: int = 429
    api_key: str | None = None  # 401 without it
    no_logprobs: bool = False
    context: int | None = None  # 400 when max_tokens + len(prompt) exceeds it
    cap: int | None = None  # 400 when asked for more top logprobs (vLLM's message)
    spec_empty: bool = False  # top_logprobs empty after the first token (llama.cpp with speculation)
    refuse_fields: tuple[str, ...] = ()  # 400 naming the first such field present in a request
    refuse_values: dict[str, Any] = field(default_factory=dict)  # 400 naming a field sent with this value
    layout: str | None = None  # "llama.cpp" or "completions"; None: completions for vLLM and SGLang
    owned_by: str = "llamacpp"
    whole_context: bool | None = None  # the whole-context model; None: on for vLLM and SGLang
    tokenize_paths: tuple[str, ...] | None = None  # tokenize endpoints served; None: the engine's own
    tokenize_answer: Any = None  # answered to every tokenize request instead of the tokens
    ids_always: bool = False  # completions layout: name tokens token_id:N even unasked
    n_vocab: int | None = VOCAB
    split_utf8_at: int | None = None  # drop the entry at this position and spell the next one as a 2-byte character
    timings: bool = False  # llama.cpp-style timings: prompt_n new tokens past the cached prefix, 0.5 + 0.1 ms each
    cached: list[Any] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)  # completions requests
    tokenized: list[dict[str, Any]] = field(default_factory=list)  # tokenize requests
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def engine(self) -> str | None:
        """The engine mode: ``"vllm"``, ``"sglang"`` or None (llama.cpp and the rest)."""
        return self.owned_by if self.owned_by in ("vllm", "sglang") else None

    def answers_as(self) -> str:
        """The layout answered in."""
        return self.layout or ("completions" if self.engine else "llama.cpp")

    def by_context(self) -> bool:
        """Whether the whole-context model answers."""
        return self.whole_context if self.whole_context is not None else self.engine is not None

    def serves(self) -> tuple[str, ...]:
        """The tokenize endpoints served."""
        if self.tokenize_paths is not None:
            return self.tokenize_paths
        return {"vllm": ("/tokenize",), "sglang": ("/v1/tokenize", "/tokenize")}.get(self.engine or "", ())


def tokenize_answer(body: dict[str, Any], faults: Faults) -> dict[str, Any]:
    """Return vLLM's (and SGLang's) answer to ``POST /tokenize``."""
    if faults.tokenize_answer is not None:
        return faults.tokenize_answer
    ids = toy_tokenize(body["prompt"], bool(body.get("add_special_tokens", True)))
    return {"count": len(ids), "max_model_len": 2048, "tokens": ids}


def _context(prompt: Any) -> list[int]:
    """Return a prompt's token ids: text (with a BOS), ids as they are, or llama.cpp's mixed [text, ids...]."""
    if isinstance(prompt, str):
        return toy_tokenize(prompt)
    if prompt and isinstance(prompt[0], str):
        return toy_tokenize(prompt[0]) + [int(x) for x in prompt[1:]]
    return [int(x) for x in prompt]


def _entry(tok: int, lp: np.ndarray, k: int) -> dict[str, Any]:
    top = np.argsort(-lp, kind="stable")[:k]
    return {
        "id": tok,
        "token": f"t{tok}",
        "bytes": list(f"t{tok}".encode()),
        "logprob": float(lp[tok]),
        "top_logprobs": [
            {"id": int(t), "token": f"t{int(t)}", "bytes": list(f"t{int(t)}".encode()), "logprob": float(lp[t])}
            for t in top
        ],
    }


def answer(body: dict[str, Any], faults: Faults) -> tuple[int, dict[str, Any]]:
    """Return (status, JSON body) for one completions request."""
    prompt = body.get("prompt")
    if prompt is None:
        prompt = body["messages"][-1]["content"]
    if isinstance(prompt, list) and "logprobs" not in body:  # ids (latency): one token of "text" per id, timed
        same = 0
        while same < min(len(prompt), len(faults.cached)) and prompt[same] == faults.cached[same]:
            same += 1
        faults.cached = list(prompt)
        new = len(prompt) - same
        resp = {"choices": [{"index": 0, "text": "x", "finish_reason": "length"}], "model": MODEL}
        if faults.timings:
            resp["timings"] = {"cache_n": same, "prompt_n": new, "prompt_ms": 0.5 + 0.1 * new, "predicted_n": 1}
        return 200, resp
    n = int(body.get("n", 1))
    k = int(body.get("top_logprobs", body.get("logprobs", 0)) or 0)
    if body.get("logprobs") is True:
        k = int(body.get("top_logprobs", 0))
    for name in faults.refuse_fields:
        if name in body:
            return 400, {"error": {"code": 400, "message": f"The {name} sampling parameter is not supported here."}}
    for name, bad in faults.refuse_values.items():
        if body.get(name) == bad:
            return 400, {"object": "error", "message": f"{name} must be 0 (disable), or at least 1, got {bad}."}
    if n > faults.n_max:
        return 400, {"error": {"message": "n_cmpl cannot be greater than the number of slots, please increase -np"}}
    if faults.cap is not None and k > faults.cap:
        return 400, {
            "object": "error",
            "message": f"Requested sample logprobs of {k}, which is greater than max allowed: {faults.cap}",
        }
    max_tokens = int(body.get("max_tokens", 16))
    if faults.context is not None and len(prompt) + max_tokens > faults.context:
        return 400, {
            "error": {"message": "the request exceeds the available context size, try increasing it", "code": 400}
        }
    if isinstance(prompt, list) and faults.engine and not all(isinstance(x, int) for x in prompt):
        return 400, {"object": "error", "message": "prompt: Input should be a valid string or a list of integers"}
    if isinstance(prompt, list) and not faults.by_context():
        return 400, {"error": {"message": "this toy reads a list prompt with whole_context only"}}
    context = _context(prompt) if faults.by_context() else None
    named = bool(body.get("return_tokens_as_token_ids")) or faults.ids_always
    choices, generated = [], 0
    for i in range(1 if faults.ignore_n else n):
        seed = int(body.get("seed", 0)) * 1000 + i
        cont = sample(prompt, seed, max_tokens) if context is None else sample_context(context, seed, max_tokens)
        generated += len(cont)
        if faults.no_logprobs:
            choices.append({"index": i, "text": "x", "logprobs": None, "finish_reason": "length"})
            continue
        if faults.answers_as() == "completions":
            name = "token_id:{}" if named else "t{}"
            lp = {
                "tokens": [name.format(t) for t, _ in cont],
                "token_logprobs": [float(d[t]) for t, d in cont],
                "top_logprobs": [
                    {name.format(int(x)): float(d[x]) for x in np.argsort(-d, kind="stable")[:k]} for _, d in cont
                ],
            }
        else:
            content = [_entry(t, d, k) for t, d in cont]
            if faults.spec_empty:
                for e in content[1:]:
                    e["top_logprobs"] = []
            at = faults.split_utf8_at
            if at is not None and at + 1 < len(content):
                content[at + 1]["token"] = "é"
                content[at + 1]["bytes"] = [195, 169]
                del content[at]
            lp = {"content": content}
        choices.append({"index": i, "text": "x", "logprobs": lp, "finish_reason": "length"})
    resp = {
        "choices": choices,
        "model": body.get("model", MODEL),
        "object": "text_completion",
        "usage": {
            "completion_tokens": generated,
            "prompt_tokens": len(prompt if context is None else context),
            "total_tokens": generated + 1,
        },
    }
    return 200, resp


@contextmanager
def fake_server(faults: Faults | None = None) -> Iterator[tuple[str, Faults]]:
    """Serve the toy model on 127.0.0.1; yield (base URL, faults). Stopped on exit."""
    f = faults or Faults()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if f.api_key is None or self.headers.get("Authorization") == f"Bearer {f.api_key}":
                return True
            self._send(401, {"error": {"message": "Invalid API Key", "type": "authentication_error"}})
            return False

        def do_GET(self):
            if not self._authorised():
                return
            if self.path == "/v1/models":
                meta = {"n_vocab": f.n_vocab, "n_ctx_train": 2048} if f.n_vocab else {}
                self._send(200, {"object": "list", "data": [{"id": MODEL, "owned_by": f.owned_by, "meta": meta}]})
            else:
                self._send(404, {"error": {"message": "Not Found"}})

        def do_POST(self):
            if not self._authorised():
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path in ("/tokenize", "/v1/tokenize"):
                with f.lock:
                    f.tokenized.append({"path": self.path, **body})
                if self.path not in f.serves():
                    self._send(404, {"detail": "Not Found"})
                    return
                self._send(200, tokenize_answer(body, f))
                return
            with f.lock:
                f.requests.append(body)
                failing = f.fail_first > 0
                if failing:
                    f.fail_first -= 1
            if failing:
                self._send(f.status_first, {"error": {"message": "busy"}}, {"Retry-After": "0"})
                return
            status, obj = answer(body, f)
            self._send(status, obj)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", f
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
