"""--help (issue 30): one meaning per flag name, one metavariable per flag, --out says FILE or DIR, true descriptions.

Every subparser of ``speedoflight.cli.app.build_parser`` is walked: a flag that takes a value names it (a metavariable
or its choices, never argparse's UPPER_SNAKE default), and a flag name shared by several commands names the same kind
of value everywhere (metavariable, type and choices), except where :data:`EXCEPTIONS` says why not.
"""

from __future__ import annotations

import argparse
import json
import re

import pytest

from speedoflight.cli.app import build_parser

from .helpers import assert_user_error, run

#: (flag, command) -> why that command's flag names another kind of value than the same flag elsewhere. Every entry
#: must still differ (test_every_exception_is_still_needed); anything not listed must agree.
EXCEPTIONS = {
    # dump also takes 'auto': the batch that fits the GPU's free memory
    ("--batch-size", "dump"): "N|auto",
    # scaling reads a CSV table of measurements; bound --from reads files of logged distributions
    ("--from", "scaling"): "a CSV table",
    # hierarchy caps its stages at 1,024 (a bounded type) and needs >= 1; classic allows gamma = 0 (no drafts)
    ("--gamma", "hierarchy"): "bounded at 1,024",
    ("--gamma-max", "hierarchy"): "bounded at 1,024",
    # optimum caps its draws per root at 100,000 (a million takes days)
    ("--replicates", "optimum"): "bounded at 100,000",
    # tree lists every node's path: P at most 4,096
    ("--pmax", "tree"): "bounded at 4,096",
    # a server samples at --temperature: it must be > 0 there (0, greedy, elsewhere rescales logits)
    ("--temperature", "collect"): "positive",
    # optimum also offers 'both' (the two estimates side by side)
    ("--tail", "optimum"): "drop, lump or both",
    # oracle: prefix positions of a --dump's continuations (a list); export: roots at start or all (no list);
    # optimum: start, all or a list of positions
    ("--positions", "oracle"): "a list of prefix positions",
    ("--positions", "export"): "start or all",
    # latency parses its list at once (integers, no ranges); bound, simulate and measure parse theirs in the command
    ("-P", "latency"): "parsed at once",
    # latency times passes on a cached prefix of at least one token; the timing model's context may be 0
    ("--context", "latency"): "at least 1",
}
# Same kind of value, so no exception: --top-k K is 'the k most likely tokens' everywhere (dump: logged per position,
# simulate: kept per pool row, measure: EAGLE-2's top-k, its paper's name for the candidates expanded per node).

#: Flags left to their own tests: --out (test_out_says_file_or_folder).
OWN_TESTS = {"--out"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _value_actions(p: argparse.ArgumentParser):
    """The visible actions that take a value (positionals too), without -h."""
    for a in p._actions:
        if a.help == argparse.SUPPRESS or a.nargs == 0 or isinstance(a, argparse._HelpAction):
            continue
        yield a


def _name(a: argparse.Action) -> str:
    return max(a.option_strings, key=len) if a.option_strings else a.dest


def _signature(a: argparse.Action) -> tuple:
    return (a.metavar, a.type, tuple(a.choices) if a.choices is not None else None)


def _shared() -> dict[str, dict[str, argparse.Action]]:
    flags: dict[str, dict[str, argparse.Action]] = {}
    for command, p in _commands().items():
        for a in _value_actions(p):
            if a.option_strings:
                flags.setdefault(_name(a), {})[command] = a
    return flags


def _texts(p: argparse.ArgumentParser) -> str:
    """The description, the epilog and every visible flag's help, unwrapped."""
    texts = [p.description or "", p.epilog or ""]
    texts += [a.help for a in p._actions if a.help and a.help != argparse.SUPPRESS]
    return "\n".join(texts)


def test_every_value_is_named_never_argparse_upper_snake():
    unnamed = [
        (command, _name(a))
        for command, p in _commands().items()
        for a in _value_actions(p)
        if a.metavar is None and a.choices is None
    ]
    assert not unnamed, f"give these a metavar (P, N, FILE, ...): {unnamed}"
    for command, p in _commands().items():
        usage = p.format_usage()
        auto = re.findall(r"--[\w-]+ ([A-Z]+_[A-Z_]+)\b", usage)
        assert not auto, (command, auto)


def test_the_same_flag_names_the_same_value_everywhere():
    for flag, where in _shared().items():
        if flag in OWN_TESTS:
            continue
        kept = {c: a for c, a in where.items() if (flag, c) not in EXCEPTIONS}
        seen = {c: _signature(a) for c, a in kept.items()}
        shown = {c: (m, getattr(t, "__qualname__", t), ch) for c, (m, t, ch) in seen.items()}
        assert len(set(seen.values())) <= 1, f"{flag} differs (metavar, type, choices): {shown}"


def test_every_exception_is_still_needed():
    shared = _shared()
    for flag, command in EXCEPTIONS:
        where = shared[flag]
        assert command in where, (flag, command)
        others = {_signature(a) for c, a in where.items() if (flag, c) not in EXCEPTIONS}
        mine = _signature(where[command])
        assert others, (flag, command)
        assert mine not in others, f"{flag} of {command} agrees with the others now: drop the exception"


@pytest.mark.parametrize(
    ("flag", "metavar"),
    [("--tree-size", "P"), ("--pmax", "P"), ("--seed", "N"), ("--measured", "FILE"), ("--dump", "DUMP")],
)
def test_the_metavariables_the_issue_names(flag, metavar):
    where = _shared()[flag]
    assert len(where) >= 2
    for command, a in where.items():
        assert a.metavar == metavar, (command, flag, a.metavar)


#: Commands whose --out is checked in the command, not by its type: (the suffix refused otherwise, extra flags).
OUT_CHECKED_IN_RUN = {
    "collect": (".jsonl", ["--url", "http://127.0.0.1:9", "--prompts", "PROMPTS"]),
    "latency": (".csv", ["--url", "http://127.0.0.1:9"]),
}


def test_out_says_file_or_folder(tmp_path, capsys):
    from speedoflight.cli._common import out_dir

    prompts = tmp_path / "p.txt"
    prompts.write_text("hello\n")
    seen = set()
    for command, p in _commands().items():
        out = next((a for a in p._actions if "--out" in a.option_strings), None)
        if out is None:
            continue
        seen.add(command)
        if out.type is out_dir:
            assert out.metavar == "DIR", (command, out.metavar)
            continue
        m = re.fullmatch(r"FILE(\.\w+)", out.metavar or "")
        assert m, f"{command} --out writes a file: its metavar must be FILE.ext, not {out.metavar}"
        if out.type is not None:
            assert m.group(1) in out.type.suffixes, (command, out.metavar, out.type.suffixes)
            continue
        suffix, extra = OUT_CHECKED_IN_RUN[command]  # a command that checks its --out itself: try a wrong one
        assert m.group(1) == suffix
        argv = [command, *[str(prompts) if x == "PROMPTS" else x for x in extra], "--out", str(tmp_path / "o.txt")]
        assert_user_error(capsys, argv, suffix)
    assert {"report", "compare", "evidence", "dump", "collect", "latency"} <= seen


# --- one meaning per flag name: --pool is pool files in simulate only ---------------------------------------------


def _parse(argv):
    return build_parser().parse_args(argv)


def test_pool_is_pool_files_in_simulate_only():
    flags = _shared()
    assert set(flags["--pool"]) == {"simulate"}
    assert flags["--pool-scope"]["optimum"].choices == ("prompt", "all")
    assert set(flags["--oracle-dump"]) == {"report", "evidence"}


@pytest.mark.parametrize(
    ("argv", "dest", "value", "new"),
    [
        (["optimum", "--dump", "d.npz", "--pool", "all"], "pool_scope", "all", "--pool-scope"),
        (["report", "--oracle", "o.npz", "--pool", "d.npz"], "oracle_dump", ["d.npz"], "--oracle-dump"),
        (["evidence", "--oracle", "o.npz", "--pool", "d.npz"], "oracle_dump", ["d.npz"], "--oracle-dump"),
    ],
)
def test_the_old_pool_still_works_with_one_line_of_note(capsys, argv, dest, value, new):
    old = _parse(argv)
    _, err = capsys.readouterr()
    assert err == f"speedoflight: --pool is deprecated here; use {new}\n"
    assert getattr(old, dest) == value
    renamed = _parse([new if x == "--pool" else x for x in argv])
    assert capsys.readouterr().err == ""
    assert vars(renamed) == vars(old)
    assert "--pool " not in _commands()[argv[0]].format_help()  # hidden


def test_simulate_pool_is_not_deprecated(capsys):
    args = _parse(["simulate", "--pool", "a.npz", "b.npz", "--pmax", "4"])
    assert args.pool == ["a.npz", "b.npz"]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("flag", ["--pool", "--oracle-dump"])
def test_evidence_and_report_count_the_dumps_by_either_spelling(capsys, tmp_path, flag):
    for command in ("evidence", "report"):
        argv = [command, "--oracle", "a.npz", "b.npz", flag, "c.npz", "--quiet"]
        if command == "report":
            argv += ["--out", str(tmp_path / "r")]
        code, _, err = run(capsys, *argv)
        assert code == 2
        lines = err.splitlines()
        assert lines[-1] == (
            "speedoflight: error: give one --oracle-dump per --oracle (2 oracle files, 1 dumps): the dump of each "
            "oracle file's model, in the same order"
        )
        assert len(lines) == (2 if flag == "--pool" else 1)
        assert "Traceback" not in err


def test_optimum_passes_the_pool_scope_by_either_spelling(capsys, monkeypatch):
    from speedoflight.errors import InputError
    from speedoflight.simulation import grafted

    got = []

    def fake(dumps, **kw):
        got.append(kw["pool"])
        raise InputError("stop here")

    monkeypatch.setattr(grafted, "optimum", fake)
    for flag in ("--pool-scope", "--pool"):
        code, _, err = run(capsys, "optimum", "--dump", "d.npz", flag, "all")
        assert code == 2
        assert err.splitlines()[-1] == "speedoflight: error: stop here"
    assert got == ["all", "all"]


# --- compare reads the model's size as report does -------------------------------------------------------------


def _shipped(name):
    from speedoflight._util.shipped import shipped_data

    return str(shipped_data() / name)


@pytest.mark.parametrize("command", ["compare", "report"])
def test_gpu_without_params_reads_the_size_from_the_model_name(capsys, monkeypatch, tmp_path, command):
    from speedoflight.analysis import compare as C
    from speedoflight.analysis import report as R
    from speedoflight.errors import InputError

    got = []

    def fake(*_a, timing=None, **_k):
        got.append(timing)
        raise InputError("stop here")

    monkeypatch.setattr(C, "compare", fake)
    monkeypatch.setattr(R, "run_report", fake)
    argv = [command, "--dump", _shipped("smollm2-t1-x8.npz"), "--gpu", "h100", "--quiet"]
    if command == "report":
        argv += ["--out", str(tmp_path / "r")]
    code, _, err = run(capsys, *argv)
    assert (code, err) == (2, "speedoflight: error: stop here\n")
    assert got[0].params == pytest.approx(1.35e8)  # SmolLM2-135M-Instruct
    code, _, _ = run(capsys, *argv, "--params", "8e9")
    assert got[1].params == 8e9


def test_compare_without_a_size_in_the_name_asks_for_params(capsys, tmp_path):
    import numpy as np

    f = tmp_path / "rows.npy"
    np.save(f, np.full((4, 8), 1 / 8))
    line = assert_user_error(capsys, ["compare", "--dump", str(f), "--gpu", "h100", "--quiet"], "needs --params")
    assert "records no model name" in line


# --- descriptions: one sentence each, true to what the command does --------------------------------------------


def test_every_command_has_a_one_sentence_description():
    for command, p in _commands().items():
        d = p.description or ""
        assert d.endswith("."), command
        body = re.sub(r"\b(e\.g|i\.e|i\.i\.d|vs|etc)\.", "", d[:-1]).replace("..", "")  # 1..P
        body = re.sub(r"\.\w", "", body)  # file names and versions: compare.md, 0.29
        assert ". " not in body, f"{command}: one sentence, please: {d}"


def _flags_named(text: str, command: str, commands) -> list[tuple[str, str]]:
    """Every (command, --flag) a help text names: in ``speedoflight X ...`` or after ``X``, X's flag; else its own."""
    out = []
    example = re.compile(r"(?:^\s+|`)speedoflight ([a-z]+)([^\n`]*)", flags=re.M)  # an example's flags are its own
    for line in example.finditer(text):
        out += [(line.group(1), f) for f in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[PKn]\b)", line.group(2))]
    text = example.sub("", text)
    for m in re.finditer(r"(?:\b([a-z]+) )?(?<![\w-])(--[a-z][a-z0-9-]*|-[PKn]\b)", text):
        owner = m.group(1) if m.group(1) in commands else command
        out.append((owner, m.group(2)))
    return out


def test_every_flag_a_help_names_exists():
    from speedoflight.cli._flags import measured_help

    commands = _commands()
    options = {c: {s for a in p._actions for s in a.option_strings} for c, p in commands.items()}
    foreign = measured_help()  # the measured formats' table names other tools' flags (vllm bench --save-result)
    for command, p in commands.items():
        for owner, flag in _flags_named(_texts(p).replace(foreign, ""), command, commands):
            assert flag in options[owner], f"{command}'s help names {owner} {flag}, which does not exist"


def test_input_formats_name_every_suffix_and_layout_the_readers_open():
    from speedoflight import readers
    from speedoflight.cli._flags import CONTINUATIONS_HELP, FORMATS_HELP, PAIR_FORMATS_HELP
    from speedoflight.readers.responses import LAYOUTS

    for suffix in readers._ARRAY_SUFFIXES + readers._JSONL_SUFFIXES:
        assert re.search(rf"{re.escape(suffix)}\b", FORMATS_HELP), suffix
    for suffix in readers._ARRAY_SUFFIXES:
        assert suffix in PAIR_FORMATS_HELP, suffix
    for suffix in readers._JSONL_SUFFIXES:
        assert suffix in CONTINUATIONS_HELP, suffix
    for layout in LAYOUTS:
        assert layout.replace("-", " ") in FORMATS_HELP.lower(), layout


def test_every_command_that_reads_api_logs_says_so():
    """collect's description lists who reads its API logs; each of them says it takes API logs (.jsonl)."""
    commands = _commands()
    named = re.search(r"API log that (.+) read\.$", commands["collect"].description)
    assert named, commands["collect"].description
    takers = {x.split()[0] for x in re.split(r", | and ", named.group(1))}
    assert takers == {"estimate", "bound", "simulate", "optimum", "compare", "export", "report", "watch"}
    for command in takers:
        text = _texts(commands[command])
        assert "API log" in text, command
        assert ".jsonl" in text, command
        assert "OpenAI-compatible" in text, command


def test_estimate_reads_the_api_logs_its_help_names(capsys, tmp_path):
    top = [{"token": t, "logprob": lp} for t, lp in (("a", -0.7), ("b", -1.5), ("c", -2.5))]
    content = [{"token": "a", "logprob": -0.7, "top_logprobs": top}] * 3
    log = tmp_path / "api.jsonl"
    log.write_text(json.dumps({"choices": [{"logprobs": {"content": content}}]}) + "\n")
    assert "API logs" in _texts(_commands()["estimate"])
    code, out, _ = run(capsys, "estimate", str(log), "--vocab-size", "50", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["n_rows"] == 3
    assert d["truncated"] is True


def test_every_measured_help_names_every_format_it_reads():
    from speedoflight.logs.table import FORMATS

    commands = _commands()
    for command in ("compare", "report", "export"):  # logs.acceptance.read_acceptance: every format of the table
        text = _texts(commands[command])
        missing = [name for name in FORMATS if f"  {name} " not in text]
        assert not missing, (command, missing)
    assert "speedoflight-measured" in _texts(commands["evidence"])  # evidence: formats.measured only


def test_compare_does_what_its_description_says(capsys, tmp_path):
    """The outputs compare's description names: the bounds beside the simulated optimum, the measured runs, the
    warnings, with a device the best setting in each engine's terms and per batch size, and --out's three files."""
    import numpy as np

    rows = np.zeros((64, 8))
    rows[:, :2] = 0.5
    np.save(tmp_path / "binary.npy", rows)
    meas = tmp_path / "m.csv"
    meas.write_text("accepted,tree_size\n1,4\n0,4\n")
    out = tmp_path / "cmp"
    d = _commands()["compare"].description
    code, text, _ = run(capsys, "compare", "--dump", str(tmp_path / "binary.npy"), "--measured", str(meas),
                        "--replicates", "4", "--gpu", "l4", "--params", "8e9", "--out", str(out), "--quiet")  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(re.findall(r"compare\.\w+", d))
    assert "warning:" in text
    assert "warnings" in d
    assert "best setting on" in text
    assert "best (P, depth)" in d
    assert "Lorden bound" in text
    assert "every bound" in d
    assert "simulated optimum" in text
    assert "simulated optimal tree" in d
    assert "batch" in text.lower()
    assert "per batch size" in d
