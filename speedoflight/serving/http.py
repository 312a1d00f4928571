"""An HTTP client for OpenAI-compatible servers: retries with backoff, bounded reads, one-line errors.

Built on httpx. Every way a server can fail becomes either a retry (429 and 5xx, dropped connections, time-outs,
up to ``retries`` times with exponential backoff that honours ``Retry-After``), a :class:`Refused` carrying the
status and the server's own message (other 4xx, for the caller to interpret), or an
:class:`~speedoflight.errors.InputError` of one line (unreachable, 401/403, a redirect, an answer that is not JSON
or is larger than :data:`MAX_BODY`).
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import InputError

__all__ = ["MAX_BODY", "RETRY_STATUS", "Client", "Refused", "base_url", "redact"]

#: Statuses retried with backoff: rate limits and server-side failures.
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
#: The largest response body read (bytes): a server that sends more is refused, never held in memory.
MAX_BODY = 256 << 20
#: The longest wait between two tries (seconds), whatever ``Retry-After`` says.
MAX_BACKOFF = 30.0


class Refused(Exception):
    """A server's refusal of a request (a 4xx other than 401, 403 and 429), with its own message.

    Attributes
    ----------
    status : int
        The HTTP status.
    message : str
        The server's error message (from its JSON error body where it sends one), at most 500 characters.

    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def redact(url: str) -> str:
    """Return a URL without user name and password (what is recorded and printed).

    Parameters
    ----------
    url
        Any URL.

    Returns
    -------
    str
        The URL with its credentials removed.

    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def base_url(url: str) -> str:
    """Return the server's base URL: scheme and host, without a trailing ``/v1`` or slash.

    Parameters
    ----------
    url
        What the user gave: ``http://host:port``, ``http://host:port/v1`` or ``host:port``.

    Returns
    -------
    str
        The base URL the API paths (``/v1/completions``) are appended to.

    Raises
    ------
    InputError
        For a URL that is not http(s).

    """
    u = url.strip()
    if "://" not in u:
        u = "http://" + u
    parts = urlsplit(u)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{{url}} {url!r} is not an http(s) address; give e.g. http://127.0.0.1:8000", param="url")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InputError(f"{{url}} {url!r} has a bad port; give e.g. http://127.0.0.1:8000", param="url") from None
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1")
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")).rstrip("/")


def _message(status: int, body: bytes) -> str:
    """Return the error message a server put in its body (OpenAI, vLLM, SGLang, llama.cpp shapes), else its text."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        obj = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:500] or f"HTTP {status}"
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return err["message"][:500]
    if isinstance(err, str):
        return err[:500]
    if isinstance(obj, dict) and isinstance(obj.get("message"), str):
        return obj["message"][:500]
    if isinstance(obj, dict) and isinstance(obj.get("detail"), str):
        return obj["detail"][:500]
    return " ".join(text.split())[:500]


class Client:
    """A thread-safe client of one server.

    Parameters
    ----------
    url
        The server's base URL (:func:`base_url`).
    api_key
        Sent as ``Authorization: Bearer``; never recorded.
    timeout
        Seconds allowed for one request (connecting, and each read of the answer); ``connect`` at most 10.
    retries
        Tries after the first, for retried statuses and dropped connections.
    backoff
        Seconds before the first retry, doubling each time (capped at :data:`MAX_BACKOFF`).

    """

    def __init__(
        self, url: str, *, api_key: str | None = None, timeout: float = 120.0, retries: int = 5, backoff: float = 0.5
    ) -> None:
        try:
            import httpx
        except ImportError:  # pragma: no cover - httpx is a dependency
            raise InputError("collecting from a server needs httpx: pip install httpx") from None
        self.url = url
        self.shown = redact(url)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.timeout = float(timeout)
        self.retried = 0
        self._lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._httpx = httpx
        self._client = httpx.Client(
            base_url=url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
            follow_redirects=False,
            trust_env=False,
        )

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _once(self, method: str, path: str, body: Any) -> tuple[int, bytes, dict[str, str]]:
        """One request; the body read up to :data:`MAX_BODY` and within the request's deadline."""
        deadline = time.monotonic() + self.timeout
        kw: dict[str, Any] = {"json": body} if body is not None else {}
        with self._client.stream(method, path, **kw) as resp:
            chunks, size = [], 0
            for block in resp.iter_bytes():
                size += len(block)
                if size > MAX_BODY:
                    raise InputError(
                        f"{self.shown}{path} sent more than {MAX_BODY >> 20} MiB; ask for fewer tokens or "
                        "continuations per request"
                    )
                if time.monotonic() > deadline:
                    raise self._httpx.ReadTimeout("the answer took longer than the time-out")
                chunks.append(block)
            return resp.status_code, b"".join(chunks), dict(resp.headers)

    def _wait(self, attempt: int, headers: dict[str, str]) -> None:
        delay = self.backoff * 2**attempt
        after = headers.get("retry-after")
        if after is not None:
            try:
                delay = max(delay, float(after))
            except ValueError:
                pass
        time.sleep(min(delay, MAX_BACKOFF) if math.isfinite(delay) else MAX_BACKOFF)
        with self._lock:
            self.retried += 1

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send a request and return its JSON answer, retrying what is worth retrying.

        Parameters
        ----------
        method
            ``"GET"`` or ``"POST"``.
        path
            The path after the base URL (``/v1/completions``).
        body
            The JSON body (POST).

        Returns
        -------
        Any
            The parsed JSON answer.

        Raises
        ------
        Refused
            For a 4xx other than 401, 403 and 429 (the caller interprets the server's message).
        InputError
            Unreachable, time-outs and retried statuses past ``retries`` tries, 401/403, redirects, non-JSON.

        """
        httpx = self._httpx
        where = f"{self.shown}{path}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                status, data, headers = self._once(method, path, body)
            except httpx.ConnectError as exc:
                if last or (attempt == 0 and method == "GET"):
                    raise InputError(
                        f"cannot reach {self.shown} ({_reason(exc)}); is the server running, and is {{url}} right?",
                        param="url",
                    ) from None
                self._wait(attempt, {})
                continue
            except httpx.TimeoutException:
                if last:
                    raise InputError(
                        f"{where} gave no answer within {self.timeout:g} s ({self.retries + 1} tries); raise "
                        "{timeout}, or lower {concurrency} if the server is overloaded",
                        param=("timeout", "concurrency"),
                    ) from None
                self._wait(attempt, {})
                continue
            except (httpx.TransportError, httpx.DecodingError) as exc:
                if last:
                    raise InputError(
                        f"{where}: the connection failed ({_reason(exc)}) after {attempt + 1} tries"
                    ) from None
                self._wait(attempt, {})
                continue
            if status in RETRY_STATUS:
                if last:
                    raise InputError(
                        f"{where} answered {status} ({_message(status, data)}) to {attempt + 1} tries; the server is "
                        "overloaded or failing: lower {concurrency}, or try again later (a rerun resumes)",
                        param="concurrency",
                    )
                self._wait(attempt, headers)
                continue
            if status in (401, 403):
                raise InputError(
                    f"{where} refused the request ({status}: {_message(status, data)}); give the API key with "
                    "{api_key_env} VAR (the name of the environment variable that holds it)",
                    param="api_key_env",
                )
            if 300 <= status < 400:
                raise InputError(
                    f"{where} redirects ({status}) to {headers.get('location', '?')}; give that address as {{url}}",
                    param="url",
                )
            if status >= 400:
                raise Refused(status, _message(status, data))
            try:
                return json.loads(data)
            except ValueError:
                raise InputError(
                    f"{where} answered {status} with something that is not JSON; is {{url}} an OpenAI-compatible server?",
                    param="url",
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def probe(self, path: str) -> Any:
        """GET ``path`` once, for what a server says about itself: its JSON, or None on any failure.

        Parameters
        ----------
        path
            ``/v1/models``, ``/props``, ``/version``, ...

        Returns
        -------
        Any
            The parsed answer, or None (not found, refused, not JSON, dropped).

        """
        try:
            status, data, _ = self._once("GET", path, None)
        except InputError:
            return None
        except self._httpx.ConnectError as exc:
            raise InputError(
                f"cannot reach {self.shown} ({_reason(exc)}); is the server running, and is {{url}} right?", param="url"
            ) from None
        except (self._httpx.TransportError, self._httpx.DecodingError):
            return None
        if status in (401, 403):
            raise InputError(
                f"{self.shown}{path} refused the request ({status}); give the API key with {{api_key_env}} VAR (the "
                "name of the environment variable that holds it)",
                param="api_key_env",
            )
        if status != 200:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return None


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
