"""``speedoflight collect``: the verifier's log-probabilities from a running OpenAI-compatible server."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import add_output_flags, api_key, emit, int_list, positive, positive_int, progress, seed_int

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight collect`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "collect",
        help="collect the verifier's log-probabilities from a running server (vLLM, SGLang, llama.cpp, OpenAI)",
        description="Samples -n continuations per prompt from an OpenAI-compatible server (vLLM, SGLang, llama.cpp, "
        "OpenAI) at --temperature with truncation off and appends the responses, with each position's top-K "
        "log-probabilities and token ids where the server gives them, to a JSONL API log that estimate, "
        "bound --from, simulate --pool, optimum --dump, compare --dump, export --dump, report --dump and "
        "watch --dump read.",
        epilog="The log is a header line, then one record per request with the request and the response. "
        "Re-running the same command resumes it: prompts already complete are skipped. Cost: prompts x N "
        "continuations x --max-tokens generated tokens, in prompts (n) or prompts x N requests."
        "\n\nexample:\n  speedoflight collect --url http://127.0.0.1:8000 --prompts prompts.jsonl --out mine.jsonl "
        "-n 4 --max-tokens 64\n  speedoflight report --dump mine.jsonl --measured server.log\n",
    )
    p.add_argument("--url", required=True, metavar="BASE", help="the server, e.g. http://127.0.0.1:8000 (or .../v1)")
    p.add_argument(
        "--prompts",
        required=True,
        metavar="FILE",
        help="prompts: a text file (one per line) or JSONL with 'prompt' (and 'kind')",
    )
    p.add_argument("--out", required=True, metavar="FILE.jsonl", help="the API log to write, or to resume (.jsonl)")
    p.add_argument("-n", type=positive_int, default=4, metavar="N", help="continuations per prompt (4)")
    p.add_argument("--max-tokens", type=positive_int, default=64, metavar="N", help="tokens per continuation (64)")
    p.add_argument(
        "--top-logprobs", type=positive_int, default=20, metavar="K", help="top log-probabilities per position (20)"
    )
    p.add_argument("--temperature", type=positive, default=1.0, metavar="T", help="sampling temperature (1)")
    p.add_argument("--chat", action="store_true", help="use /v1/chat/completions, each prompt one user message")
    p.add_argument("--model", metavar="NAME", help="the model id to request (default: the only one served)")
    p.add_argument("--concurrency", type=positive_int, default=2, metavar="C", help="requests in flight (2)")
    p.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="the environment variable holding the API key (sent as a bearer token, never written)",
    )
    p.add_argument(
        "--seed", type=seed_int, default=0, metavar="N", help="seed of continuation 0; continuation j uses seed + j (0)"
    )
    p.add_argument("--timeout", type=positive, default=120.0, metavar="S", help="seconds per request (120)")
    p.add_argument("--retries", type=int, default=5, metavar="N", help="retries on 429, 5xx, dropped connections (5)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="only the first N prompts")
    p.add_argument("--per-kind", type=positive_int, metavar="N", help="only the first N prompts of each kind")
    p.add_argument(
        "--branch-at",
        type=int_list,
        metavar="T,...",
        help="branch points, tokens into each continuation (e.g. 8,16,24): ask for --branches more continuations "
        "of the prompt plus each continuation's first T sampled tokens, one request per branch point, or per branch where n is refused (llama.cpp: "
        "the mixed prompt [text, ids...]; vLLM, SGLang: token ids, the prompt tokenized once by the server's "
        "/tokenize), recorded for the grafted ceiling's tries",
    )
    p.add_argument(
        "--branches", type=positive_int, default=0, metavar="N", help="continuations per branch point (--branch-at)"
    )
    add_output_flags(p, "print the result as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight collect`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..serving.collect import CollectOptions, collect

    key = api_key(args.api_key_env)
    options = CollectOptions(
        n=args.n,
        max_tokens=args.max_tokens,
        top_logprobs=args.top_logprobs,
        temperature=args.temperature,
        chat=args.chat,
        model=args.model,
        concurrency=args.concurrency,
        seed=args.seed,
        timeout=args.timeout,
        retries=args.retries,
        limit=args.limit,
        per_kind=args.per_kind,
        branch_at=tuple(args.branch_at or ()),
        branches=args.branches,
    )
    show = progress(args)

    def say(msg: str) -> None:
        if show:
            print(f"speedoflight: {msg}", file=sys.stderr)

    res = collect(args.url, args.prompts, args.out, options, api_key=key, progress=show, say=say)
    if args.json or args.csv:  # --csv: the result as one row
        emit(args, res.to_dict(), rows=[res.to_dict()])
        return 0
    s = res.server
    print(
        f"collected {res.continuations} continuations of {res.prompts} prompts into {res.out} "
        f"({res.requests} requests, {res.tokens} tokens this run"
        + (f"; {res.complete_before} prompts were already complete" if res.complete_before else "")
        + ")"
    )
    vocab = f"vocabulary {s.vocab_size}" if s.vocab_size else "vocabulary not told"
    print(f"server: {s.engine} {s.version or ''} at {s.url}, model {s.model}, {vocab}".replace("  ", " "))
    print(f"top log-probabilities per position: {res.top_logprobs}; token ids: {'yes' if res.ids else 'no'}")
    if res.dropped:
        print(f"the server refused {', '.join(res.dropped)}: sent without them (its defaults apply)")
    if res.retried:
        print(f"{res.retried} requests were retried (429, 5xx or dropped connections)")
    for note in res.notes:
        print(f"- {note}")
    print(f"next: speedoflight report --dump {res.out} [--measured YOUR-SERVER-LOG]")
    return 0
