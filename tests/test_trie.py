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


def test_a_gap_in_positions_is_refused():
    seq = np.array([0, 0, 0])
    pos = np.array([0, 1, 3])
    args = _inputs(seq, pos, np.array([1, 2, 3]), seq)
    with pytest.raises(InputError, match="positions are not"):
        _trie(*args)
