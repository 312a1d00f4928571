"""The progress line of the long commands: shown only when asked, names the stage, cleared before the answer."""

from __future__ import annotations

import io
import sys

import pytest

from speedoflight._util import progress as P
from tests.helpers import run


def test_the_line_names_each_stage_and_is_cleared(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with P.progress_line(True, "speedoflight report"):
        P.stage("the ceiling (grafted tree)")
        P.say("a notice")
        P.finish()  # the answer comes next: the line is gone, and a stage named now writes nothing
        before = err.getvalue()
        P.stage("too late")
    text = err.getvalue()
    assert "speedoflight report, reading the inputs" in text
    assert "speedoflight report, the ceiling (grafted tree)" in text
    assert "a notice\n" in text
    assert text == before
    assert "too late" not in text
    assert P._OPEN == []


def test_off_it_writes_nothing_and_stages_are_silent(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with P.progress_line(False, "speedoflight report"):
        P.stage("the bounds")
    P.stage("outside any line")
    assert err.getvalue() == ""


@pytest.mark.e2e
def test_a_command_off_a_terminal_prints_no_progress(capsys):
    """Under pytest stderr is not a terminal: compare prints its answer and nothing on stderr."""
    code, out, err = run(capsys, "compare", "--dump", "data/smollm2-t1.npz", "--replicates", "4")
    assert code == 0
    assert err == ""
    assert "ceiling at P = " in out
    assert "|" not in out  # plain text on the terminal: tables in columns
    assert "**" not in out
