"""The table of formats: every place that lists formats is generated from it, and says the same."""

from __future__ import annotations

import pathlib

import pytest

from speedoflight.errors import InputError
from speedoflight.logs import acceptance, render, table
from speedoflight.logs.format import Format
from speedoflight.logs.result import FORMATS

ROOT = pathlib.Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- formats:", "<!-- /formats -->"


def test_docs_format_table_is_the_generated_one():
    text = (ROOT / "docs" / "cli.md").read_text()
    assert text.count(BEGIN) == 1
    assert text.count(END) == 1
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    in_docs = block.split("\n", 1)[1]  # the marker's own line holds the note on how it is generated
    assert in_docs == render.markdown_table(), "regenerate docs/cli.md's table with speedoflight.logs.render"


def test_one_name_one_entry_everywhere():
    names = [f.name for f in table.TABLE]
    assert len(names) == len(set(names))
    assert list(FORMATS) == names  # logs.result.FORMATS is the table's
    helptext = render.measured_help()
    docstring = acceptance.__doc__ or ""
    rows = render.markdown_table().splitlines()[2:]
    assert len(rows) == len(names)
    for f in table.TABLE:
        assert f"  {f.name} " in helptext
        assert f"``{f.name}``" in docstring
        assert f.help in docstring
        assert all(cell.strip() for cell in (f.source, f.reads, f.x, f.uncertainty))
        assert "|" not in f.source + f.reads + f.x + f.uncertainty  # a pipe would split the Markdown row


def test_the_cli_help_lists_every_format(capsys):
    from speedoflight.cli.app import main

    try:
        main(["compare", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    for name in FORMATS:
        assert f"  {name} " in out


def _boom(path, text, k):
    raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")


def _damaged(path, text, k):
    return [float("n/a")]


@pytest.mark.parametrize(("reader", "expected"), [(_boom, TypeError), (_damaged, InputError)])
def test_a_bug_in_a_reader_is_not_called_a_damaged_file(tmp_path, monkeypatch, reader, expected):
    """A value that does not parse is the file's fault (one line); a TypeError is a bug and must surface."""
    fake = Format("fake", "fake", "fake", "fake", "fake", "fake", lambda text: True, reader)
    monkeypatch.setattr(table, "TABLE", (fake,))
    monkeypatch.setattr(acceptance, "FORMATS", {"fake": "fake"})
    p = tmp_path / "x.txt"
    p.write_text("anything\n")
    with pytest.raises(expected) as info:
        acceptance.read_acceptance(str(p), "fake")
    if expected is InputError:
        assert "looks damaged" in str(info.value)
        assert "\n" not in str(info.value)
