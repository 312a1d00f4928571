"""``speedoflight latency --url``: the verifier's time per pass at each P, measured on a running server.

A verify pass over P draft tokens is one forward over P + 1 new tokens on top of the sequence's KV cache. The
server is warmed with a prefix of ``context`` tokens (given as token ids, so no tokenizer is needed), then asked,
``repeats`` times per P, for one token after that prefix followed by P + 1 fresh tokens (``max_tokens`` 1,
``cache_prompt``): the prefix is served from the cache and the P + 1 tokens are the pass. Each repeat starts its
fresh tokens with a different token, so the cache never holds them.

* **Server timings** where the server reports them (llama.cpp's ``timings.prompt_ms`` for ``prompt_n`` new
  tokens): the pass itself, checked to have processed exactly P + 1 tokens on a cached prefix.
* **Wall clock** elsewhere (vLLM, SGLang with prefix caching): the request's round trip, which adds the same HTTP
  and scheduling overhead to every P, the baseline P = 0 included.

The median of the repeats is written as the CSV that ``--latency`` reads (``P, milliseconds``, the first row P = 0).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from .http import Client, Refused, base_url
from .probe import ServerInfo, probe

__all__ = ["LatencyResult", "measure_latency", "write_latency_csv"]

#: Token ids the prefix and the fresh tokens are made of: ordinary tokens in every mainstream vocabulary (special
#: tokens sit at the ends of the id range), cycled.
_IDS = range(1000, 2000)
#: Most tokens of context and of P measured (a pass over more is beyond any tree a server drafts).
MAX_CONTEXT = 1 << 17
MAX_P = 4096


@dataclass(frozen=True)
class LatencyResult:
    """The measured time of one verifier pass per P.

    Attributes
    ----------
    P : tuple of int
        Tree sizes, increasing, the first 0.
    ms : tuple of float
        Median milliseconds of a pass over P + 1 tokens, per P.
    low, high : tuple of float
        The smallest and largest repeat per P (the spread).
    method : str
        ``"server timings"`` or ``"wall clock"``.
    context : int
        Tokens of cached prefix the passes ran on.
    repeats : int
        Measurements per P.
    server : ServerInfo
        What the server said about itself.
    notes : tuple of str
        How to read it.

    """

    P: tuple[int, ...]
    ms: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    method: str
    context: int
    repeats: int
    server: ServerInfo
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict.

        Returns
        -------
        dict
            Every field, ``server`` as a dict.

        """
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d.update(P=list(self.P), ms=list(self.ms), low=list(self.low), high=list(self.high))
        d["server"], d["notes"] = self.server.to_dict(), list(self.notes)
        return d


def _tokens(n: int, start: int) -> list[int]:
    return [_IDS[(start + 7 * i) % len(_IDS)] for i in range(n)]


def measure_latency(
    url: str,
    ps: Sequence[int],
    *,
    context: int = 512,
    repeats: int = 5,
    model: str | None = None,
    api_key: str | None = None,
    timeout: float = 120.0,
    progress: Callable[[str], None] | None = None,
) -> LatencyResult:
    """Measure the verifier's time per pass at each P on a running server.

    Parameters
    ----------
    url
        The server's address.
    ps
        Tree sizes to measure (0 is always added: the baseline of the speedup).
    context
        Tokens of cached prefix each pass runs on (the context length of your traffic).
    repeats
        Measurements per P (the median is kept).
    model
        The model id (default: the only one served).
    api_key
        A bearer token, never recorded.
    timeout
        Seconds per request.
    progress
        Called with a short line per P measured.

    Returns
    -------
    LatencyResult

    Raises
    ------
    InputError
        For bad values, an unreachable server, or a server that refuses the prompt as token ids.

    """
    sizes = sorted({0, *(int(p) for p in ps)})
    if sizes[0] < 0 or sizes[-1] > MAX_P:
        raise InputError(f"-P must be 0..{MAX_P}, got {sizes[0] if sizes[0] < 0 else sizes[-1]}")
    if not 1 <= context <= MAX_CONTEXT:
        raise InputError(f"{{context}} must be 1..{MAX_CONTEXT} tokens, got {context}", param="context")
    if repeats < 1:
        raise InputError(f"{{repeats}} must be at least 1, got {repeats}", param="repeats")
    tell = progress or (lambda _msg: None)
    with Client(base_url(url), api_key=api_key, timeout=timeout, retries=2) as client:
        info = probe(client, model)
        if info.n_ctx is not None and context + sizes[-1] + 2 > info.n_ctx:
            raise InputError(
                f"{{context}} {context} plus P = {sizes[-1]} does not fit the server's context of {info.n_ctx} tokens; "
                "lower {context} or the largest P",
                param="context",
            )
        prefix = _tokens(context, 0)

        def ask(extra: list[int]) -> tuple[dict[str, Any], float]:
            prompt = prefix + extra
            body: dict[str, Any] = {"model": info.model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0}
            body["cache_prompt"] = True  # llama.cpp; others cache prefixes by themselves (or ignore the field)
            t0 = time.perf_counter()
            try:
                got = client.request("POST", "/v1/completions", body)
            except Refused as exc:
                raise InputError(
                    f"{info.url} refused a prompt of {len(prompt)} token ids ({exc.status}: {exc.message[:200]})"
                ) from None
            return got, 1e3 * (time.perf_counter() - t0)

        ask([])  # warm: the prefix into the cache (and the kernels compiled)
        ask(_tokens(1, 500))
        notes: list[str] = []
        try:
            runs = _measure(ask, sizes, repeats, tell, timings=True)
            method = "server timings"
            notes.append("each pass: P + 1 new tokens on a cached prefix, the server's own prompt timing")
        except _NoTimings as exc:
            if exc.shown:
                notes.append(
                    f"the server's timings did not show a pass over exactly P + 1 = {exc.p + 1} new tokens on the "
                    f"cached prefix (prompt_n {exc.shown}): measured by wall clock instead"
                )
            runs = _measure(ask, sizes, repeats, tell, timings=False)
            method = "wall clock"
            notes.append(
                "wall clock of a request that prefills P + 1 new tokens on a cached prefix and returns one token: it "
                "adds the server's fixed per-request overhead to every P, the baseline P = 0 included"
            )
    return LatencyResult(
        P=tuple(sizes),
        ms=tuple(statistics.median(r) for r in runs),
        low=tuple(min(r) for r in runs),
        high=tuple(max(r) for r in runs),
        method=method,
        context=context,
        repeats=repeats,
        server=info,
        notes=tuple(notes),
    )


class _NoTimings(Exception):
    """The server's timings do not show the pass (absent, or another number of new tokens)."""

    def __init__(self, p: int, shown: Any) -> None:
        super().__init__(p)
        self.p, self.shown = p, shown


def _measure(
    ask: Callable[[list[int]], tuple[dict[str, Any], float]],
    sizes: list[int],
    repeats: int,
    tell: Callable[[str], None],
    *,
    timings: bool,
) -> list[list[float]]:
    """Milliseconds of each repeat at each P: the server's prompt timing, or the request's wall clock."""
    out = []
    for p in sizes:
        runs = []
        for r in range(repeats):
            got, wall = ask(_tokens(p + 1, 1 + 31 * r + p + (0 if timings else 13)))
            if not timings:
                runs.append(wall)
                continue
            t = got.get("timings") if isinstance(got, dict) else None
            ms = t.get("prompt_ms") if isinstance(t, dict) else None
            if not (
                isinstance(t, dict)
                and t.get("prompt_n") == p + 1
                and isinstance(ms, int | float)
                and math.isfinite(ms)
                and ms > 0
            ):
                raise _NoTimings(p, t.get("prompt_n") if isinstance(t, dict) else None)
            runs.append(float(ms))
        out.append(runs)
        tell(f"P = {p}: {statistics.median(runs):.2f} ms" + ("" if timings else " (wall clock)"))
    return out


def write_latency_csv(path: str, result: LatencyResult) -> None:
    """Write the CSV ``--latency`` reads (``P,milliseconds``), atomically.

    Parameters
    ----------
    path
        The ``.csv`` file.
    result
        The measurement.

    """
    from .._util.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write("P,milliseconds\n")
        for p, ms in zip(result.P, result.ms, strict=True):
            fh.write(f"{p},{ms:.6g}\n")
