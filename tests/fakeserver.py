"""A small OpenAI-compatible server on 127.0.0.1 for the collect tests: a toy model with configurable faults.

The toy model has a vocabulary of ``VOCAB`` tokens; the distribution at a position is a softmax of pseudo-random
logits seeded by (prompt, previous token), so it is the same for the same context whatever the request; a
request's ``seed`` (plus the choice's index) seeds the sampling. It answers in llama.cpp's layout (``content``
entries with ``id``, ``token``, ``bytes``) by default, or in the OpenAI completions layout (``top_logprobs`` as
``{token: logprob}``) with ``layout="completions"``.
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
    layout: str = "llama.cpp"
    owned_by: str = "llamacpp"
    n_vocab: int | None = VOCAB
    split_utf8_at: int | None = None  # drop the entry at this position and spell the next one as a 2-byte character
    timings: bool = False  # llama.cpp-style timings: prompt_n new tokens past the cached prefix, 0.5 + 0.1 ms each
    cached: list[Any] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


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
    if isinstance(prompt, list):  # token ids (latency): one token of "text" per id, timed like llama.cpp
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
    choices, generated = [], 0
    for i in range(1 if faults.ignore_n else n):
        cont = sample(prompt, int(body.get("seed", 0)) * 1000 + i, max_tokens)
        generated += len(cont)
        if faults.no_logprobs:
            choices.append({"index": i, "text": "x", "logprobs": None, "finish_reason": "length"})
            continue
        if faults.layout == "completions":
            lp = {
                "tokens": [f"t{t}" for t, _ in cont],
                "token_logprobs": [float(d[t]) for t, d in cont],
                "top_logprobs": [
                    {f"t{int(x)}": float(d[x]) for x in np.argsort(-d, kind="stable")[:k]} for _, d in cont
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
        "usage": {"completion_tokens": generated, "prompt_tokens": len(prompt), "total_tokens": generated + 1},
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
