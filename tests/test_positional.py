"""Positional acceptance trees: best-first against the dynamic program, hand cases, exports, CLI."""

from __future__ import annotations

import ast
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speedoflight.errors import InputError
from speedoflight.simulation.positional import best_tree, dp_values, hardware_choice, vllm_tree_string
from speedoflight.timing import Timing

from .helpers import assert_user_error, run


def test_hand_checked_vector():
    t = best_tree("0.6,0.2,0.1", 6)
    # products: (0)=.6, (0,0)=.36, (0,0,0)=.216, (1)=.2, (0,0,0,0)=.1296, (0,1)=(1,0)=.12
    np.testing.assert_allclose(t.expected_accepted, np.cumsum([0.6, 0.36, 0.216, 0.2, 0.1296, 0.12]))
    assert t.paths[:5] == [(0,), (0, 0), (0, 0, 0), (1,), (0, 0, 0, 0)]


def test_chain_when_capped_to_one_child():
    t = best_tree("0.8", 5)
    np.testing.assert_allclose(t.expected_accepted, np.cumsum(0.8 ** np.arange(1, 6)))


def test_depth_one_cap_takes_the_best_ranks():
    t = best_tree("0.1,0.5,0.2", 3, max_depth=1)
    np.testing.assert_allclose(t.expected_accepted, [0.5, 0.7, 0.8])
    assert t.tree() == [(0,), (1,), (2,)]


@pytest.mark.parametrize("vector", ["0.6,0.2,0.1", "0.5,0.3,0.1,0.05", "0.9", "0.3,0.3,0.3", "0.05,0.7,0.2"])
@pytest.mark.parametrize("depth", [None, 1, 2, 3, 6])
def test_best_first_equals_dynamic_program(vector, depth):
    np.testing.assert_allclose(
        best_tree(vector, 64, depth).expected_accepted, dp_values(vector, 64, depth), rtol=1e-12, atol=1e-12
    )


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6), st.integers(1, 40), st.integers(1, 8))
def test_best_first_equals_dp_random(raw, budget, depth):
    acc = np.array(raw)
    if acc.sum() > 1:
        acc = acc / acc.sum() * 0.99
    if not np.any(acc > 0):
        return
    np.testing.assert_allclose(
        best_tree(acc, budget, depth).expected_accepted, dp_values(acc, budget, depth), rtol=1e-9, atol=1e-12
    )


def test_tree_is_ancestor_closed_and_within_cap():
    t = best_tree("0.5,0.25,0.12,0.06", 100, max_depth=4)
    nodes = set(t.paths)
    assert all(p[:-1] in nodes or len(p) == 1 for p in t.paths)
    assert max(len(p) for p in t.paths) <= 4


def test_vllm_string_parses_and_orders_by_depth():
    s = vllm_tree_string([(0, 0), (1,), (0,)])
    assert s == "[(0,), (1,), (0, 0)]"
    assert ast.literal_eval(s) == [(0,), (1,), (0, 0)]


def test_hardware_choice_prefers_deeper_trees_when_drafting_is_free():
    timing = Timing.preset("h100-sxm", 8e9)
    free = hardware_choice("0.6,0.2,0.1", 32, timing, 0.0, max_depth=8)
    costly = hardware_choice("0.6,0.2,0.1", 32, timing, 5e-3, max_depth=8)
    assert free["D"] >= costly["D"]
    assert free["speedup"] >= costly["speedup"]


def test_bad_vectors():
    for bad in ("", "0.7,0.5", "-0.1", "abc", "0,0"):
        with pytest.raises(InputError):
            best_tree(bad, 4)


def test_cli_tree_json(capsys):
    code, out, _ = run(capsys, "tree", "--acceptance", "0.6,0.2,0.1", "--pmax", "6", "--json", "--check-dp")
    assert code == 0
    d = json.loads(out)
    assert d["budget"] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(d["expected_accepted"], np.cumsum([0.6, 0.36, 0.216, 0.2, 0.1296, 0.12]))
    np.testing.assert_allclose(d["tokens_per_call"], np.array(d["expected_accepted"]) + 1)
    assert d["paths"][0] == [0]
    assert d["dp_max_abs_difference"] < 1e-12
    assert ast.literal_eval(d["vllm_speculative_token_tree"])[0] == (0,)


def test_cli_tree_table_and_hardware(capsys):
    code, out, _ = run(
        capsys,
        "tree",
        "--acceptance",
        "0.6,0.2,0.1",
        "--pmax",
        "16",
        "--max-depth",
        "4",
        "--gpu",
        "a100-80gb",
        "--params",
        "7e9",
        "--draft-ms",
        "0.5",
    )
    assert code == 0
    assert "hardware-aware choice" in out
    assert "--speculative-config" in out  # vLLM takes chains only now: its settings, not a tree string


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--acceptance", "0.8,0.5", "--pmax", "4"], ["sums to"]),
        (["--acceptance", "x", "--pmax", "4"], ["--acceptance"]),
        (["--acceptance", "0.5", "--pmax", "0"], ["positive integer"]),
        (["--acceptance", "0.5", "--pmax", "4", "--gpu", "l4"], ["--params"]),
    ],
)
def test_cli_tree_bad_input(capsys, argv, words):
    assert_user_error(capsys, ["tree", *argv], *words)
