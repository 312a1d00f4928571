"""Print the README's validation tables of the grafted prediction (issue 16), from the shipped files.

Ratio = the predicted mean (top-k tails dropped, 64 draws, seed 0) over the exact optimum's mean
(``speedoflight oracle``) on the same prompts. The runs take a few minutes on two cores.

Run from the repository root:  python data/grafted_validation.py
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

from speedoflight.analysis.validation import against_oracle, ratio_interval, ratio_trend, thinned

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)))
PS = (1, 2, 4, 8, 16, 32, 64, 128)
CASES = {
    "SmolLM2 (prose, code)": ("smollm2-t1-x8.npz", "oracle-smollm2-t1.npz"),
    "Gemma 3 (prose, code)": ("gemma3-270m-t1-x8.npz", "oracle-gemma3-270m-t1.npz"),
    "SmolLM2 (HTML markup)": ("smollm2-markup-x8.npz", "oracle-smollm2-markup.npz"),
}
BRANCHED = {
    "SmolLM2": ("smollm2-interior-branched.npz", "oracle-smollm2-interior.npz", "smollm2-t1.npz"),
    "Gemma 3": ("gemma3-270m-interior-branched.npz", "oracle-gemma3-270m-interior.npz", "gemma3-270m-t1-x8.npz"),
    "SmolLM2 (HTML markup)": (
        "smollm2-markup-interior-branched.npz",
        "oracle-smollm2-markup-interior.npz",
        "smollm2-markup-x8.npz",
    ),
}
INTERIOR = {
    "SmolLM2": ("smollm2-t1.npz", "oracle-smollm2-interior.npz"),
    "Gemma 3": ("gemma3-270m-t1-x8.npz", "oracle-gemma3-270m-interior.npz"),
    "SmolLM2 (HTML markup)": ("smollm2-markup-x8.npz", "oracle-smollm2-markup-interior.npz"),
}


def _path(name: str) -> str:
    return os.path.join(ROOT, name)


def _row(label: str, values: list[float], extra: str = "") -> str:
    return f"| {label} | " + " | ".join(f"{v:.3f}" for v in values) + f" |{extra}"


def _header(first: str, ps: tuple[int, ...], extra: str = "") -> list[str]:
    cols = " | ".join(f"P = {p}" for p in ps)
    return [f"| {first} | {cols} |{extra}", "|---" * (len(ps) + 1 + extra.count("|")) + "|"]


def main() -> int:
    """Print the tables as Markdown."""
    out: list[str] = ["Ratio to the exact optimum, prompts' ends, 8 continuations of 32 tokens, top-32:", ""]
    out += _header("", PS, " corr. at 128 | range covers |")
    for name, (d, o) in CASES.items():
        r = against_oracle(_path(d), _path(o), ps=PS)
        out.append(
            _row(
                f"{name}, {r['roots']} prompts", r["ratio"], f" {r['correlation'][-1]:.3f} | {r['coverage'][-1]:.2f} |"
            )
        )
        for kind, ratio in r["by_kind"].items():
            if len(r["by_kind"]) > 1:
                out.append(_row(f"&nbsp;&nbsp;{kind}", ratio, " | |"))
    out += ["", "How unknown nodes draw their pool rows (`--draw`), ratio at P = 32 / 128:", ""]
    out += ["| data | uniform | entropy | depth (default) |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        variants = [(name, _path(d), _path(o)) for name, (d, o) in CASES.items()]
        variants.append(
            ("SmolLM2, 1 continuation of 64 tokens", _path("smollm2-t1.npz"), _path("oracle-smollm2-t1.npz"))
        )
        for name, d, o in variants:
            cells = []
            for draw in ("uniform", "entropy", "depth"):
                r = against_oracle(d, o, ps=(32, 128), draw=draw)
                cells.append(f"{r['ratio'][0]:.3f} / {r['ratio'][1]:.3f}")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out += [
            "",
            "What the prediction needs (SmolLM2 and Gemma 3, the first N of the 8 continuations, or top-k cut):",
            "",
        ]
        out += _header("", PS)
        for name in ("SmolLM2 (prose, code)", "Gemma 3 (prose, code)"):
            d, o = CASES[name]
            for label, kw in [
                ("1 continuation", {"continuations": 1}),
                ("2 continuations", {"continuations": 2}),
                ("4 continuations", {"continuations": 4}),
                ("8, top-8", {"top_k": 8}),
                ("8, top-16", {"top_k": 16}),
            ]:
                thin = thinned(_path(d), os.path.join(tmp, "thin.npz"), **kw)
                r = against_oracle(thin, _path(o), ps=PS)
                out.append(_row(f"{name.split(' (')[0]}: {label}", r["ratio"]))
    ips = PS[:-1]
    out += [
        "",
        "Inside continuations: roots at positions 8, 16, 24 of one continuation per prompt (12 prose, 12 code):",
        "",
    ]
    out += _header("", ips, " corr. at 64 |")
    for name, (d, o) in INTERIOR.items():
        r = against_oracle(_path(d), _path(o), ps=ips, positions=[8, 16, 24])
        out.append(_row(f"{name}, {r['roots']} roots", r["ratio"], f" {r['correlation'][-1]:.3f} |"))
        for kind, ratio in r["by_kind"].items():
            out.append(_row(f"&nbsp;&nbsp;{kind}", ratio, " |"))
    out += [
        "",
        "Inside continuations with branches on the continuations the prefixes come from (SmolLM2: `--branch-at "
        "8,16,24 --branches 3`; Gemma 3: `--branch-at 4,8,...,28 --branches 7`); roots whose prefix the re-dump did "
        "not repeat token for token are left out:",
        "",
    ]
    out += _header("", ips, " corr. at 64 |")
    for name, (d, o, made_from) in BRANCHED.items():
        plain = against_oracle(_path(made_from), _path(o), ps=ips, positions=[8, 16, 24])
        r = against_oracle(_path(d), _path(o), ps=ips, positions=[8, 16, 24], prefixes_from=_path(made_from))
        out.append(_row(f"{name}, without branches", plain["ratio"], f" {plain['correlation'][-1]:.3f} |"))
        left = f" ({r['left_out']} left out)" if r["left_out"] else ""
        out.append(
            _row(f"{name}, with branches, {r['roots']} roots{left}", r["ratio"], f" {r['correlation'][-1]:.3f} |")
        )
        for kind, ratio in r["by_kind"].items():
            out.append(_row(f"&nbsp;&nbsp;{kind}", ratio, " |"))
    print("\n".join(out))
    prompt_end_causes()
    large_p_table()
    per_root_coverage()
    return 0


#: Per case of the intervals' FIT_SET (by dump and oracle): its model, and its roots.
ROOTS = {
    ("smollm2-t1-x8.npz", "oracle-smollm2-t1.npz"): ("SmolLM2", "prompts' ends"),
    ("smollm2-t1.npz", "oracle-smollm2-t1.npz"): ("SmolLM2", "prompts' ends, 1 continuation"),
    ("smollm2-t1.npz", "oracle-smollm2-interior.npz"): ("SmolLM2", "interior 8/16/24"),
    ("smollm2-interior-branched.npz", "oracle-smollm2-interior.npz"): ("SmolLM2", "interior, branched"),
    ("gemma3-270m-t1-x8.npz", "oracle-gemma3-270m-t1.npz"): ("Gemma 3", "prompts' ends"),
    ("gemma3-270m-t1-x8.npz", "oracle-gemma3-270m-interior.npz"): ("Gemma 3", "interior 8/16/24"),
    ("gemma3-270m-interior-branched.npz", "oracle-gemma3-270m-interior.npz"): ("Gemma 3", "interior, branched"),
    ("smollm2-markup-x8.npz", "oracle-smollm2-markup.npz"): ("SmolLM2", "markup prompts' ends"),
    ("smollm2-markup-x8.npz", "oracle-smollm2-markup-interior.npz"): ("SmolLM2", "markup interior 8/16/24"),
    ("smollm2-markup-interior-branched.npz", "oracle-smollm2-markup-interior.npz"): ("SmolLM2", "markup, branched"),
}


def per_root_coverage() -> None:
    """Print how often the per-root interval (``optimum --root-intervals``) holds each root's exact optimum: on the
    fit and the check half of the prompts, and fitted on one model and checked on the other."""
    from speedoflight.analysis.interval_fit import calibrate, cover, matched_set
    from speedoflight.analysis.intervals import RATE

    ps = (8, 32, 64, 128)
    got = matched_set(root=ROOT)

    def _cells(r: dict) -> list[float]:
        return r["coverage"] + [float("nan")] * (len(ps) - len(r["coverage"]))

    out = [
        "",
        f"Per-root intervals ({RATE:.0%}, `optimum --root-intervals`): the share of roots whose own exact optimum "
        "lies in its interval. Constants fitted on the fit half of every oracle set's prompts (a seeded half, all "
        "roots of a prompt on one side, on both models), apart for roots whose trie is one continuation and those on "
        "several; checked on the other half. Interior oracles stop at P = 64. Median width over the exact value, "
        "and the drop..lump range's share, on the check half:",
        "",
    ]
    out += _header("roots", ps, " half | width at largest P | range covers |")
    held = {half: [[0.0, 0] for _ in ps] for half in ("fit", "check")}
    for m in got:
        model, label = ROOTS[(m.case[0], m.case[1])]
        for half in ("fit", "check"):
            s, exact, kinds = m.part(half)
            r = cover(s, exact, kinds, ps=ps)
            for j, c in enumerate(r["coverage"]):
                held[half][j][0] += c * r["roots"]
                held[half][j][1] += r["roots"]
            tail = (
                f" {half} | {r['width'][-1]:.2f} | {r['range_coverage'][-1]:.2f} |" if half == "check" else " fit | | |"
            )
            out.append(_row(f"{model}, {label}, {r['roots']}", _cells(r), tail).replace("nan", "-"))
            if half == "check" and len(r["by_kind"]) > 1:
                for kind, k in r["by_kind"].items():
                    out.append(_row(f"&nbsp;&nbsp;{kind}, {k['roots']}", _cells(k), " check | | |").replace("nan", "-"))
    for half, cells in held.items():
        n = "/".join(str(k) for _, k in cells if k)
        out.append(_row(f"all {half} roots ({n})", [c / k for c, k in cells], f" {half} | | |"))
    out += [
        "",
        "Fitted on one model's roots only (both halves; SmolLM2 with its markup prompts), checked on the other "
        "model's (all of them): what to expect on a model the constants never saw:",
        "",
    ]
    out += _header("roots", ps, " fitted on |")
    for fitted, checked in (("SmolLM2", "Gemma 3"), ("Gemma 3", "SmolLM2")):
        mine = [m for m in got if ROOTS[(m.case[0], m.case[1])][0] == fitted]
        constants = calibrate([m.part("all")[:2] for m in mine])
        for m in got:
            model, label = ROOTS[(m.case[0], m.case[1])]
            if model != checked:
                continue
            r = cover(*m.part("all"), ps=ps, constants=constants)
            out.append(_row(f"{model}, {label}, {r['roots']}", _cells(r), f" {fitted} |").replace("nan", "-"))
            for kind, k in r["by_kind"].items():
                if len(r["by_kind"]) > 1:
                    out.append(_row(f"&nbsp;&nbsp;{kind}, {k['roots']}", _cells(k), " |").replace("nan", "-"))
    print("\n".join(out))


def large_p_table() -> None:
    """Print the large-P table: the prediction against the exact optimum to P = 1024 on 4 prose + 4 code prompts.

    Per model and kind: the ratio at each P with a 95% bootstrap interval over the prompts, the per-prompt
    correlation, and the least-squares slope of the ratio against log2 P over P = 64..1024 with what that line
    gives at P = 2048 and 4096 (an extrapolation, not a measurement). For context, the ratio on the 100 prompts of
    the P <= 128 oracle.
    """
    cases = {
        "SmolLM2": ("smollm2-t1-x8.npz", "oracle-smollm2-largep.npz", "oracle-smollm2-t1.npz"),
        "Gemma 3": ("gemma3-270m-t1-x8.npz", "oracle-gemma3-270m-largep.npz", "oracle-gemma3-270m-t1.npz"),
    }
    ps = (8, 32, 64, 128, 256, 512, 1024)
    fit = [p for p in ps if p >= 64]
    out = [
        "",
        "Large P: the exact optimum to P = 1024 at the ends of the first 4 prose and 4 code prompts "
        "(`oracle-*-largep.npz`); ratio of the prediction (8 continuations of 32 tokens, top-32), its 95% bootstrap "
        "interval over the prompts, and the slope of the ratio per doubling of P fitted over P = 64..1024 "
        "(2048, 4096: that line extrapolated):",
        "",
    ]
    out += _header("", ps, " corr. at 1024 | slope per doubling | 2048 | 4096 |")
    for name, (d, o, small) in cases.items():
        r = against_oracle(_path(d), _path(o), ps=ps)
        ratio = np.array(r["ratio"])
        lo, hi = ratio_interval(r["per_root"]["lower"], r["per_root"]["oracle"])
        rows = [(f"{name}, {r['roots']} prompts", ratio, f" {r['correlation'][-1]:.3f} |")]
        rows += [(f"&nbsp;&nbsp;{k}", np.array(v), " |") for k, v in r["by_kind"].items()]
        for label, values, corr in rows:
            a, b = ratio_trend(fit, [values[ps.index(p)] for p in fit])
            trend = f" {b:+.4f} | {a + b * 11:.3f} | {a + b * 12:.3f} |"
            out.append(_row(label, list(values), corr + trend))
            if label.startswith(name):
                out.append(
                    "| &nbsp;&nbsp;95% interval | "
                    + " | ".join(f"{x:.3f}-{y:.3f}" for x, y in zip(lo, hi, strict=True))
                    + " | | | | |"
                )
        ctx = against_oracle(_path(d), _path(small), ps=[p for p in ps if p <= 128])
        out.append(
            _row(f"{name}, the {ctx['roots']} prompts of the P <= 128 oracle", ctx["ratio"], "")
            + " |" * (len(ps) - len(ctx["ratio"]))
            + " | | | |"
        )
    print("\n".join(out))


#: More continuations at prompt ends (``data/make_ends_evidence.sh``): the first 6 prose and 6 code prompts of the
#: oracle files, 16 continuations of 24 tokens each, top-32; the first N of them give N per prompt.
ENDS_MORE = {
    "SmolLM2": ("smollm2-ends-x16.npz", "oracle-smollm2-t1.npz"),
    "Gemma 3": ("gemma3-270m-ends-x16.npz", "oracle-gemma3-270m-t1.npz"),
}


def _cells(r: dict, key: str = "by_kind") -> list[str]:
    """One cell per kind: the ratio at each P, joined by slashes."""
    return [" / ".join(f"{v:.3f}" for v in ratio) for ratio in r[key].values()]


def prompt_end_causes() -> None:
    """Print what the prediction at prompts' ends rests on, one cause at a time (issue 31), as Markdown tables.

    Each row changes one thing against the shipped setting (8 continuations of 32 tokens per prompt, top-32 rows,
    tails dropped, 64 draws, seed 0, unknown rows drawn by depth from the prompt's own rows); each cell is the ratio
    to the exact optimum of that kind's mean at P = 32 / 64 / 128. The depth table reads the oracle files' depths
    of the popped nodes: the optimal tree of P nodes is the first P pops, and the curve's step at a pop is that
    node's path probability, so the share of E[X*(P)] above a depth is exact.
    """
    import numpy as np

    from speedoflight.formats.oracle import load_oracle

    ps = (32, 64, 128)
    cols: list[str] = []
    rows: dict[str, list[str]] = {}

    def add(label: str, cells: list[str]) -> None:
        rows.setdefault(label, []).extend(cells)

    depth_rows: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        thin = os.path.join(tmp, "thin.npz")
        for name, (d, o) in CASES.items():
            d, o = _path(d), _path(o)
            base = against_oracle(d, o, ps=ps)
            cols += [f"{name.split(' (')[0]} {kind}" for kind in base["by_kind"]]
            add("as shipped: 8 continuations, top-32, tails dropped", _cells(base))
            add("the same, tails lumped (upper end)", _cells(base, "by_kind_upper"))
            for n in (1, 2, 4):
                r = against_oracle(thinned(d, thin, continuations=n), o, ps=ps)
                add(f"{n} continuation{'s' if n > 1 else ''} per prompt", _cells(r))
            for k in (8, 16):
                r = against_oracle(thinned(d, thin, top_k=k), o, ps=ps)
                add(f"top-{k}, tails dropped", _cells(r))
                add(f"top-{k}, tails lumped", _cells(r, "by_kind_upper"))
            for n in (8, 16, 24):
                r = against_oracle(thinned(d, thin, length=n), o, ps=ps)
                add(f"continuations cut to {n} tokens", _cells(r))
            add("256 draws", _cells(against_oracle(d, o, ps=ps, replicates=256)))
            seeds = [base] + [against_oracle(d, o, ps=ps, seed=s) for s in (1, 2, 3, 4)]
            spread = [np.array([r["by_kind"][kind] for r in seeds]) for kind in base["by_kind"]]
            add("seeds 0-4: max - min", [" / ".join(f"{v:.3f}" for v in np.ptp(x, axis=0)) for x in spread])
            for draw in ("uniform", "entropy"):
                add(
                    f"pool rows drawn {draw}ly" if draw == "uniform" else "pool rows drawn by entropy",
                    _cells(against_oracle(d, o, ps=ps, draw=draw)),
                )
            add("pool: every prompt's rows (drawn by depth)", _cells(against_oracle(d, o, ps=ps, pool="all")))
            curves, depths, kinds, _ = load_oracle(o)
            step = np.diff(curves, axis=1, prepend=0.0)
            for kind in base["by_kind"]:
                sel = np.array([k == kind for k in kinds])
                deep = depths[sel].astype(np.int64)
                cells_max, cells_16, cells_32 = [], [], []
                for p in ps:
                    top = deep[:, :p].max(axis=1)
                    cells_max.append(f"{np.median(top):.0f}, {np.percentile(top, 90):.0f}, {top.max()}")
                    total = curves[sel][:, p - 1].sum()
                    for lim, out in ((16, cells_16), (32, cells_32)):
                        out.append(f"{(step[sel][:, :p] * (deep[:, :p] > lim)).sum() / total:.3f}")
                depth_rows.setdefault("deepest node of the optimal tree: median, 90th percentile, max", []).append(
                    " / ".join(cells_max)
                )
                depth_rows.setdefault("share of E[X*(P)] deeper than 16 tokens", []).append(" / ".join(cells_16))
                depth_rows.setdefault("share deeper than 32 (the logged length)", []).append(" / ".join(cells_32))
        head = ["| P = 32 / 64 / 128 | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        out = ["", "Prompts' ends, one cause at a time: ratio to the exact optimum at P = 32 / 64 / 128, per kind:", ""]
        out += head + [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows.items()]
        out += ["", "Depth of the exact optimum (the oracle files' popped nodes), at P = 32 / 64 / 128:", ""]
        out += head + [f"| {label} | " + " | ".join(cells) + " |" for label, cells in depth_rows.items()]
        more = {name: files for name, files in ENDS_MORE.items() if os.path.exists(_path(files[0]))}
        if more:
            out += [
                "",
                "More continuations per prompt (the first 6 prose and 6 code prompts, 16 continuations of 24 tokens "
                "each, the first N of them), ratio at P = 32 / 64 / 128:",
                "",
                "| | " + " | ".join(f"{name} {kind}" for name in more for kind in ("code", "prose")) + " |",
                "|---" * (2 * len(more) + 1) + "|",
            ]
            table: dict[str, list[str]] = {}
            for d, o in more.values():
                for n in (2, 4, 8, 16):
                    r = against_oracle(thinned(_path(d), thin, continuations=n), _path(o), ps=ps)
                    table.setdefault(f"{n} continuations", []).extend(_cells(r))
                    if n == 16:
                        table.setdefault("16, tails lumped", []).extend(_cells(r, "by_kind_upper"))
            out += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in table.items()]
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())
