"""speedoflight latency --url: the pass over P + 1 new tokens on a cached prefix, from server timings or wall clock."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speedoflight.timing import read_latency

from .fakeserver import Faults, fake_server
from .helpers import assert_user_error, run


def test_server_timings_give_the_pass_over_p_plus_one_tokens(tmp_path, capsys):
    """The fake server times prompt_n new tokens as 0.5 + 0.1 * prompt_n ms: latency(P) = 0.6 + 0.1 P exactly."""
    out = tmp_path / "lat.csv"
    with fake_server(Faults(timings=True)) as (url, faults):
        code, stdout, err = run(capsys, "latency", "--url", url, "-P", "1,4,16", "--repeats", "3", "--context", "64",
                                "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert stdout.startswith(f"verifier pass at P = 0: 0.60 ms; wrote {out} (server timings, 64 tokens of context)")
    lat = read_latency(str(out))
    np.testing.assert_allclose(lat.P, [0, 1, 4, 16])
    np.testing.assert_allclose(lat.seconds * 1e3, [0.6, 0.7, 1.0, 2.2], rtol=1e-9)
    prompts = [r["prompt"] for r in faults.requests]
    assert all(p[:64] == prompts[0] for p in prompts)  # every pass on the one cached prefix
    assert all(r["max_tokens"] == 1 for r in faults.requests)


def test_without_timings_the_wall_clock_is_used_and_said(tmp_path, capsys):
    out = tmp_path / "lat.csv"
    with fake_server() as (url, _):
        code, stdout, err = run(
            capsys, "latency", "--url", url, "-P", "2", "--repeats", "2", "--out", str(out), "--json"
        )
    assert code == 0, err
    d = json.loads(stdout)
    assert d["method"] == "wall clock"
    assert d["P"] == [0, 2]
    assert all(m > 0 for m in d["ms"])
    assert any("overhead" in n for n in d["notes"])
    assert read_latency(str(out)).pmax == 2


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["-P", "-3"], ["-P must be 0"]),
        (["--context", "0"], ["--context"]),
        (["--out", "lat.txt"], [".csv"]),
    ],
)
def test_user_errors(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    with fake_server(Faults(timings=True)) as (url, _):
        assert_user_error(capsys, ["latency", "--url", url, *argv], *words)
    assert not (tmp_path / "latency.csv").exists()
