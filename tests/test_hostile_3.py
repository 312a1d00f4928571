"""Hostile inputs, round two (issue 32), continued: one validation of rows for every reader of them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .helpers import assert_user_error, run, small_dump


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
    path = small_dump(tmp_path, topk_logprobs=_at_row_5(value))
    assert_user_error(capsys, _commands(path, tmp_path / "report")[command], path, *words)
    assert not (tmp_path / "report").exists()


def test_a_sampled_token_with_a_negative_surprisal_is_refused(tmp_path, capsys):
    """The sampled token's surprisal is -log p >= 0; below 0 the grafted tree would add a token of p > 1."""
    path = small_dump(tmp_path, next_surprisal=lambda s: np.where(np.arange(len(s)) == 9, -2.0, s))
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


def _shards(tmp_path, n):
    """n copies of one small dump (two sequences of 64 rows): a fleet's shards, as many files as asked."""
    import shutil

    one = small_dump(tmp_path, "shard-0.npz")
    with np.load(one) as z:
        keep = np.flatnonzero(np.asarray(z["seq"]) < 2)
    folder = tmp_path / "fleet"
    folder.mkdir()
    first = small_dump(folder, "shard-000000.npz", **{k: (lambda a: a[keep]) for k in _ROW_ARRAYS})
    for i in range(1, n):
        shutil.copyfile(first, folder / f"shard-{i:06d}.npz")
    return first, str(folder / "*.npz")


_ROW_ARRAYS = ("topk_ids", "topk_logprobs", "entropy", "m2", "seq", "pos", "next_token", "next_surprisal")


def _under_fd_limit(limit, *argv):
    """Run the CLI in a child whose descriptor limit is ``limit``; return (exit status, stdout, stderr)."""
    import os
    import shlex
    import subprocess
    import sys

    cmd = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "speedoflight", *argv])
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    p = subprocess.run(["bash", "-c", f"ulimit -n {limit}; exec {cmd}"], capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr


def _fleet_case(tmp_path, capsys, n, limit):
    """n identical shards, more than the descriptor limit: one at a time, they give the one shard's mu and mu2."""
    first, pattern = _shards(tmp_path, n)
    code, out, err = _under_fd_limit(limit, "estimate", pattern, "--json", "--quiet", "--bootstrap", "10")
    assert code == 0, err[-2000:]
    many = json.loads(out)
    code, out, err = run(capsys, "estimate", first, "--json", "--quiet", "--bootstrap", "10")  # one file: no limit
    assert code == 0, err
    one = json.loads(out)
    assert many["n_rows"] == n * one["n_rows"]
    assert len(many["sources"]) == n
    # the same rows n times: the same ratio of sums (up to the order of the float additions)
    assert many["mu"] == pytest.approx(one["mu"], rel=1e-9)
    assert many["mu2"] == pytest.approx(one["mu2"], rel=1e-9)
    code, out, err = _under_fd_limit(limit, "bound", "--from", pattern, "--json", "--quiet")
    assert code == 0, err[-2000:]


def test_more_shards_than_descriptors_are_read_one_at_a_time(tmp_path, capsys):
    """Issue 32: every source was opened before reading, so shards past `ulimit -n` failed (Too many open files)."""
    _fleet_case(tmp_path, capsys, 120, 64)


@pytest.mark.e2e
def test_two_thousand_shards_under_ulimit_256(tmp_path, capsys):
    _fleet_case(tmp_path, capsys, 2000, 256)
