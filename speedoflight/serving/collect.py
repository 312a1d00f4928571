"""``speedoflight collect``: the verifier's log-probabilities from a running server, as the ceiling needs them.

For each prompt, N continuations sampled at temperature 1 (by default) with truncation off, each position's top-K
log-probabilities and the sampled token, with token ids where the server gives them. The output is a JSONL file:
a header line (what the server said about itself and what was sent), then one record per request holding the
request and the response, so the readers group continuations by prompt without guessing
(:mod:`speedoflight.readers.jsonl`).

How the server is asked:

* **Continuations.** With ``n`` where the server takes it; a server that refuses ``n > 1`` (llama.cpp with fewer
  slots than N) or answers fewer choices gets N requests instead, one per continuation with seed ``seed + j``. The
  first request decides, and the result says which was used.
* **Sampling.** ``temperature`` as given, ``top_p`` 1, and for the engines that have them ``top_k`` off, ``min_p`` 0
  and no penalties; a server that refuses one of these optional fields by name gets the request without it, and
  the result says so. llama.cpp truncates by default (top_k 40, top_p 0.95, min_p 0.05), and truncated
  probabilities are not the verifier's.
* **Token ids.** vLLM's ``return_tokens_as_token_ids``; llama.cpp returns ``id`` fields itself. Where only strings
  come back the result says so (tokens are then told apart by their bytes or strings).
* **Branches** (``--branch-at``). Once the continuations are in, each is continued from its first T sampled
  tokens, one request per branch point (per branch where ``n`` is refused): llama.cpp gets its mixed prompt ``[text, ids...]``, vLLM and SGLang the
  prompt's ids from their ``/tokenize`` (:mod:`.prompt_ids`, each prompt once, the first before any completion)
  followed by the sampled ids. The record keeps the request as sent and names the prompt ``[text, ids...]`` in its
  ``branch`` marker, which the readers join it by. Other engines are refused up front.
* **Speculation.** A llama.cpp server running speculative decoding returns no ``top_logprobs`` for the tokens its
  verify steps emit (and cannot switch it off per request): a response with empty positions is refused with the
  fix, an instance without speculation.

The file is appended one whole line at a time under a lock, so Ctrl-C or a crash leaves a valid file, and a rerun
with the same settings skips what is complete (an incomplete last line of an interrupted write is dropped).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import IO, Any

from .._version import __version__
from ..errors import InputError
from ..readers import responses
from ..readers.prompts import choose_prompts, read_prompts
from .asking import Asker, Job, check_response, top_width
from .http import Client, base_url
from .logfile import append_line, check_resume, locked_append, read_existing
from .options import CollectOptions
from .probe import ServerInfo, probe
from .prompt_ids import ServerTokenizer, branch_prompt_kind

__all__ = ["FORMAT_VERSION", "CollectOptions", "CollectResult", "collect"]

#: Version of the collect file layout (its header's ``version``).
FORMAT_VERSION = 1


@dataclass(frozen=True)
class CollectResult:
    """What a collection did.

    Attributes
    ----------
    out : str
        The file written.
    server : ServerInfo
        What the server said about itself.
    prompts : int
        Prompts asked for.
    complete_before : int
        Prompts already complete in the file before this run (skipped).
    continuations : int
        Continuations of these prompts in the file after this run.
    requests : int
        Requests answered in this run.
    tokens : int
        Tokens generated in this run.
    mode : str
        ``"n"`` (continuations through ``n``) or ``"requests"`` (one request per continuation).
    ids : bool
        Whether the server returned token ids.
    top_logprobs : int
        Top log-probabilities per position the server returned (at most the number asked for).
    dropped : tuple of str
        Optional sampling fields the server refused (sent without them).
    retried : int
        Requests retried (429, 5xx, dropped connections).
    notes : tuple of str
        What the user should know: the mode, missing ids, a smaller top-k, an unknown vocabulary, early stops.
    branch_requests, branch_tokens : int
        Requests and tokens of the branches (``--branch-at``) answered in this run, the cost of the branches
        (``requests`` and ``tokens`` include them).

    """

    out: str
    server: ServerInfo
    prompts: int
    complete_before: int
    continuations: int
    requests: int
    tokens: int
    mode: str
    ids: bool
    top_logprobs: int
    dropped: tuple[str, ...] = ()
    retried: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    branch_requests: int = 0
    branch_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict.

        Returns
        -------
        dict
            Every field, ``server`` as a dict.

        """
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["server"] = self.server.to_dict()
        d["dropped"], d["notes"] = list(self.dropped), list(self.notes)
        return d


def collect(
    url: str,
    prompts: str,
    out: str,
    options: CollectOptions | None = None,
    *,
    api_key: str | None = None,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
) -> CollectResult:
    """Collect continuations with their top-k log-probabilities from a server into a JSONL log.

    Parameters
    ----------
    url
        The server's address (``http://host:port``, with or without ``/v1``).
    prompts
        A prompt file: text (one prompt per line) or JSONL with ``prompt`` (and ``kind``).
    out
        The ``.jsonl`` file: created, or resumed when it holds a collection with the same settings.
    options
        What to ask for (:class:`CollectOptions`).
    api_key
        Sent as a bearer token; never written to the file.
    progress
        A progress bar on stderr.
    say
        Called with each notice as it happens (the mode chosen, a dropped field); default: silent.

    Returns
    -------
    CollectResult

    Raises
    ------
    InputError
        One line for every failure the user can fix: bad options, an unreachable or refusing server, 401, a server
        that ignores ``logprobs``, a prompt longer than the context, a file that is not a collect log or was
        collected with other settings.

    """
    opt = options or CollectOptions()
    opt.check()
    tell = say or (lambda _msg: None)
    items = read_prompts(prompts)
    chosen = choose_prompts(items, opt.per_kind)
    if opt.limit is not None:
        chosen = chosen[: opt.limit]
    base = base_url(url)
    with (
        locked_append(out) as fh,
        Client(base, api_key=api_key, timeout=opt.timeout, retries=opt.retries, backoff=opt.backoff) as client,
    ):
        existing = read_existing(fh, out)
        info = probe(client, opt.model)
        tokenizer = None
        if opt.branch_at and branch_prompt_kind(info) == "ids":  # before any request: nothing half collected
            tokenizer = ServerTokenizer(client, info)
        settings = {
            "temperature": opt.temperature,
            "max_tokens": opt.max_tokens,
            "top_logprobs": opt.top_logprobs,
            "chat": opt.chat,
            "seed": opt.seed,
            "n": opt.n,
            "branch_at": sorted(set(opt.branch_at)),
            "branches": opt.branches,
        }
        if existing.header is not None:
            check_resume(existing.header, info, settings, out)
        if tokenizer is not None and chosen:
            tokenizer.ids(items[chosen[0]][0])  # a server without /tokenize is refused before any completion
        jobs_per: list[tuple[int, str, str, int]] = []  # (index, text, kind, continuations still needed)
        complete_before = 0
        for i in chosen:
            text, kind = items[i]
            have = existing.done.get(text, 0)
            if have >= opt.n:
                complete_before += 1
            else:
                jobs_per.append((i, text, kind, have))
        runner = _Run(client, info, opt, prompts, fh, progress, tell, tokenizer)
        if existing.dropped_partial:
            runner.notes.append(f"dropped an incomplete last line of {out} (an interrupted write)")
        runner.run(jobs_per, existing.header is None, settings, prompts)
        if opt.branch_at:
            runner.branch(chosen, items, read_existing(fh, out))
        done = {**existing.done, **runner.done}
    total = sum(min(done.get(items[i][0], 0), opt.n) for i in chosen)
    notes = list(runner.notes)
    if info.vocab_size is None:
        notes.append(
            "the server did not say its vocabulary size: give --vocab-size V to the commands that read this log"
        )
    return CollectResult(
        out=out,
        server=info,
        prompts=len(chosen),
        complete_before=complete_before,
        continuations=total,
        requests=runner.requests,
        tokens=runner.tokens,
        mode=runner.mode,
        ids=runner.ids,
        top_logprobs=runner.width or opt.top_logprobs,
        dropped=tuple(runner.asker.dropped),
        retried=client.retried,
        notes=tuple(notes),
        branch_requests=runner.branch_requests,
        branch_tokens=runner.branch_tokens,
    )


class _Run:
    """The collection's loop: the first request decides the mode, the rest run ``concurrency`` at a time."""

    def __init__(
        self,
        client: Client,
        info: ServerInfo,
        opt: CollectOptions,
        prompts: str,
        fh: IO[bytes],
        progress: bool,
        tell: Callable[[str], None],
        tokenizer: ServerTokenizer | None = None,
    ) -> None:
        self.info, self.opt, self.fh, self.tell = info, opt, fh, tell
        self.tokenizer = tokenizer  # vLLM, SGLang: a branch's prompt as ids (None: llama.cpp's mixed prompt)
        self.asker = Asker(client, info, opt, prompts)
        self.mode = "n" if opt.n > 1 else "requests"
        self.requests = self.tokens = self.width = 0
        self.ids = True
        self.done: dict[str, int] = {}
        self.notes: list[str] = []
        self.progress = progress
        self.stopped = self.cut = 0
        self.header: tuple[dict[str, Any], str] | None = None
        self.branch_requests = self.branch_tokens = 0

    def _record(self, job: Job, body: dict[str, Any], resp: dict[str, Any], first: bool) -> int:
        n_choices, tokens, ids, cut = check_response(resp, job, self.info, first)
        self.ids &= ids
        self.cut += cut
        self.width = max(self.width, top_width(resp))
        self.stopped += sum(1 for c in resp["choices"] if isinstance(c, dict) and c.get("finish_reason") == "stop")
        if self.header is not None:  # written with the first good answer, once the mode is known
            append_line(self.fh, self._header(*self.header))
            self.header = None
        record: dict[str, Any] = {"prompt_index": job.index, "kind": job.kind}
        if job.prefix:  # the logical prompt [text, *prefix], whatever was sent: the readers find the parent by it
            record["branch"] = {"at": job.at, "prompt": [job.text, *job.prefix]}
        append_line(self.fh, {**record, "request": body, "response": resp})
        self.requests += 1
        self.tokens += tokens
        if job.prefix:
            self.branch_requests += 1
            self.branch_tokens += tokens
        else:
            self.done[job.text] = self.done.get(job.text, 0) + n_choices
        return n_choices

    def branch(self, chosen: list[int], items: list[tuple[str, str]], existing: Any) -> None:
        """Ask for ``branches`` continuations at each branch point of each collected continuation.

        Parameters
        ----------
        chosen, items
            The prompts asked for (indices into ``items``, each (text, kind)).
        existing
            The file as it is now (:func:`~speedoflight.serving.logfile.read_existing`): its continuations'
            sampled token ids, and the branches already asked for (a resumed run asks only for the rest).

        """
        from tqdm import tqdm

        jobs: list[Job] = []
        for i in chosen:
            text, kind = items[i]
            conts = existing.sampled.get(text, [])[: self.opt.n]
            if any(not c for c in conts):
                raise InputError(
                    f"{self.info.url} ({self.info.engine}) returned token strings, not ids, for prompt {i + 1}: "
                    "{branch_at} continues the sampled token ids (llama.cpp lists them with logprobs, vLLM with "
                    "return_tokens_as_token_ids, which collect sends); collect without {branch_at}, or use "
                    "`speedoflight dump --branch-at` with the model",
                    param="branch_at",
                )
            for c in conts:
                for t in sorted(set(self.opt.branch_at)):
                    if t >= len(c):
                        continue  # the continuation ended before the branch point (end of text)
                    prefix = tuple(c[:t])
                    have = existing.branched.get((text, prefix), 0)
                    need = self.opt.branches - have
                    if need <= 0:
                        continue
                    existing.branched[(text, prefix)] = self.opt.branches  # a prefix two continuations share
                    head = None if self.tokenizer is None else self.tokenizer.ids(text)  # before any branch is sent
                    if self.mode == "n":
                        jobs.append(Job(i, text, kind, have, need, prefix, head))
                    else:
                        jobs += [Job(i, text, kind, have + j, 1, prefix, head) for j in range(need)]
        if not jobs:
            return
        with tqdm(total=sum(j.count for j in jobs), unit="branch", disable=not self.progress, leave=False) as bar:
            self._pool(jobs, bar)
        self.notes.append(
            f"branches: {self.branch_requests} requests, {self.branch_tokens} tokens "
            f"({self.branch_tokens / max(self.tokens - self.branch_tokens, 1):.2f}x the continuations' tokens of "
            "this run), each a prefill of its prompt and prefix"
            + (
                f"; the prompts sent as token ids, {self.tokenizer.requests} tokenized by the server's /tokenize"
                if self.tokenizer is not None
                else ""
            )
        )

    def _jobs(self, pending: list[tuple[int, str, str, int]], mode: str) -> list[Job]:
        jobs = []
        for i, text, kind, have in pending:
            have = max(have, self.done.get(text, 0))
            need = self.opt.n - have
            if need <= 0:
                continue
            if mode == "n":
                jobs.append(Job(i, text, kind, have, need))
            else:
                jobs += [Job(i, text, kind, have + j, 1) for j in range(need)]
        return jobs

    def run(self, pending: list[tuple[int, str, str, int]], new_file: bool, settings: dict, prompts: str) -> None:
        from tqdm import tqdm

        if not pending:
            return
        total = sum(self.opt.n - have for *_, have in pending)
        with tqdm(total=total, unit="cont", disable=not self.progress, desc="collect", leave=False) as bar:
            first = self._jobs(pending[:1], self.mode)[0]
            body, resp = self._first(first)
            self.header = (settings, prompts) if new_file else None
            bar.update(self._record(first, body, resp, True))
            if self.width and self.width < self.opt.top_logprobs:
                self.notes.append(
                    f"the server returned {self.width} top log-probabilities per position, not {self.opt.top_logprobs}"
                )
            self._pool(self._jobs(pending, self.mode), bar)
        self.notes.insert(
            0,
            "continuations through n (one request per prompt)"
            if self.mode == "n"
            else f"continuations as separate requests, seeds {self.opt.seed}..{self.opt.seed + self.opt.n - 1}"
            + (" (the server does not take n > 1)" if self.opt.n > 1 else ""),
        )
        if self.stopped:
            self.notes.append(
                f"{self.stopped} continuation{'s' if self.stopped > 1 else ''} ended before --max-tokens (the model's end "
                "of text) and count as shorter"
            )
        if self.cut:
            self.notes.append(
                f"{self.cut} generated tokens have no row: the server lists no log-probabilities for the first part "
                "of a character split over tokens (llama.cpp), so those continuations end before it"
            )
        if not self.ids:
            self.notes.append(
                "the server returned token strings, not ids: tokens are told apart by their bytes or strings"
            )

    def _first(self, job: Job) -> tuple[dict[str, Any], dict[str, Any]]:
        """Send the first request; switch to one request per continuation where ``n`` is refused or ignored."""
        if job.count > 1:
            try:
                body, resp = self.asker.ask(job)
            except InputError:
                single = replace(job, count=1)
                body, resp = self.asker.ask(single)  # a refusal of this one is the real problem: it propagates
                self.mode = "requests"
                self.tell("the server refused n > 1: asking once per continuation")
                return body, resp
            got = resp.get("choices") if isinstance(resp, dict) else None
            if isinstance(got, list) and 0 < len(got) < job.count:
                self.mode = "requests"
                self.tell(
                    f"the server answered {len(got)} of n = {job.count} continuations: asking once per continuation"
                )
            return body, resp
        return self.asker.ask(job)

    def _pool(self, jobs: list[Job], bar: Any) -> None:
        """Run the jobs on daemon threads (Ctrl-C never waits for a request); records are written here only."""
        if not jobs:
            return
        todo: queue.Queue[Job | None] = queue.Queue()
        done: queue.Queue[tuple[Job, Any, BaseException | None]] = queue.Queue()
        for j in jobs:
            todo.put(j)
        workers = min(self.opt.concurrency, len(jobs))
        for _ in range(workers):
            todo.put(None)

        def work() -> None:
            while (job := todo.get()) is not None:
                try:
                    done.put((job, self.asker.ask(job), None))
                except BaseException as exc:  # handed to the main thread, which raises it
                    done.put((job, None, exc))
                    return

        for _ in range(workers):
            threading.Thread(target=work, daemon=True).start()
        for _ in range(len(jobs)):
            job, got, exc = done.get()
            if exc is not None:
                raise exc
            body, resp = got
            bar.update(self._record(job, body, resp, False))

    def _header(self, settings: dict[str, Any], prompts: str) -> dict[str, Any]:
        with open(prompts, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        return {
            "format": responses.HEADER_FORMAT,
            "version": FORMAT_VERSION,
            "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "speedoflight": __version__,
            "server": self.info.to_dict(),
            "sampling": {
                **settings,
                "top_p": 1.0,
                "sent": dict(self.asker.extra),
                "mode": self.mode,
                "endpoint": self.asker.endpoint,
            },
            "prompts": {"file": os.path.basename(prompts), "sha256": digest},
        }
