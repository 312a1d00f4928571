"""``dump --branch-at T --branches N``: continuations that leave the sampled ones at interior points (issue 31)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="dump needs torch (the [model] extra)")
pytest.importorskip("transformers", reason="dump needs transformers (the [model] extra)")

from speedoflight.cli.app import main
from speedoflight.readers.continuations import grafted_input
from speedoflight.theory.estimator import estimate

from .helpers import assert_user_error
from .tinylm import save_tiny, tiny_llama

MAX_NEW = 12
pytestmark = pytest.mark.e2e  # whole dump commands on a model: out of the fast tier


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("tiny") / "m", tiny_llama(scale=3.0))


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    p = tmp_path_factory.mktemp("p") / "p.txt"
    p.write_text("abc\nddb\n")
    return p


def _argv(folder, prompts, out, *extra):
    return [
        "dump", "--model", str(folder), "--prompts", str(prompts), "--out", str(out),
        "--max-new-tokens", str(MAX_NEW), "--top-k", "5", "--seed", "3", "--quiet", "--samples-per-prompt", "2",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def dumps(folder, prompts, tmp_path_factory):
    d = tmp_path_factory.mktemp("d")
    plain, branched = d / "plain.npz", d / "branched.npz"
    assert main(_argv(folder, prompts, plain)) == 0
    assert main(_argv(folder, prompts, branched, "--branch-at", "8,4", "--branches", "2")) == 0
    return plain, branched


def test_branches_are_stored_beside_the_continuations(dumps):
    plain, branched = dumps
    with np.load(plain) as a, np.load(branched) as b:
        for name in ("topk_ids", "topk_logprobs", "next_token", "seq", "pos"):  # the sampled text is unchanged
            np.testing.assert_array_equal(a[name], b[name])
        seq, pos, par = b["branch_seq"], b["branch_pos"], b["branch_parent"]
        # 2 prompts x 2 samples x 2 points x 2 branches; a branch at t runs to the continuations' end
        assert len(np.unique(seq)) == 16
        assert len(seq) == 8 * (MAX_NEW - 4) + 8 * (MAX_NEW - 8)
        assert seq.min() > b["seq"].max()
        assert set(np.unique(par).tolist()) == set(np.unique(b["seq"]).tolist())
        for s in np.unique(seq):
            mine = pos[seq == s]
            assert mine[0] in (4, 8)
            assert np.array_equal(mine, np.arange(mine[0], MAX_NEW))


def test_a_branch_starts_in_its_parents_context(dumps):
    """At its branch point a branch sees the prompt plus the parent's first t tokens, the context the parent's
    row at position t was logged in: the same distribution (up to the rounding of another batch shape)."""
    _, branched = dumps
    with np.load(branched) as z:
        seq, pos = z["seq"], z["pos"]
        for s in np.unique(z["branch_seq"]):
            first = np.flatnonzero(z["branch_seq"] == s)[0]
            t, up = int(z["branch_pos"][first]), int(z["branch_parent"][first])
            row = np.flatnonzero((seq == up) & (pos == t))[0]
            np.testing.assert_array_equal(z["branch_topk_ids"][first], z["topk_ids"][row])
            np.testing.assert_allclose(z["branch_topk_logprobs"][first], z["topk_logprobs"][row], atol=1e-4)


def test_branches_differ_from_each_other(dumps):
    _, branched = dumps
    with np.load(branched) as z:
        paths = {tuple(z["branch_next_token"][z["branch_seq"] == s]) for s in np.unique(z["branch_seq"])}
    assert len(paths) > 8  # each branch has its own generator


def test_the_estimators_read_the_sampled_text_only(dumps):
    plain, branched = dumps
    a, b = estimate(str(plain), n_boot=20), estimate(str(branched), n_boot=20)
    assert (a.mu, a.mu2, a.n_rows) == (b.mu, b.mu2, b.n_rows)


def test_the_tries_gain_the_branches_and_no_roots(dumps):
    plain, branched = dumps
    g0, g1 = grafted_input(str(plain)), grafted_input(str(branched))
    assert len(g1.seq_nodes) == len(g0.seq_nodes) == 4  # roots come from the sampled continuations only
    with np.load(branched) as z:
        n_branch = len(np.unique(z["branch_seq"]))
    # every branch passes its branch point's node once more: continuations through nodes grow by the branches
    for _s, (n0, n1) in enumerate(zip(g0.seq_nodes, g1.seq_nodes, strict=True)):
        for t in (4, 8):
            assert g1.node_conts[n1[t]] >= g0.node_conts[n0[t]] + 2
    assert g1.node_conts[g1.prompt_root].sum() == g0.node_conts[g0.prompt_root].sum()  # none passes a root
    assert g1.node_known.sum() > g0.node_known.sum()
    assert len(g1.node_row) > len(g0.node_row)
    assert n_branch == 16


def test_optimum_runs_on_a_branched_dump(dumps, capsys):
    _, branched = dumps
    assert main(["optimum", "--dump", str(branched), "--pmax", "8", "--replicates", "2", "--positions", "all"]) == 0
    assert "E[X" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--branch-at", "0", "--branches", "2"], ["--branch-at 0", "--samples-per-prompt"]),
        (["--branch-at", str(MAX_NEW), "--branches", "2"], [f"--branch-at {MAX_NEW}", f"1..{MAX_NEW - 1}"]),
        (["--branches", "2"], ["--branches", "--branch-at"]),
        (["--branch-at", "4"], ["--branches"]),
        (["--branch-at", "4", "--branches", "1", "--early-exit", "1"], ["--early-exit"]),
    ],
)
def test_bad_branch_settings_are_one_line(folder, prompts, tmp_path, capsys, extra, words):
    out = tmp_path / "x.npz"
    assert_user_error(capsys, _argv(folder, prompts, out, *extra), *words)
    assert not out.exists()


def test_branch_samples_branches_the_first_continuations_only(folder, prompts, tmp_path):
    out = tmp_path / "first.npz"
    assert main(_argv(folder, prompts, out, "--branch-at", "4", "--branches", "2", "--branch-samples", "1")) == 0
    with np.load(out) as z:
        parents = set(np.unique(z["branch_parent"]).tolist())
        firsts = {int(s) for s in np.unique(z["seq"]) if int(s) % 2 == 0}  # sequence i * 2 + 0
        assert parents == firsts
        assert len(np.unique(z["branch_seq"])) == 2 * 2  # 2 prompts x 2 branches


def test_branch_samples_needs_branches(folder, prompts, tmp_path, capsys):
    assert_user_error(capsys, _argv(folder, prompts, tmp_path / "x.npz", "--branch-samples", "1"), "--branch-samples")
    argv = _argv(folder, prompts, tmp_path / "x.npz", "--branch-at", "4", "--branches", "1", "--branch-samples", "3")
    assert_user_error(capsys, argv, "--branch-samples 3", "1..2")
