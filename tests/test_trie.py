"""The tries of logged contexts, built a depth at a time, against their twin built one token at a time."""

from __future__ import annotations

import numpy as np
import pytest

from speedoflight.errors import InputError
from speedoflight.readers.continuations import _read, _trie

from .reference import trie_reference


def _same(a, b):
    for x, y in zip(a, b, strict=True):
        if isinstance(x, list):
            assert len(x) == len(y)
            assert all(np.array_equal(u, v) and u.dtype == v.dtype for u, v in zip(x, y, strict=True))
        else:
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y)


def _inputs(seq, pos, tok, prompt):
    _, first = np.unique(prompt, return_index=True)
    _, by_value = np.unique(prompt, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return np.lexsort((pos, seq)), seq, pos, tok, rank[by_value]


@pytest.mark.parametrize("dump", ["data/smollm2-t1-x8.npz", "data/gemma3-270m-t1-x8.npz", "data/smollm2-t1.npz"])
def test_the_shipped_tries_are_the_twins(dump):
    a = _read(dump)
    seq, pos, tok = (a[k].astype(np.int64) for k in ("seq", "pos", "next_token"))
    prompt = a["prompt"].astype(np.int64) if "prompt" in a else seq
    args = _inputs(seq, pos, tok, prompt)
    _same(_trie(*args), trie_reference(*args))


@pytest.mark.parametrize("seed", range(6))
def test_shuffled_rows_shared_prefixes_and_uneven_lengths(seed):
    """Rows in any order, continuations that share prefixes, differ in length and skip prompt numbers."""
    rng = np.random.default_rng(seed)
    seq, pos, tok, prompt = [], [], [], []
    for s in range(int(rng.integers(1, 30))):
        p = int(rng.integers(0, 5)) * 7 + 3
        n = int(rng.integers(1, 9))
        toks = rng.integers(0, 3, n)  # few tokens: many shared contexts
        seq += [s * 3] * n
        pos += list(range(n))
        tok += toks.tolist()
        prompt += [p] * n
    perm = rng.permutation(len(seq))
    arrays = [np.asarray(x, dtype=np.int64)[perm] for x in (seq, pos, tok, prompt)]
    args = _inputs(*arrays)
    _same(_trie(*args), trie_reference(*args))


def _branched(rng, n_main, n_branch, vocab=3):
    """Continuations of a few prompts, then branches that leave them at random depths (few tokens: shared nodes)."""
    seq, pos, tok, prompt, parent = [], [], [], [], []
    mains = []
    for s in range(n_main):
        p = int(rng.integers(0, 3)) * 5 + 1
        n = int(rng.integers(1, 9))
        seq += [s * 2] * n
        pos += list(range(n))
        tok += rng.integers(0, vocab, n).tolist()
        prompt += [p] * n
        parent += [-1] * n
        mains.append((s * 2, p, n))
    for b in range(n_branch):
        up, p, n_up = mains[int(rng.integers(0, len(mains)))]
        t = int(rng.integers(0, n_up + 1))  # 0: another sample of the prompt; n_up: from the parent's last context
        n = int(rng.integers(1, 6))
        seq += [1000 + b] * n
        pos += list(range(t, t + n))
        tok += rng.integers(0, vocab, n).tolist()
        prompt += [p] * n
        parent += [up] * n
    perm = rng.permutation(len(seq))
    return [np.asarray(x, dtype=np.int64)[perm] for x in (seq, pos, tok, prompt, parent)]


@pytest.mark.parametrize("seed", range(8))
def test_branches_join_their_parents_tries(seed):
    """Branches (``dump --branch-at``) start in their parent's context at their first position: the same arrays
    as the twin built one token at a time, and no roots of their own."""
    rng = np.random.default_rng(seed)
    seq, pos, tok, prompt, parent = _branched(rng, int(rng.integers(1, 12)), int(rng.integers(1, 20)))
    args = (*_inputs(seq, pos, tok, prompt), parent)
    got = _trie(*args)
    _same(got, trie_reference(*args))
    assert len(got[8]) == len(np.unique(seq[parent < 0]))  # seq_nodes: the sampled continuations only


def test_a_branch_adds_its_contexts_and_continuations_exactly():
    """One prompt, one continuation a b c; a branch leaves it after 'a' with x y: the root's subtrie gains the
    nodes 'a x' and 'a x y', and the node after 'a' is passed by both."""
    seq = np.array([0, 0, 0, 5, 5])
    pos = np.array([0, 1, 2, 1, 2])
    tok = np.array([10, 11, 12, 20, 21])
    prompt = np.zeros(5, dtype=np.int64)
    parent = np.array([-1, -1, -1, 0, 0])
    node_row, _, depth, conts, child_ptr, child_tok, _child_node, known, seq_nodes, _roots = _trie(
        *_inputs(seq, pos, tok, prompt), parent
    )
    # nodes: root, a, ab, abc, ax, axy
    assert len(node_row) == 6
    assert list(depth) == [0, 1, 2, 3, 2, 3]
    assert list(conts) == [1, 2, 1, 1, 1, 1]
    after_a = 1
    kids = child_tok[child_ptr[after_a] : child_ptr[after_a + 1]].tolist()
    assert kids == [11, 20]
    assert node_row[after_a] == 1  # the row the continuation logged there (the branch's own row is a twin)
    assert known[0] == 4  # rows known: root, a, ab (the continuation), ax (the branch's second row); abc, axy none
    assert len(seq_nodes) == 1
    assert list(seq_nodes[0]) == [0, 1, 2]


@pytest.mark.parametrize(
    "change",
    ["other prompt", "missing parent", "parent after", "past the end", "branch of a branch"],
)
def test_a_branch_that_does_not_follow_its_parent_is_refused(change):
    seq = np.array([0, 0, 0, 5, 5])
    pos = np.array([0, 1, 2, 1, 2])
    tok = np.array([10, 11, 12, 20, 21])
    prompt = np.zeros(5, dtype=np.int64)
    parent = np.array([-1, -1, -1, 0, 0])
    if change == "other prompt":
        prompt = np.array([0, 0, 0, 1, 1])
    elif change == "missing parent":
        parent = np.array([-1, -1, -1, 3, 3])
    elif change == "parent after":
        seq = np.array([9, 9, 9, 5, 5])
        parent = np.array([-1, -1, -1, 9, 9])
    elif change == "past the end":
        pos = np.array([0, 1, 2, 4, 5])
    else:
        seq = np.array([0, 0, 0, 5, 7])
        pos = np.array([0, 1, 2, 1, 2])
        parent = np.array([-1, -1, -1, 0, 5])
    with pytest.raises(InputError, match=r"branch does not follow|positions are not"):
        _trie(*_inputs(seq, pos, tok, prompt), parent)


def test_a_gap_in_positions_is_refused():
    seq = np.array([0, 0, 0])
    pos = np.array([0, 1, 3])
    args = _inputs(seq, pos, np.array([1, 2, 3]), seq)
    with pytest.raises(InputError, match="positions are not"):
        _trie(*args)
