"""Hostile inputs, round two (issue 32), continued: one validation of rows for every reader of them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speedoflight.readers.dumpfile import write_dump

from .helpers import assert_user_error


def _dump(tmp_path, name="d.npz", **change):
    """The shipped small dump's first 64 rows, with some arrays changed."""
    with np.load("data/smollm2-t1.npz") as z:
        arrays = {k: np.asarray(z[k])[:64] for k in z.files if k != "metadata"}
        meta = json.loads(str(z["metadata"]))
    for k in ("format", "version"):
        meta.pop(k, None)
    for k, f in change.items():
        arrays[k] = f(arrays[k])
    path = tmp_path / name
    write_dump(str(path), arrays, meta)
    return str(path)


def _at_row_5(value):
    def put(a):
        a = a.copy()
        a[5, 0] = value
        return a

    return put


BAD_ROWS = [
    pytest.param(0.5, ["row 5", "log-probability above 0"], id="logprob-above-0"),
    pytest.param(np.nan, ["row 5", "NaN"], id="nan"),
]


def _commands(path, out):
    return {
        "estimate": ["estimate", path],
        "optimum": ["optimum", "--dump", path, "--pmax", "8"],
        "compare": ["compare", "--dump", path, "--tree-size", "8"],
        "report": ["report", "--dump", path, "--out", str(out), "--quiet"],
        "bound": ["bound", "--from", path],
        "simulate": ["simulate", "--pool", path, "--pmax", "8", "--quiet"],
    }


@pytest.mark.parametrize(("value", "words"), BAD_ROWS)
@pytest.mark.parametrize("command", ["estimate", "optimum", "compare", "report", "bound", "simulate"])
def test_rows_no_distribution_gives_are_refused_by_every_reader(tmp_path, capsys, value, words, command):
    """A log-probability is at most 0 and never NaN: E[X*(3)] = 1017 > 3 came from optimum reading one above 0."""
    path = _dump(tmp_path, topk_logprobs=_at_row_5(value))
    assert_user_error(capsys, _commands(path, tmp_path / "report")[command], path, *words)
    assert not (tmp_path / "report").exists()


def test_a_sampled_token_with_a_negative_surprisal_is_refused(tmp_path, capsys):
    """The sampled token's surprisal is -log p >= 0; below 0 the grafted tree would add a token of p > 1."""
    path = _dump(tmp_path, next_surprisal=lambda s: np.where(np.arange(len(s)) == 9, -2.0, s))
    assert_user_error(capsys, ["optimum", "--dump", path, "--pmax", "8"], "row 9", "surprisal of -2", "re-dump")


def test_an_api_log_with_a_log_probability_above_0_is_refused():
    """The same check for the grafted tree's rows from an API log, whose vocabulary is unknown."""
    from speedoflight.errors import InputError
    from speedoflight.readers.continuations import check_topk

    lp = np.log(np.array([[0.5, 0.25, 0.125], [0.6, 0.3, 0.05]]))
    check_topk(lp, None, "log.jsonl")  # top-k rows summing below 1: fine
    bad = lp.copy()
    bad[1, 2] = 0.5
    with pytest.raises(InputError, match=r"log.jsonl: row 1 has a log-probability above 0"):
        check_topk(bad, None, "log.jsonl")
    with pytest.raises(InputError, match=r"row 0 has top-k probabilities summing above 1"):
        check_topk(np.log(np.array([[0.7, 0.6, 0.1]])), None, "log.jsonl")
