"""The CLI subcommands of the other theories: ``classic``, ``markov``, ``scaling``, ``hierarchy``."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np

from ..errors import InputError


def add_parsers(sub: Any, helpers: dict[str, Any]) -> None:
    """Register the four subcommands on the main parser's subparsers."""
    pos_int, flt, int_list = helpers["positive_int"], helpers["float"], helpers["int_list"]
    reading = helpers["reading_flags"]
    _float_list, _nonneg_int = helpers["float_list"], helpers["nonneg_int"]

    def pair_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--target", required=True, help="the verifier's rows: full-vocabulary array or dump")
        p.add_argument("--draft", required=True, help="the drafter's rows at the same positions (same format)")
        reading(p)
        p.add_argument("--confidence", type=flt, default=0.95, help="level of the intervals (default 0.95)")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    cla = sub.add_parser(
        "classic",
        help="classical speculative sampling from paired draft/target dumps: alpha, tokens per call, best gamma",
        description="Per-position acceptance alpha = sum_i min(p_i, q_i) = 1 - TV(p, q) of a drafter q against "
        "the target p over the same positions (full rows: exact; speedoflight dumps: exact where the draft "
        "dump records the overlap, else bounded by the listed top-k tokens); tokens per target call of a chain "
        "of gamma drafts, (1 - alpha^(gamma+1)) / (1 - alpha) at the mean alpha and exactly from the "
        "per-position sequence; the speedup for a draft/target cost ratio and the best gamma.",
    )
    pair_flags(cla)
    cla.add_argument("--gamma", type=_nonneg_int, required=True, help="drafts per target call")
    cla.add_argument("--cost-ratio", type=flt, default=0.0, help="cost of a draft token in target calls (default 0)")
    cla.add_argument("--gamma-max", type=pos_int, help="largest gamma searched (default max(32, --gamma))")
    cla.add_argument(
        "--simulate", type=_nonneg_int, default=0, help="also run speculative sampling R times from every position"
    )
    cla.add_argument("--seed", type=int, default=0, help="seed of --simulate (default 0)")

    mar = sub.add_parser(
        "markov",
        help="the Markov-chain view (Yin et al. 2024): expected rejections, optimality, several drafts, trade-off",
        description="Expected rejections over a generation = sum over positions of TV(p_t, q_t), with its "
        "interval; the optimality of speculative sampling checked with a linear program per position and "
        "a simulator of weaker valid rules; several i.i.d. drafts per position (recursive rejection sampling); "
        "the quality-speed trade-off (acceptance against allowed distortion, an LP solved with scipy).",
    )
    pair_flags(mar)
    mar.add_argument("--drafts", type=int_list, default=[1, 2, 4], help="drafts per position (default 1,2,4)")
    mar.add_argument("--simulate", type=_nonneg_int, default=200, help="simulator runs per position (default 200)")
    mar.add_argument(
        "--epsilon", type=_float_list, default=[0, 0.05, 0.1, 0.2, 0.3, 0.5], help="distortions for the trade-off"
    )
    mar.add_argument("--lp-rows", type=_nonneg_int, default=50, help="rows the LP is solved on (default 50)")
    mar.add_argument("--seed", type=int, default=0)
    mar.add_argument("--plot", help="write the trade-off figure here (.png/.pdf/.svg)")

    sca = sub.add_parser(
        "scaling",
        help="fit Scylla-style log-linear laws of acceptance (CSV, or early-exit views of a dump)",
        description="Fit y = b0 + b1 ln x by least squares for each x column (or jointly with --joint), "
        "with parameter intervals, R^2, a chi-square test when --y-se is given, and predictions with "
        "confidence and prediction intervals (--at). --pairs DUMP builds the table itself: acceptance of each "
        "early-exit view of a `dump --early-exit` run against the full model, by layer.",
    )
    src = sca.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", help="a CSV with a header, one measurement per row")
    src.add_argument("--pairs", help="the full model's dump of a `speedoflight dump --early-exit` run")
    sca.add_argument("--y", help="response column (default acceptance)")
    sca.add_argument("--x", help="comma-separated predictor columns, one law each (default draft_layers)")
    sca.add_argument("--y-se", help="column of standard errors of y (weights the fit)")
    sca.add_argument("--joint", action="store_true", help="one law in all x columns together")
    sca.add_argument("--at", type=_float_list, help="predict at these x values (one x per law)")
    sca.add_argument("--confidence", type=flt, default=0.95)
    sca.add_argument("--plot", help="figure file; with several laws, one file per x (NAME-X.png)")
    sca.add_argument("--table-out", help="with --pairs: also write the table as CSV")
    sca.add_argument("--json", action="store_true")

    hie = sub.add_parser(
        "hierarchy",
        help="HiSpec's hierarchical verification: drafter, early-exit verifier, target; throughput model",
        description="Tokens per unit time of draft -> intermediate verifier -> target against single-stage "
        "speculation, closed form (stages independent) and Monte Carlo; per-stage acceptance from paired "
        "dumps over the same positions, or given with --alphas.",
    )
    src = hie.add_mutually_exclusive_group(required=True)
    src.add_argument("--target", help="the target's rows (with --intermediate and --draft)")
    src.add_argument(
        "--alphas", type=_float_list, help="a_dm,a_mt,a_dt: draft|intermediate, intermediate|target, draft|target"
    )
    hie.add_argument("--intermediate", help="the intermediate verifier's rows at the same positions")
    hie.add_argument("--draft", help="the drafter's rows at the same positions")
    reading(hie)
    hie.add_argument("--cost-draft", type=flt, help="draft cost per token in target passes (default: layers/total)")
    hie.add_argument("--cost-intermediate", type=flt, help="intermediate cost per pass (default: layers/total)")
    hie.add_argument("--cost-target", type=flt, default=1.0, help="target cost per pass (default 1)")
    hie.add_argument("--gamma", type=pos_int, help="drafts per intermediate round (default: the best)")
    hie.add_argument("--rounds", type=pos_int, help="intermediate rounds per target pass (default: the best)")
    hie.add_argument("--gamma-max", type=pos_int, default=16)
    hie.add_argument("--rounds-max", type=pos_int, default=16)
    hie.add_argument("--simulate", type=_nonneg_int, default=20000, help="Monte Carlo cycles (default 20000)")
    hie.add_argument("--seed", type=int, default=0)
    hie.add_argument("--json", action="store_true")


def _print_json(obj: Any) -> None:
    from .._util.jsonsafe import finite_or_none

    print(json.dumps(finite_or_none(obj), allow_nan=False))


def _pair(args: argparse.Namespace, target: str, draft: str, keep_rows: bool = False) -> Any:
    from ..beyond.classic import read_pair

    return read_pair(
        target,
        draft,
        kind=args.kind,
        vocab_size=args.vocab_size,
        temperature=args.temperature,
        tensor=args.tensor,
        keep_rows=keep_rows,
    )


def _check_confidence(c: float) -> None:
    if not 0.0 < c < 1.0:
        raise InputError(f"--confidence must lie strictly between 0 and 1, got {c}")


def cmd_classic(args: argparse.Namespace) -> int:
    """``speedoflight classic``."""
    from ..beyond.classic import classic, simulate_starts

    _check_confidence(args.confidence)
    pair = _pair(args, args.target, args.draft, keep_rows=args.simulate > 0)
    gamma_max = args.gamma_max if args.gamma_max is not None else max(32, args.gamma)
    res = classic(pair, args.gamma, cost_ratio=args.cost_ratio, gamma_max=gamma_max, confidence=args.confidence)
    out = res.to_dict()
    if args.simulate:
        sim = simulate_starts(pair, args.gamma, args.simulate, np.random.default_rng(args.seed))
        out["simulation"] = {"rows": pair.completion, "runs_per_start": args.simulate, "seed": args.seed, **sim}
    if args.json:
        _print_json(out)
        return 0
    print(res.text())
    if args.simulate:
        s = out["simulation"]
        print(
            f"speculative sampling simulated ({s['runs_per_start']} runs from each of {s['starts']} starts, "
            f"{s['rows']}): {s['mean_tokens']:.4f} tokens per call; formula on the same rows {s['formula_tokens']:.4f}"
        )
    for note in pair.notes:
        print(f"note: {note}")
    return 0


def cmd_markov(args: argparse.Namespace) -> int:
    """``speedoflight markov``."""
    from ..beyond.markov import batch_rejections, expected_rejections, lp_acceptance, tradeoff

    _check_confidence(args.confidence)
    pair = _pair(args, args.target, args.draft, keep_rows=True)
    assert pair.rows is not None
    p, q = pair.rows
    rej = expected_rejections(pair, args.confidence)
    batch = batch_rejections(pair, args.drafts, args.simulate, np.random.default_rng(args.seed))
    lp_gap = None
    if args.lp_rows:
        pick = np.random.default_rng(args.seed).choice(len(p), size=min(args.lp_rows, len(p)), replace=False)
        lp = np.array([lp_acceptance(p[i], q[i]) for i in pick])
        lp_gap = float(np.max(np.abs(lp - np.minimum(p[pick], q[pick]).sum(axis=1))))
    curve = tradeoff(pair, np.array(args.epsilon), lp_rows=args.lp_rows, seed=args.seed)
    out = {
        "target": pair.target,
        "draft": pair.draft,
        "alpha_exact": pair.exact,
        **rej.to_dict(),
        "rows_for_simulation": pair.completion,
        "batch": batch,
        "lp_optimality_max_gap": lp_gap,
        "tradeoff": curve,
    }
    if args.plot:
        from ..analysis.plots import save_figure, tradeoff_figure

        save_figure(tradeoff_figure(curve, f"{pair.names[1]} drafting for {pair.names[0]}"), args.plot)
        out["plot"] = args.plot
    if args.json:
        _print_json(out)
        return 0
    ci = rej.rejections_ci
    print(
        f"target {pair.names[0]}  vs  draft {pair.names[1]}: {rej.sequences} sequences of {rej.mean_length:.1f} positions"
    )
    print(
        f"expected rejections per sequence (sum of TV) {rej.rejections:.3f} ({rej.confidence:.0%} CI {ci[0]:.3f}-"
        f"{ci[1]:.3f}); TV per token {rej.tv_per_token:.4f}"
    )
    if rej.rejections_interval:
        print(f"top-k rows: the unlisted tails allow {rej.rejections_interval[0]:.3f}-{rej.rejections_interval[1]:.3f}")
    if lp_gap is not None:
        print(
            f"optimality: an LP over all acceptance rules on {min(args.lp_rows, len(p))} rows finds no rule accepting "
            f"more than sum min(p, q) (largest gap {lp_gap:.1e})"
        )
    print(f"several drafts per position (recursive rejection; rows: {pair.completion}):")
    for row in batch:
        line = f"  {row['drafts']} draft(s): {row['expected_rejections']:.3f} rejections per sequence"
        if "simulated" in row:
            line += (
                f"; simulated {row['simulated']:.3f} +- {row['simulated_se']:.3f}; a rule at half the acceptance: "
                f"{row['expected_rejections_weaker_rule']:.3f} (simulated {row['simulated_weaker_rule']:.3f})"
            )
        print(line)
    print("quality-speed trade-off (distortion eps per position -> rejections per sequence, acceptance):")
    for i, e in enumerate(curve["epsilon"]):
        extra = (
            f"  LP {curve['lp_acceptance'][i]:.4f} vs closed {curve['closed_acceptance'][i]:.4f}"
            if "lp_acceptance" in curve
            else ""
        )
        print(f"  eps {e:<5g} {curve['rejections'][i]:8.3f}  {curve['acceptance'][i]:.4f}{extra}")
    return 0


def cmd_scaling(args: argparse.Namespace) -> int:
    """``speedoflight scaling``."""
    from ..analysis.plots import law_figure
    from ..beyond.scaling import acceptance_by_layer, fit_law, read_table, write_table

    _check_confidence(args.confidence)
    if args.pairs:
        cols_raw = acceptance_by_layer(args.pairs, args.confidence)
        if args.table_out:
            write_table(args.table_out, cols_raw)
        table = {k: np.asarray(v, dtype=float) for k, v in cols_raw.items()}
        y_name = args.y or "acceptance"
        x_names = args.x.split(",") if args.x else ["draft_layers"]
        y_se_name = args.y_se or "acceptance_se"
    else:
        if args.table_out:
            raise InputError("--table-out goes with --pairs (a CSV is already a table)")
        table = read_table(args.csv)
        y_name = args.y or "acceptance"
        if not args.x:
            raise InputError("--x: name the predictor column(s), e.g. --x draft_params,pretrain_tokens")
        x_names = [x.strip() for x in args.x.split(",") if x.strip()]
        y_se_name = args.y_se
    where = args.pairs or args.csv
    for name in [y_name, *x_names, *([y_se_name] if y_se_name else [])]:
        if name not in table:
            raise InputError(f"{where}: no numeric column {name!r} (columns: {', '.join(table)})")
    groups = [x_names] if args.joint else [[x] for x in x_names]
    fits = []
    for xs in groups:
        cols = [table[y_name], *(table[x] for x in xs)] + ([table[y_se_name]] if y_se_name else [])
        ok = np.all([np.isfinite(c) for c in cols], axis=0)
        fit = fit_law(
            np.column_stack([table[x][ok] for x in xs]),
            table[y_name][ok],
            y_se=table[y_se_name][ok] if y_se_name else None,
            x_names=xs,
            y_name=y_name,
            confidence=args.confidence,
        )
        at = None
        if args.at:
            if len(xs) != 1:
                raise InputError("--at predicts one x at a time; leave out --joint")
            at = np.array(args.at)
        fits.append((fit, at))
        if args.plot:
            from ..analysis.plots import save_figure

            path = args.plot
            if len(groups) > 1:
                stem, ext = os.path.splitext(args.plot)
                path = f"{stem}-{xs[0]}{ext}"
            save_figure(law_figure(fit, extend_to=max(args.at) if args.at and len(xs) == 1 else None), path)
    if args.json:
        _print_json({"source": where, "laws": [f.to_dict(at) for f, at in fits]})
        return 0
    for f, at in fits:
        print(f.text(at))
    return 0


def _layers_of(path: str) -> tuple[int | None, int | None]:
    """(layer, total layers) of an early-exit view dump, else (None, total or None)."""
    from ..beyond.classic import _dump_meta

    meta = _dump_meta(path)
    pair = (meta or {}).get("pair") or {}
    view, total = pair.get("view"), pair.get("n_layers")
    if isinstance(view, str) and view.startswith("early-exit:"):
        return int(view.split(":")[1]), total
    return None, total


def cmd_hierarchy(args: argparse.Namespace) -> int:
    """``speedoflight hierarchy``."""
    from ..beyond.hierarchy import Costs, compare_schemes, hierarchical, simulate_bernoulli, simulate_tokens

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
        dm = _pair(args, args.intermediate, args.draft, keep_rows=bool(args.simulate))
        mt = _pair(args, args.target, args.intermediate, keep_rows=bool(args.simulate))
        dt = _pair(args, args.target, args.draft)
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
    if args.json:
        _print_json(out)
        return 0
    print(
        f"acceptance ({source}): draft|intermediate {a_dm:.4f}, intermediate|target {a_mt:.4f}, draft|target {a_dt:.4f}"
    )
    for name, (lo, hi) in intervals.items():
        print(f"  {name} from top-k rows lies in [{lo:.4f}, {hi:.4f}]")
    print(
        f"costs per target pass: draft token {cost_d:.3g}, intermediate pass {cost_m:.3g}, target pass {args.cost_target:.3g}"
    )
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
    return 0


def _three_rows(args: argparse.Namespace, dm: Any, mt: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Target, intermediate and draft rows on one support."""
    from ..beyond.classic import dump_rows

    if dm.completion == "full rows":
        p_m, q = dm.rows
        p_t, _ = mt.rows
        return p_t, p_m, q
    p_t, p_m, q = dump_rows([args.target, args.intermediate, args.draft])
    return p_t, p_m, q


def run(args: argparse.Namespace) -> int:
    """Dispatch to the subcommand."""
    handlers = {"classic": cmd_classic, "markov": cmd_markov, "scaling": cmd_scaling, "hierarchy": cmd_hierarchy}
    return handlers[args.command](args)


__all__ = ["add_parsers", "run"]
