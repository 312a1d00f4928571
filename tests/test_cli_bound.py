"""`speedoflight bound`: output formats and bad input."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from speedoflight.cli.app import main
from speedoflight.theory import bounds as B

from .helpers import assert_user_error, run

DATA = "data/smollm2-t1.npz"


def test_bound_json_from_moments(capsys):
    code, out, _ = run(capsys, "bound", "--mu", "2", "--mu2", "6", "-P", "1,10,1000", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["mu"] == 2
    assert d["mu2"] == 6
    assert [r["P"] for r in d["rows"]] == [1, 10, 1000]
    for r in d["rows"]:
        for key in ("published", "lorden", "asymptotic", "trivial"):
            assert key in r
        assert "iid_exact" not in r
        assert "trajectory" not in r
        assert r["lorden"] == pytest.approx(B.lorden(2, 6, [r["P"]])[0])
        assert r["published"] <= r["P"]


def test_bound_bits_base(capsys):
    c = math.log(2)
    code, out, _ = run(capsys, "bound", "--mu", str(2 / c), "--mu2", str(6 / c**2), "--base", "2", "-P", "64", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["mu"] == pytest.approx(2.0)
    assert d["rows"][0]["lorden"] == pytest.approx(B.lorden(2, 6, [64])[0])


def test_bound_range_and_csv(capsys):
    code, out, _ = run(capsys, "bound", "--mu", "1.5", "--mu2", "4", "-P", "1:1e4", "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    ps = [float(r["P"]) for r in rows]
    assert ps[0] == 1
    assert ps[-1] == 1e4
    assert len(ps) == 17
    assert all(float(r["lorden"]) <= float(r["P"]) for r in rows)


def test_bound_speedup_columns(capsys):
    code, out, _ = run(
        capsys, "bound", "--mu", "2", "--mu2", "6", "-P", "1,64", "--gpu", "h100-sxm", "--params", "8e9", "--json"
    )
    d = json.loads(out)
    assert code == 0
    assert "speedup_lorden" in d["rows"][0]
    assert d["timing"]["gpu"].startswith("NVIDIA H100")
    assert d["best"]["lorden"]["speedup"] >= max(r["speedup_lorden"] for r in d["rows"]) - 1e-9


def test_bound_from_shipped_dump(capsys):
    code, out, _ = run(capsys, "bound", "--from", DATA, "-P", "1,16,256", "--json", "--bootstrap", "50", "--quiet")
    assert code == 0
    d = json.loads(out)
    for r in d["rows"]:
        for key in ("iid_exact", "iid_bound", "trajectory", "trajectory_conservative", "iid_grid_error"):
            assert key in r
        assert 0 <= r["iid_exact"] <= r["P"]
        assert r["trajectory_ci"][0] <= r["trajectory"] <= r["trajectory_ci"][1]
    assert d["trajectory"]["prompts"] == 240


def test_bound_table(capsys):
    code, out, _ = run(capsys, "bound", "--mu", "2", "--mu2", "6", "-P", "1,1e12")
    assert code == 0
    assert "O(1) term" in out
    assert "renewal" in out
    assert "1e+12" in out


def test_bound_truncated_input_gives_intervals(capsys, tmp_path):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(60, 100)) * 2
    lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    np.save(tmp_path / "top.npy", -np.sort(-lp, axis=1)[:, :8])
    code, out, _ = run(
        capsys,
        "bound",
        "--from",
        str(tmp_path / "top.npy"),
        "--kind",
        "logprobs",
        "--vocab-size",
        "100",
        "-P",
        "4,64",
        "--json",
    )
    assert code == 0
    d = json.loads(out)
    r = d["rows"][1]
    assert r["lorden_interval"][0] <= r["lorden"] <= r["lorden_interval"][1]
    assert "trajectory" not in r  # no sampled tokens in a bare array


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--mu", "2", "--mu2", "6", "-P", "-3"], ["-P", "at least 1"]),
        (["--mu", "2", "--mu2", "6", "-P", "1:abc"], ["-P"]),
        (["--mu", "2", "--mu2", "3"], ["mu^2"]),
        (["--mu", "-1", "--mu2", "3"], [">= 0"]),
        (["--mu", "2"], ["--mu2"]),
        (["--mu", "2", "--mu2", "6", "--gpu", "tpu9", "--params", "1e9"], ["tpu9"]),
        (["--mu", "2", "--mu2", "6", "--gpu", "l4"], ["--params"]),
        (["--from", "nope.npz"], ["no such file"]),
    ],
)
def test_bound_bad_input(capsys, argv, words):
    assert_user_error(capsys, ["bound", *argv], *words)


def test_bound_requires_a_source(capsys):
    code = main(["bound"])
    assert code == 2
    assert "required" in capsys.readouterr().err


def test_the_speedup_table_leaves_out_the_trivial_bound(capsys):
    """X = P (every draft accepted) is a bound on E[X], but its speedup would only name the largest P a pass verifies."""
    code, out, _ = run(capsys, "bound", "--mu", "2", "--mu2", "8", "--gpu", "h100", "--params", "8e9")
    assert code == 0
    speedups = out.split("speedup ceiling (", 1)[1]
    head = next(line for line in speedups.splitlines() if line.strip().startswith("P "))
    assert "trivial" not in head.split()
    best = next(line for line in speedups.splitlines() if line.strip().startswith("best P:"))
    assert "trivial" not in best
    assert "the trivial bound (X = P: every drafted token accepted) is left out of the speedups" in speedups
    assert "trivial" in out.split("speedup ceiling (", 1)[0]  # the bound itself stays in the table of E[X]
