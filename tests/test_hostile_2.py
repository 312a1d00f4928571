"""Hostile inputs, round two (issue 32): each case one clear line and exit 2, or the right answer, never silence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speedoflight.readers.dumpfile import write_dump

from .helpers import assert_user_error


def _small_dump(tmp_path, name="d.npz", **change):
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


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"entropy": lambda h: np.where(np.arange(len(h)) == 5, -3.89, h)}, ["row 5", "entropy -3.89", "outside"]),
        ({"entropy": lambda h: np.where(np.arange(len(h)) == 7, 102.9, h)}, ["row 7", "entropy 102.9", "10.8"]),
        ({"m2": lambda m: np.where(np.arange(len(m)) == 3, 0.0, m)}, ["row 3", "below entropy^2"]),
        ({"m2": lambda m: np.where(np.arange(len(m)) == 2, np.inf, m)}, ["row 2", "m2 inf"]),
    ],
)
def test_a_dumps_exact_moments_out_of_range_are_refused(tmp_path, capsys, change, words):
    """H in [0, log V] and M2 >= H^2 hold for every distribution: a dump saying otherwise is damaged."""
    path = _small_dump(tmp_path, **change)
    assert_user_error(capsys, ["estimate", path], *words, "re-create")


def test_unknown_moments_stay_allowed(tmp_path, capsys):
    path = _small_dump(tmp_path, entropy=lambda h: np.full_like(h, np.nan), m2=lambda m: np.full_like(m, np.nan))
    from .helpers import run

    code, _out, err = run(capsys, "estimate", path, "--json")
    assert code == 0, err
