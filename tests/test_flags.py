"""One spelling per concept across the subcommands; old spellings hidden, with a deprecation note; --csv with --json."""

from __future__ import annotations

import argparse

import pytest

from speedoflight.cli.app import build_parser

from .helpers import run

#: Old spelling -> (command, canonical spelling).
DEPRECATED = {
    "--at": ("simulate", "-P"),
    "--keep": ("simulate", "--top-k"),
    "--p": ("measure", "-P"),
    "--topk": ("measure", "--top-k"),
    "--budget": ("tree", "--pmax"),
}
#: Spellings no command shows any more, for the concepts the issue names (P values, Pmax, top-k).
RETIRED = {"--at", "--keep", "--p", "--topk", "--budget"}
#: Commands whose --json is a stream of events, not a table.
STREAMS = {"watch"}


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def _visible(p):
    return {s for a in p._actions if a.help != argparse.SUPPRESS for s in a.option_strings}


def test_no_command_shows_an_old_spelling():
    for name, p in _commands().items():
        retired = RETIRED - {"--at"} if name == "scaling" else RETIRED  # scaling's --at: x values of a law
        shown = _visible(p)
        assert not (shown & retired), (name, shown & retired)


def test_the_same_flag_has_the_same_default_everywhere():
    defaults: dict[str, set] = {}
    for name, p in _commands().items():
        for a in p._actions:
            for s in a.option_strings:
                if s in ("--replicates", "--seed", "--batch", "--temperature", "--confidence", "--gpu", "--params"):
                    if name == "evidence" and s == "--replicates":
                        continue  # i.i.d. simulation set against an exact oracle: 2000 trees, see docs/cli.md
                    defaults.setdefault(s, set()).add(repr(a.default))
    for flag, seen in defaults.items():
        assert len(seen) == 1, (flag, seen)


def test_every_table_with_json_has_csv():
    for name, p in _commands().items():
        shown = _visible(p)
        if "--json" in shown and name not in STREAMS:
            assert "--csv" in shown, name


@pytest.mark.parametrize(("old", "where"), sorted(DEPRECATED.items()))
def test_old_spellings_still_work_with_a_note(capsys, old, where):
    command, new = where
    p = _commands()[command]
    old_action = next(a for a in p._actions if old in a.option_strings)
    new_action = next(a for a in p._actions if new in a.option_strings)
    assert old_action.dest == new_action.dest
    assert old_action.help == argparse.SUPPRESS
    assert old_action.type == new_action.type


def test_an_old_spelling_gives_the_same_result_and_a_note(capsys):
    base = ["simulate", "--family", "uniform:3", "--pmax", "8", "--replicates", "4", "--csv"]
    code, new_out, new_err = run(capsys, *base, "-P", "1,4", "--top-k", "3")
    assert code == 0
    assert new_err == ""
    code, old_out, old_err = run(capsys, *base, "--at", "1,4", "--keep", "3")
    assert code == 0
    assert old_out == new_out
    assert "--at is deprecated; use -P" in old_err
    assert "--keep is deprecated; use --top-k" in old_err


def test_csv_is_the_json_table(capsys):
    import csv
    import io
    import json

    base = ["simulate", "--family", "uniform:2", "--pmax", "4", "-P", "1,2,4", "--replicates", "2"]
    _, js, _ = run(capsys, *base, "--json")
    _, cs, _ = run(capsys, *base, "--csv")
    d = json.loads(js)
    rows = list(csv.DictReader(io.StringIO(cs)))
    assert [int(r["P"]) for r in rows] == d["P"] == [1, 2, 4]
    assert [float(r["mean"]) for r in rows] == pytest.approx(d["mean"])
    code, _, err = run(capsys, *base, "--json", "--csv")
    assert code == 2
    assert "not allowed with" in err


def test_scaling_reads_from_and_the_old_csv_file_spelling(capsys, tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("x,y\n1,0.1\n2,0.25\n4,0.41\n8,0.55\n")
    code, new_out, new_err = run(capsys, "scaling", "--from", str(f), "--x", "x", "--y", "y", "--csv")
    assert code == 0
    assert new_err == ""
    assert new_out.splitlines()[0].startswith("source,")
    code, _old_out, old_err = run(capsys, "scaling", "--csv", str(f), "--x", "x", "--y", "y")
    assert code == 0
    assert "--csv FILE is deprecated; use --from FILE" in old_err
    code, _, err = run(capsys, "scaling", "--x", "x")
    assert code == 2
    assert "--from CSV" in err
