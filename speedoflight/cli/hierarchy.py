"""``speedoflight hierarchy``: HiSpec's hierarchical verification: drafter, early-exit verifier, target; throughput model."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..errors import InputError
from ._common import add_output_flags, bounded_int, emit, finite, float_list, run_count, seed_int
from ._flags import PAIR_FORMATS_HELP, add_reading_flags, read_pair_args

__all__ = ["add_parser", "run"]

#: Beyond this a stage drafts more tokens per pass than any verifier checks, and the search runs for hours.
_TOO_MANY = "a stage of more than 1,024 drafts or rounds per pass is beyond any serving setup"


def add_parser(sub: Any) -> None:
    """Register ``speedoflight hierarchy`` on the subcommands, with its flags and its ``run``.

    Parameters
    ----------
    sub
        The subcommands of the top parser (what ``add_subparsers()`` returned).

    """
    p = sub.add_parser(
        "hierarchy",
        help="HiSpec's hierarchical verification: drafter, early-exit verifier, target; throughput model",
        description="Computes the tokens per unit time of draft -> intermediate verifier -> target against "
        "single-stage speculation, in closed form (stages independent) and by Monte Carlo, from per-stage "
        "acceptance measured on paired dumps over the same positions or given with --alphas.",
        epilog=PAIR_FORMATS_HELP,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--target", metavar="FILE", help="the target's rows (with --intermediate and --draft)")
    src.add_argument(
        "--alphas",
        type=float_list,
        metavar="DM,MT,DT",
        help="acceptances draft|intermediate, intermediate|target, draft|target",
    )
    p.add_argument("--intermediate", metavar="FILE", help="the intermediate verifier's rows at the same positions")
    p.add_argument("--draft", metavar="FILE", help="the drafter's rows at the same positions")
    add_reading_flags(p)
    p.add_argument(
        "--cost-draft",
        type=finite,
        metavar="COST",
        help="draft cost per token in target passes (default: layers/total)",
    )
    p.add_argument(
        "--cost-intermediate",
        type=finite,
        metavar="COST",
        help="intermediate cost per pass (default: layers/total)",
    )
    p.add_argument("--cost-target", type=finite, default=1.0, metavar="COST", help="target cost per pass (default 1)")
    p.add_argument(
        "--gamma",
        type=bounded_int(1024, _TOO_MANY),
        metavar="N",
        help="drafts per intermediate round (default: the best)",
    )
    p.add_argument(
        "--rounds",
        type=bounded_int(1024, _TOO_MANY),
        metavar="N",
        help="intermediate rounds per target pass (default: the best)",
    )
    p.add_argument(
        "--gamma-max",
        type=bounded_int(1024, _TOO_MANY),
        default=16,
        metavar="N",
        help="largest gamma searched (default 16)",
    )
    p.add_argument(
        "--rounds-max",
        type=bounded_int(1024, _TOO_MANY),
        default=16,
        metavar="N",
        help="most rounds searched (default 16)",
    )
    p.add_argument("--simulate", type=run_count, default=20000, metavar="N", help="Monte Carlo cycles (default 20000)")
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="seed of the Monte Carlo (default 0)")
    add_output_flags(p)
    p.set_defaults(run=run)


def _layers_of(path: str) -> tuple[int | None, int | None]:
    """(layer, total layers) of an early-exit view dump, else (None, total or None)."""
    from ..readers.pairs import _dump_meta

    meta = _dump_meta(path)
    pair = (meta or {}).get("pair") or {}
    view, total = pair.get("view"), pair.get("n_layers")
    if isinstance(view, str) and view.startswith("early-exit:"):
        return int(view.split(":")[1]), total
    return None, total


def run(args: argparse.Namespace) -> int:
    """Run ``speedoflight hierarchy`` with the parsed flags.

    Parameters
    ----------
    args
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; a user error raises ``InputError`` instead).

    """
    from ..beyond.hierarchy import Costs, compare_schemes, hierarchical, simulate_bernoulli, simulate_tokens

    a_dm, a_mt, a_dt, cost_d, cost_m, source, intervals, rows = _stage_inputs(args)
    costs = Costs(cost_d, cost_m, args.cost_target)
    schemes = compare_schemes(a_dm, a_mt, a_dt, costs, args.gamma_max, args.rounds_max)
    gamma = args.gamma or int(schemes["hierarchical"]["gamma"])
    rounds = args.rounds or int(schemes["hierarchical"]["rounds"])
    chosen = hierarchical(a_dm, a_mt, gamma, rounds, costs)
    out: dict[str, Any] = {
        "alphas": {"a_dm": a_dm, "a_mt": a_mt, "a_dt": a_dt, "source": source, "intervals": intervals or None},
        "costs": {"draft": cost_d, "intermediate": cost_m, "target": args.cost_target},
        "best": schemes,
        "chosen": {"gamma": gamma, "rounds": rounds, **chosen},
    }
    if args.simulate:
        rng = np.random.default_rng(args.seed)
        mc = simulate_bernoulli(a_dm, a_mt, gamma, rounds, args.simulate, rng)
        se = float(mc.std(ddof=1) / np.sqrt(len(mc)))
        out["monte_carlo"] = {"cycles": args.simulate, "seed": args.seed, "tokens": float(mc.mean()), "se": se}
        if rows is not None:
            dm, mt = rows
            p_t, p_m, q = _three_rows(args, dm, mt)
            n_cycles = min(args.simulate, 5000)
            tok = simulate_tokens(p_t, p_m, q, gamma, rounds, n_cycles, rng)
            out["token_level"] = {
                "cycles": n_cycles,
                "rows": "top-k rows, tails lumped" if dm.completion and "lumped" in dm.completion else "full rows",
                "tokens": float(tok.mean()),
                "se": float(tok.std(ddof=1) / np.sqrt(len(tok))),
                "closed_form_same_rows": hierarchical(
                    float(np.minimum(q, p_m).sum(axis=1).mean()),
                    float(np.minimum(p_m, p_t).sum(axis=1).mean()),
                    gamma,
                    rounds,
                    costs,
                )["tokens"],
            }
    if args.json or args.csv:
        emit(args, out)
        return 0
    _print_result(out)
    return 0


def _three_rows(args: argparse.Namespace, dm: Any, mt: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Target, intermediate and draft rows on one support."""
    from ..readers.pairs import dump_rows

    if dm.completion == "full rows":
        p_m, q = dm.rows
        p_t, _ = mt.rows
        return p_t, p_m, q
    p_t, p_m, q = dump_rows([args.target, args.intermediate, args.draft])
    return p_t, p_m, q


def _stage_inputs(
    args: argparse.Namespace,
) -> tuple[float, float, float, float, float, str, dict[str, list[float]], Any]:
    """Per-stage acceptances and costs: given (``--alphas``) or from the three paired dumps."""
    rows = None
    intervals: dict[str, list[float]] = {}
    if args.alphas:
        if len(args.alphas) != 3:
            raise InputError("--alphas takes three values: a_dm,a_mt,a_dt")
        a_dm, a_mt, a_dt = args.alphas
        cost_d, cost_m = args.cost_draft, args.cost_intermediate
        if cost_d is None or cost_m is None:
            raise InputError("with --alphas give --cost-draft and --cost-intermediate")
        source = "given"
    else:
        if not (args.intermediate and args.draft):
            raise InputError("--target needs --intermediate and --draft (rows at the same positions)")
        dm = read_pair_args(args, args.intermediate, args.draft, keep_rows=bool(args.simulate))
        mt = read_pair_args(args, args.target, args.intermediate, keep_rows=bool(args.simulate))
        dt = read_pair_args(args, args.target, args.draft)
        a_dm, a_mt, a_dt = (float(x.alpha.mean()) for x in (dm, mt, dt))
        for name, x in (("a_dm", dm), ("a_mt", mt), ("a_dt", dt)):
            if x.truncated:
                intervals[name] = [float(x.alpha_lo.mean()), float(x.alpha_hi.mean())]
        ld, total = _layers_of(args.draft)
        lm, _ = _layers_of(args.intermediate)
        cost_d = args.cost_draft if args.cost_draft is not None else (ld / total if ld and total else None)
        cost_m = (
            args.cost_intermediate if args.cost_intermediate is not None else (lm / total if lm and total else None)
        )
        if cost_d is None or cost_m is None:
            raise InputError("give --cost-draft and --cost-intermediate (they are known only for early-exit views)")
        source = "paired dumps"
        if args.simulate and dm.rows is not None and mt.rows is not None:
            rows = (dm, mt)
    return a_dm, a_mt, a_dt, cost_d, cost_m, source, intervals, rows


def _print_result(out: dict[str, Any]) -> None:
    """Print the acceptances, the best schemes and the chosen (gamma, rounds), from ``out`` (the ``--json`` object)."""
    al, co, ch = out["alphas"], out["costs"], out["chosen"]
    source, intervals, a_dm, a_mt, a_dt = al["source"], al["intervals"] or {}, al["a_dm"], al["a_mt"], al["a_dt"]
    cost_d, cost_m, cost_t = co["draft"], co["intermediate"], co["target"]
    schemes, gamma, rounds, chosen = out["best"], ch["gamma"], ch["rounds"], ch
    print(
        f"acceptance ({source}): draft|intermediate {a_dm:.4f}, intermediate|target {a_mt:.4f}, draft|target {a_dt:.4f}"
    )
    for name, (lo, hi) in intervals.items():
        print(f"  {name} from top-k rows lies in {lo:.4f}..{hi:.4f}")
    print(f"costs per target pass: draft token {cost_d:.3g}, intermediate pass {cost_m:.3g}, target pass {cost_t:.3g}")
    b = schemes
    print(
        f"  draft -> target:         gamma {b['draft_to_target']['gamma']:>2}: {b['draft_to_target']['throughput']:.3f} tokens per unit time"
    )
    print(
        f"  intermediate -> target:  gamma {b['intermediate_to_target']['gamma']:>2}: "
        f"{b['intermediate_to_target']['throughput']:.3f}"
    )
    h = b["hierarchical"]
    print(f"  hierarchical:            gamma {h['gamma']:>2}, rounds {h['rounds']:>2}: {h['throughput']:.3f}")
    print(f"chosen gamma {gamma}, rounds {rounds}: {chosen['tokens']:.4f} tokens per target pass (closed form)")
    if "monte_carlo" in out:
        m = out["monte_carlo"]
        print(f"  Monte Carlo (independent stages, {m['cycles']} cycles): {m['tokens']:.4f} +- {m['se']:.4f}")
    if "token_level" in out:
        t = out["token_level"]
        print(
            f"  token-level rejection sampling ({t['cycles']} cycles, {t['rows']}): {t['tokens']:.4f} +- {t['se']:.4f}; "
            f"closed form on the same rows {t['closed_form_same_rows']:.4f}"
        )
