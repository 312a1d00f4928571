"""``speedoflight dump``: run a causal LM over prompts and write a speedoflight dump (needs the [model] extra)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..options import RunOptions
from ._common import command_line, finite, int_list, out_file, positive_int, progress, seed_int, typed
from ._flags import add_model_flags

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``speedoflight dump`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "dump",
        help="run a causal LM over prompts and write a speedoflight dump (needs the [model] extra)",
        description="Samples continuations of prompts with a transformers causal LM and writes a speedoflight dump "
        "(.npz): each position's top-k log-probabilities and token ids, full-vocabulary H and M2, and the sampled "
        "token with its surprisal, and with --early-exit the early-exit views at the same positions.",
    )
    add_model_flags(p, "use only the first N prompts")
    p.add_argument(
        "--out", required=True, type=out_file(".npz"), metavar="FILE.npz", help="the dump to write (atomically)"
    )
    p.add_argument(
        "--max-new-tokens", type=positive_int, default=64, metavar="N", help="tokens per continuation (default 64)"
    )
    p.add_argument(
        "--temperature", type=finite, default=1.0, metavar="T", help="sampling temperature (default 1; 0 = greedy)"
    )
    p.add_argument(
        "--top-k", type=positive_int, default=64, metavar="K", help="log-probabilities logged per position (64)"
    )
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="sampling seed (default 0)")
    p.add_argument(
        "--batch-size",
        type=batch_size,
        default=None,
        metavar="N|auto",
        help="sequences per forward pass (default auto: 16 on the CPU and mps; on cuda what fits half the free "
        "GPU memory, at most 256)",
    )
    p.add_argument(
        "--batch-order",
        choices=("length", "file"),
        default="length",
        help="length (default): batch sequences of similar length, longest first, so batches pad little; "
        "file: in the prompt file's order (reproduces dumps made before this option bit for bit)",
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda", "mps"),
        default="auto",
        help="where the model runs (default auto: cuda if torch sees a CUDA GPU, else mps, else cpu)",
    )
    p.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16", "float16"),
        default="auto",
        help="the weights' dtype (default auto: float32 on the CPU, bfloat16 on a GPU, float16 on one without "
        "bfloat16); the logged statistics are computed in float64 from upcast logits whatever it is",
    )
    p.add_argument(
        "--chat-template",
        action="store_true",
        help="wrap each prompt as one user message in the tokenizer's chat template (with the generation prompt)",
    )
    p.add_argument(
        "--samples-per-prompt", type=positive_int, default=1, metavar="N", help="continuations per prompt (default 1)"
    )
    p.add_argument(
        "--early-exit",
        type=int_list,
        metavar="L,...",
        help="comma-separated layers L (negative: from the top): also write NAME-early-exit-L.npz, the early-exit "
        "view at the same positions (a paired draft for `classic`, `markov`, `hierarchy`)",
    )
    p.add_argument(
        "--branch-at",
        type=int_list,
        metavar="T,...",
        help="branch points, tokens into each continuation (e.g. 8,16,24): sample --branches more continuations "
        "from each continuation's prefix there, stored beside it for the grafted ceiling's tries (the estimators "
        "read the sampled continuations only)",
    )
    p.add_argument(
        "--branches",
        type=positive_int,
        default=0,
        metavar="N",
        help="continuations sampled at each branch point of each continuation (with --branch-at)",
    )
    p.add_argument(
        "--branch-samples",
        type=positive_int,
        metavar="N",
        help="branch only the first N continuations of each prompt (default: every one; with --branch-at)",
    )
    p.set_defaults(run=run)


def batch_size(text: str) -> int | None:
    """Argparse type of ``--batch-size``: a positive integer, or ``auto`` (None: chosen from the device)."""
    return None if text == "auto" else typed(int, lambda v: v >= 1, "a positive integer or auto")(text)


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight dump`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..models.dump import dtype_warning, resolve_device, resolve_dtype, run_dump

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    warning = dtype_warning(device, dtype)
    if warning:
        print(f"speedoflight: warning: {warning}", file=sys.stderr)
    meta = run_dump(
        model=args.model,
        prompts=args.prompts,
        out=args.out,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        limit=args.limit,
        per_kind=args.per_kind,
        batch_size=args.batch_size,
        batch_order=args.batch_order,
        samples_per_prompt=args.samples_per_prompt,
        early_exit=args.early_exit,
        device=device,
        dtype=dtype,
        chat_template=args.chat_template,
        run=RunOptions(seed=args.seed, progress=progress(args)),
        command=command_line(args),
        branch_at=args.branch_at,
        branches=args.branches,
        branch_samples=args.branch_samples,
    )
    if meta.get("branch_cost"):
        print(f"wrote {args.out}; branches at {meta['branch_at']} x {meta['branches']}: {meta['branch_cost']}")
    return 0
