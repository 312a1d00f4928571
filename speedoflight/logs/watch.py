"""Live acceptance from a serving stack's ``/metrics``: spec-decode counters per engine, differenced between scrapes.

llama.cpp's server keeps the same counters under ``llamacpp:`` (one engine, no labels). vLLM (and SGLang's
vLLM-compatible exposition) keeps cumulative counters per ``model_name`` and ``engine``:
``vllm:spec_decode_num_drafts``, ``..._num_draft_tokens``, ``..._num_accepted_tokens`` and
``..._num_accepted_tokens_per_pos{position}``. Between two scrapes their differences give the interval's X =
accepted / drafts, and the per-position differences the distribution of X (hence the interval). A counter that
falls means that engine restarted: its new value is all it counted since. An engine that appears counts from zero;
one that disappears is noted.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from .uncertainty import distribution_from_cumulative, from_distribution, totals_only

__all__ = ["Counters", "IntervalStats", "fetch", "interval", "mean_draft", "spec_counters", "summarize"]

#: Counter prefixes read: vLLM's (and SGLang's vLLM-compatible exposition), and llama.cpp's server (``--metrics``:
#: ``llamacpp:spec_decode_num_drafts_total``, ``..._num_draft_tokens_total``, ``..._num_accepted_tokens_total``).
PREFIXES = ("vllm:spec_decode_num_", "llamacpp:spec_decode_num_")
_BASES = ("drafts", "draft_tokens", "accepted_tokens", "accepted_tokens_per_pos")


@dataclass
class Counters:
    """One engine's cumulative spec-decode counters."""

    drafts: float = 0.0
    draft_tokens: float = 0.0
    accepted: float = 0.0
    pos: dict[int, float] = field(default_factory=dict)


#: The most bytes one scrape may hold (a /metrics page is kilobytes; an endless or huge body is refused).
MAX_SCRAPE = 64 * 2**20


def fetch(source: str, timeout: float) -> str:
    """Return the text of ``source``: ``GET`` of an ``http(s)://`` URL, else a file read again.

    Every read is bounded: the whole scrape (headers and body) must arrive within ``timeout`` seconds and hold at
    most :data:`MAX_SCRAPE` bytes once decoded (gzip included); a file must be a regular file of at most that size
    (FIFOs and devices are refused before they are opened).

    Parameters
    ----------
    source
        A ``/metrics`` URL or a file holding one scrape.
    timeout
        Seconds the whole scrape may take.

    Returns
    -------
    str
        The exposition text.

    Raises
    ------
    InputError
        One line for every failure: no answer, too slow, too large, an HTTP error status, a redirect loop, a broken
        answer, a missing or special file.

    """
    if source.startswith(("http://", "https://")):
        return _fetch_url(source, timeout)
    import os
    import stat

    try:
        st = os.stat(source)
    except FileNotFoundError:
        raise InputError(f"{source}: no such file; give a /metrics URL (http://host:port/metrics) or a file") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read it ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{source}: not a regular file (a FIFO, device or folder); save one scrape to a file")
    try:
        with open(source, "rb") as fh:
            data = fh.read(MAX_SCRAPE + 1)
    except OSError as exc:
        raise InputError(f"{source}: cannot read it ({exc.strerror})") from None
    if len(data) > MAX_SCRAPE:
        raise InputError(f"{source}: over {MAX_SCRAPE >> 20} MiB; a /metrics scrape is kilobytes, save one scrape")
    return data.decode("utf-8-sig", errors="replace")


def _fetch_url(url: str, timeout: float) -> str:
    """GET a /metrics page within ``timeout`` seconds in all and :data:`MAX_SCRAPE` bytes, on a helper thread."""
    import threading

    box: dict[str, Any] = {}

    def get() -> None:
        try:
            box["text"] = _get(url, timeout)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=get, daemon=True)  # a server that drips bytes cannot hold the watch
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise InputError(
            f"{url}: no complete answer within {timeout:g} s; check the address, or raise {{timeout}}", param="timeout"
        )
    if "error" in box:
        raise box["error"]
    return str(box["text"])


def _get(url: str, timeout: float) -> str:
    import httpx

    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True, trust_env=False) as r:
            if r.status_code >= 400:
                raise InputError(f"{url}: the server answered {r.status_code} {r.reason_phrase}; check the address")
            chunks, size = [], 0
            for block in r.iter_bytes():  # decoded (gzip and deflate included), so the cap holds after decoding
                size += len(block)
                if size > MAX_SCRAPE:
                    raise InputError(f"{url}: the answer is over {MAX_SCRAPE >> 20} MiB; is this a /metrics page?")
                chunks.append(block)
    except httpx.TooManyRedirects:
        raise InputError(f"{url}: a redirect loop (more than 20 redirects); give the final address") from None
    except httpx.ConnectError as exc:
        raise InputError(f"{url}: no answer within {timeout:g} s ({_first(exc)}); check the address") from None
    except httpx.TimeoutException:
        raise InputError(
            f"{url}: no answer within {timeout:g} s; check the address, or raise {{timeout}}", param="timeout"
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        raise InputError(f"{url}: a broken answer ({type(exc).__name__}: {_first(exc)})") from None
    return b"".join(chunks).decode("utf-8", errors="replace")


def _first(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def spec_counters(text: str, source: str) -> dict[tuple[str, str], Counters]:
    """Parse one scrape into counters per (model, engine); other series and ``_created`` ones are skipped.

    Parameters
    ----------
    text
        Prometheus exposition text.
    source
        Where it came from, for messages.

    Returns
    -------
    dict
        ``(model_name, engine)`` to :class:`Counters`.

    """
    from prometheus_client.parser import text_string_to_metric_families

    try:
        samples = [s for fam in text_string_to_metric_families(text) for s in fam.samples]
    except (ValueError, TypeError, IndexError) as exc:
        raise InputError(f"{source}: not Prometheus text ({exc})") from None
    out: dict[tuple[str, str], Counters] = {}
    seen: dict[tuple[Any, ...], float] = {}
    for s in samples:
        prefix = next((p for p in PREFIXES if s.name.startswith(p)), None)
        if prefix is None or s.name.endswith("_created"):
            continue
        base = s.name[len(prefix) :].removesuffix("_total")
        if base not in _BASES:
            continue
        v = float(s.value)
        if not math.isfinite(v) or v < 0:
            raise InputError(f"{source}: {s.name} = {s.value} is not a count")
        key = (s.labels.get("model_name", ""), s.labels.get("engine", ""))
        series = (base, *key, s.labels.get("position"))
        if series in seen:  # the same series twice: with and without _total, or two scrapes in one file
            if seen[series] == v:
                continue
            raise InputError(
                f"{source}: {s.name} appears twice with different values ({seen[series]:g} and {v:g}): several "
                "scrapes in one file? keep one scrape"
            )
        seen[series] = v
        c = out.setdefault(key, Counters())
        if base == "accepted_tokens_per_pos":
            try:
                p = int(s.labels["position"])
            except (KeyError, ValueError):
                raise InputError(f"{source}: {s.name} has no whole 'position' label") from None
            c.pos[p] = c.pos.get(p, 0.0) + v
        elif base == "drafts":
            c.drafts += v
        elif base == "draft_tokens":
            c.draft_tokens += v
        else:
            c.accepted += v
    return out


@dataclass(frozen=True)
class IntervalStats:
    """X over one interval between two scrapes, pooled over engines.

    Attributes
    ----------
    drafts, draft_tokens, accepted : float
        Differences of the counters, summed over engines.
    mean_accepted : float
        X = accepted / drafts (NaN for an idle interval).
    se : float or None
        Its standard error (from the per-position distribution; None from totals only).
    ci : tuple of float or None
        95% interval.
    per_position : list of float
        Share of drafts with position i accepted, P(X > i).
    engines : int
        Engines counted.
    notes : tuple of str
        Restarts, engines that came or went, per-position series that did not add up.

    """

    drafts: float
    draft_tokens: float
    accepted: float
    mean_accepted: float
    se: float | None
    ci: tuple[float, float] | None
    per_position: list[float]
    engines: int
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON values.

        Returns
        -------
        dict
            Every field, plus ``tokens_per_call`` (X + 1).

        """
        return {
            "drafts": self.drafts,
            "draft_tokens": self.draft_tokens,
            "accepted": self.accepted,
            "mean_accepted": self.mean_accepted if math.isfinite(self.mean_accepted) else None,
            "tokens_per_call": self.mean_accepted + 1 if math.isfinite(self.mean_accepted) else None,
            "se": self.se,
            "ci": list(self.ci) if self.ci else None,
            "per_position": self.per_position,
            "engines": self.engines,
            "notes": list(self.notes),
        }


def _name(key: tuple[str, str]) -> str:
    model, engine = key
    return " ".join(x for x in (f"engine {engine}" if engine else "", f"({model})" if model else "") if x) or "counters"


def _estimate(acc: float, drafts: float, per: list[float]) -> tuple[float, float | None, Any, str]:
    """X from the per-position counters ``per`` (drafts with position i accepted) where given, else from the totals."""
    if per:
        return from_distribution(distribution_from_cumulative(drafts, per), "per-position counters", acc / drafts)
    return totals_only(acc, drafts, None)


def interval(prev: dict[tuple[str, str], Counters], cur: dict[tuple[str, str], Counters]) -> IntervalStats:
    """Difference two scrapes: per engine (a fall in its counters is a restart), then summed.

    Parameters
    ----------
    prev, cur
        Counters of the earlier and the later scrape (:func:`spec_counters`).

    Returns
    -------
    IntervalStats
        The interval's X with its uncertainty.

    """
    notes: list[str] = []
    drafts = tokens = acc = 0.0
    pos: dict[int, float] = {}
    for key, c in cur.items():
        p = prev.get(key)
        if p is None:
            if prev:
                notes.append(f"{_name(key)} appeared (counted from zero)")
            p = Counters()
        restarted = c.drafts < p.drafts or c.accepted < p.accepted or c.draft_tokens < p.draft_tokens
        if restarted:
            notes.append(f"{_name(key)} restarted (its counters fell): counted from its restart")
            p = Counters()
        drafts += c.drafts - p.drafts
        tokens += c.draft_tokens - p.draft_tokens
        acc += c.accepted - p.accepted
        for i, v in c.pos.items():
            pos[i] = pos.get(i, 0.0) + v - p.pos.get(i, 0.0)
    for key in prev.keys() - cur.keys():
        notes.append(f"{_name(key)} is gone from the scrape")
    if drafts <= 0:
        return IntervalStats(0.0, tokens, acc, math.nan, None, None, [], len(cur), (*notes, "idle: no drafts"))
    per = [pos[i] for i in sorted(pos)] if pos and sorted(pos) == list(range(len(pos))) else []
    usable = bool(per) and all(b <= a + 0.5 for a, b in itertools.pairwise(per)) and abs(sum(per) - acc) <= 0.5
    if per and not usable:
        notes.append("the per-position counters do not add up to the accepted tokens: X from the totals")
    mean, se, ci, _ = _estimate(acc, drafts, per if usable else [])
    return IntervalStats(
        drafts=drafts,
        draft_tokens=tokens,
        accepted=acc,
        mean_accepted=float(mean),
        se=se,
        ci=ci,
        per_position=[float(x / drafts) for x in per] if usable else [],
        engines=len(cur),
        notes=tuple(notes),
    )


def mean_draft(stats: IntervalStats) -> int | None:
    """Return the interval's draft tokens per call, when it is a whole number (a chain of K), else None.

    Parameters
    ----------
    stats
        An interval.

    Returns
    -------
    int or None
        K.

    """
    if stats.per_position:
        return len(stats.per_position)
    if stats.drafts > 0 and stats.draft_tokens > 0:
        k = stats.draft_tokens / stats.drafts
        if abs(k - round(k)) < 1e-9:
            return round(k)
    return None


def summarize(parts: list[IntervalStats]) -> IntervalStats:
    """Pool intervals by summing their counts (restarts inside the watch are already counted from zero).

    Parameters
    ----------
    parts
        The intervals of a watch.

    Returns
    -------
    IntervalStats
        The whole watch; per-position values where every busy interval has them for the same positions.

    """
    busy = [p for p in parts if p.drafts > 0]
    drafts = sum(p.drafts for p in busy)
    acc = sum(p.accepted for p in busy)
    tokens = sum(p.draft_tokens for p in parts)
    notes = tuple(dict.fromkeys(n for p in parts for n in p.notes if n != "idle: no drafts"))
    engines = max((p.engines for p in parts), default=0)
    if drafts <= 0:
        return IntervalStats(0.0, tokens, acc, math.nan, None, None, [], engines, (*notes, "idle: no drafts"))
    widths = {len(p.per_position) for p in busy}
    if len(widths) == 1 and 0 not in widths:
        per = [sum(p.per_position[i] * p.drafts for p in busy) for i in range(widths.pop())]
    else:
        per = []
    mean, se, ci, _ = _estimate(acc, drafts, per)
    per_position = [x / drafts for x in per]
    return IntervalStats(drafts, tokens, acc, float(mean), se, ci, per_position, engines, notes)
