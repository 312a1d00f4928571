"""Every depth cap from one search: the same curves as one search per cap, bit for bit, and as the heapq twin."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from speedoflight.kernels.grafted import grafted_heap_caps
from speedoflight.options import RunOptions
from speedoflight.readers.continuations import grafted_input, grafted_inputs
from speedoflight.simulation.capped import capped_means, run_roots_caps
from speedoflight.simulation.grafted import _roots, optimum, run_roots, sample_roots

from .reference import grafted_reference, grafted_reference_caps
from .test_grafted import _depth_pools, _dump, _known_paths

SHIPPED = "data/smollm2-t1-x8.npz"
CAPS = (1, 2, 3, 4, 6, 8, 12, 16, 24)


@pytest.fixture(scope="module")
def shipped():
    return grafted_inputs(SHIPPED)


@pytest.mark.parametrize("tail", ["drop", "lump"])
def test_one_search_gives_every_cap_of_the_separate_searches_bit_for_bit(shipped, tail):
    """The shipped dump: 60 roots inside the continuations x 2 draws, P = 256, every cap the report uses."""
    g = shipped[tail]
    roots = np.unique(_roots(g, list(range(0, 32, 4)))[0])[::97]
    caps = np.array(CAPS, dtype=np.int64)
    together = run_roots_caps(g, roots, 256, 2, 5, caps)[0]
    for c, d in enumerate(CAPS):
        alone = run_roots(g, roots, 256, 2, 5, d)[0]
        np.testing.assert_array_equal(together[:, c], alone)


def _kernel_caps(g, prompt, node, depth, rid, pmax, caps):
    curves = np.zeros((len(caps), pmax))
    grafted_heap_caps(
        g.neglogp,
        g.ids,
        g.node_row,
        g.child_ptr,
        g.child_tok,
        g.child_node,
        g.pool_rows,
        g.row_bin,
        g.depth_bin,
        g.prompt_pool_lo[prompt],
        g.prompt_pool_n[prompt],
        node,
        g.node_row[node],
        depth,
        np.uint64(rid),
        np.asarray(caps, dtype=np.int64),
        curves,
    )
    return curves


@pytest.mark.parametrize("root_pos", [0, 5])
def test_the_kernel_and_its_heapq_twin_and_the_definition_agree(tmp_path, root_pos):
    """Kernel, heapq twin (one search) and the definition (one capped heapq search per cap) on a toy model."""
    path = tmp_path / "toy.npz"
    _dump(path, prompts=2, conts=3, length=12, k=3, alpha=0.4, seed=6)
    g = grafted_input(str(path), draw="depth")
    with np.load(path) as z:
        seq, pos, nxt = z["seq"], z["pos"], z["next_token"]
    caps = [1, 2, 3, 5, 40]
    for prompt in range(2):
        known = _known_paths(path, prompt)
        pools, depth_bin = _depth_pools(path, prompt)
        s0 = 3 * prompt
        toks = [int(t) for t in nxt[seq == s0][np.argsort(pos[seq == s0])]]
        node = int(g.seq_nodes[s0][root_pos])
        for rid in (3, 0xC0FFEE):
            got = _kernel_caps(g, prompt, node, root_pos, rid, 40, caps)
            twin = grafted_reference_caps(
                g.neglogp, g.ids, known, pools, tuple(toks[:root_pos]), rid, 40, caps, depth_bin, root_pos
            )
            for c, d in enumerate(caps):
                alone = grafted_reference(
                    g.neglogp,
                    g.ids,
                    known,
                    pools,
                    tuple(toks[:root_pos]),
                    rid,
                    40,
                    depth_bin=depth_bin,
                    root_depth=root_pos,
                    max_depth=d,
                )
                assert twin[c] == alone  # the twin is the definition, exactly
                np.testing.assert_allclose(got[c], alone, rtol=1e-13, atol=0)
            assert np.all(np.diff(got, axis=0) >= 0)  # a deeper cap never loses


@pytest.mark.parametrize("tail", ["drop", "lump"])
def test_capped_means_are_optimums_means_bit_for_bit(tmp_path, tail):
    path = tmp_path / "toy.npz"
    _dump(path, prompts=4, conts=3, length=10, k=4, alpha=0.3, seed=2)
    inputs = grafted_inputs(str(path))
    got = capped_means({tail: inputs[tail]}, [0, 3, 6], 30, [1, 3, 7], replicates=3, seed=9)[tail]
    for d in (1, 3, 7):
        want = optimum(
            str(path), pmax=30, positions=[0, 3, 6], replicates=3, tail=tail, max_depth=d, run=RunOptions(seed=9)
        )
        np.testing.assert_array_equal(got[d], want.main.mean)


def test_rows_with_a_negative_surprisal_run_each_cap_alone(tmp_path):
    """-log p < 0 (a row summing past 1) breaks the one-search premise: the caps are then run one by one."""
    path = tmp_path / "toy.npz"
    _dump(path, prompts=2, conts=3, length=8, k=4, alpha=0.3, seed=4)
    g = grafted_input(str(path))
    neg = g.neglogp.copy()
    neg[0, 0] = -1e-3
    bad = dataclasses.replace(g, neglogp=neg)
    got = capped_means({"drop": bad}, [0, 2], 20, [1, 2, 5], replicates=2, seed=1)["drop"]
    for d in (1, 2, 5):
        want = optimum(
            "unused", pmax=20, positions=[0, 2], replicates=2, max_depth=d, inputs={"drop": bad}, run=RunOptions(seed=1)
        )
        np.testing.assert_array_equal(got[d], want.main.mean)


@pytest.mark.parametrize("draw", ["depth", "uniform", "entropy"])
def test_both_tails_built_together_are_each_built_alone(tmp_path, draw):
    path = tmp_path / "toy.npz"
    _dump(path, prompts=3, conts=3, length=8, k=4, alpha=0.3, seed=1)
    both = grafted_inputs(str(path), draw=draw)
    for tail in ("drop", "lump"):
        alone = grafted_input(str(path), tail=tail, draw=draw)
        for f in dataclasses.fields(alone):
            a, b = getattr(both[tail], f.name), getattr(alone, f.name)
            if isinstance(a, list):
                assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
            else:
                np.testing.assert_array_equal(a, b)


def test_a_sample_of_roots_keeps_each_roots_curve(tmp_path):
    """A root's trees depend on its own identity: the sampled roots' curves are the full run's, and the sample is
    a fixed function of the seed."""
    path = tmp_path / "toy.npz"
    _dump(path, prompts=3, conts=3, length=8, k=4, alpha=0.3, seed=1)
    full = optimum(str(path), pmax=12, positions="all", replicates=2, tail="both", run=RunOptions(seed=3))
    part = optimum(str(path), pmax=12, positions="all", replicates=2, tail="both", sample=20, run=RunOptions(seed=3))
    keep = sample_roots(len(full.root_seq), 20, 3)
    assert len(keep) == 20
    assert np.all(np.diff(keep) > 0)
    np.testing.assert_array_equal(keep, sample_roots(len(full.root_seq), 20, 3))
    assert part.sampled_from == len(full.root_seq)
    assert full.sampled_from is None
    np.testing.assert_array_equal(part.lower.curves, full.lower.curves[keep])
    np.testing.assert_array_equal(part.upper.curves, full.upper.curves[keep])
    np.testing.assert_array_equal(part.root_pos, full.root_pos[keep])
    assert any("seeded uniform sample of 20" in n for n in part.notes)
    assert part.to_dict()["sampled_from"] == len(full.root_seq)
    np.testing.assert_array_equal(sample_roots(10, 20, 3), np.arange(10))


def test_the_ceiling_and_its_caps_from_one_search_are_the_separate_runs(tmp_path):
    """optimum(caps=): the uncapped per-root curves and each cap's mean, as separate runs on the same sample."""
    path = tmp_path / "toy.npz"
    _dump(path, prompts=4, conts=3, length=10, k=4, alpha=0.3, seed=3)
    inputs = grafted_inputs(str(path))
    kw = {"pmax": 30, "positions": "all", "replicates": 2, "run": RunOptions(seed=7), "tail": "both", "sample": 50}
    kw["inputs"] = inputs
    both = optimum(str(path), caps=(1, 2, 4), **kw)
    plain = optimum(str(path), **kw)
    again = capped_means(inputs, "all", 30, (1, 2, 4), replicates=2, seed=7, sample=50)
    assert both.sampled_from == 120
    for tail, got, want in (("drop", both.lower, plain.lower), ("lump", both.upper, plain.upper)):
        np.testing.assert_array_equal(got.curves, want.curves)
        np.testing.assert_array_equal(got.mean, want.mean)
        np.testing.assert_array_equal(got.ci_low, want.ci_low)
        for d in (1, 2, 4):
            alone = optimum(str(path), max_depth=d, **{**kw, "tail": tail})
            np.testing.assert_array_equal(both.capped[tail][d], alone.main.mean)
            np.testing.assert_array_equal(again[tail][d], alone.main.mean)
            assert np.all(both.capped[tail][d] <= got.mean)  # the same roots and draws: a cap only loses
    with pytest.raises(ValueError, match="depth caps"):
        optimum(str(path), caps=(2,), max_depth=3, **kw)
