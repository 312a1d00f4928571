"""Classical speculative sampling: exact small cases, the top-k bounds, the simulator against the formula."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from speedoflight.beyond.classic import best_gamma, classic, expected_tokens, positional_tokens, simulate_chain
from speedoflight.cli.app import main
from speedoflight.errors import InputError
from speedoflight.readers.pairs import alpha_full, read_pair, topk_interval

from .pairs import brute_alpha, make_views


def save(tmp_path, name, rows):
    path = tmp_path / name
    np.save(path, np.asarray(rows, dtype=np.float64))
    return str(path)


def run_json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


@pytest.mark.parametrize(
    ("p", "q", "alpha"),
    [
        ([0.2, 0.3, 0.5], [0.2, 0.3, 0.5], 1.0),  # identical
        ([0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.25, 0.75], 0.0),  # disjoint supports
        ([0.7, 0.3], [0.4, 0.6], 0.7),  # by hand: min(.7,.4) + min(.3,.6)
    ],
)
def test_classic_cli_exact_cases(tmp_path, capsys, p, q, alpha):
    t = save(tmp_path, "t.npy", [p] * 6)
    d = save(tmp_path, "d.npy", [q] * 6)
    out = run_json(capsys, ["classic", "--target", t, "--draft", d, "--kind", "probs", "--gamma", "3", "--json"])
    assert out["alpha"] == pytest.approx(alpha)
    assert out["alpha_interval"] is None
    # 1 + a + a^2 + a^3
    assert out["expected_tokens"] == pytest.approx(1 + alpha + alpha**2 + alpha**3)
    assert out["expected_tokens_positional"] == pytest.approx(1 + alpha + alpha**2 + alpha**3)
    assert out["alpha_exact"] == "full rows"


def test_logits_and_temperature(tmp_path):
    rng = np.random.default_rng(3)
    zt, zd = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    t, d = save(tmp_path, "t.npy", zt), save(tmp_path, "d.npy", zd)
    for temp in (1.0, 0.5):
        pair = read_pair(t, d, kind="logits", temperature=temp)

        def soft(z, temp=temp):
            e = np.exp(z / temp)
            return e / e.sum()

        want = [brute_alpha(soft(a), soft(b)) for a, b in zip(zt, zd, strict=True)]
        np.testing.assert_allclose(pair.alpha, want, rtol=1e-12)
    greedy = read_pair(t, d, kind="logits", temperature=0.0)
    np.testing.assert_array_equal(greedy.alpha, (zt.argmax(1) == zd.argmax(1)).astype(float))


def test_expected_tokens_closed_form():
    assert float(expected_tokens(0.5, 2)) == pytest.approx(1.75)
    assert float(expected_tokens(1.0, 4)) == 5.0
    assert float(expected_tokens(0.0, 4)) == 1.0
    assert float(expected_tokens(0.9, 0)) == 1.0


def test_positional_tokens_by_hand():
    a = np.array([0.5, 1.0, 0.2])
    got = positional_tokens(a, [np.arange(3)], 2)
    # start 0: 1 + .5 + .5 * 1 = 2; start 1: 1 + 1 + 1 * .2 = 2.2
    np.testing.assert_allclose(got, [2.0, 2.2])


def test_best_gamma_limits():
    # a free drafter: more drafts never hurt
    assert best_gamma(0.6, 0.0, gamma_max=20)[0] == 20
    # a draft as costly as the target can never pay off (tokens < gamma + 1 when alpha < 1)
    assert best_gamma(0.95, 1.0, gamma_max=20) == (0, 1.0)
    # Leviathan et al.: alpha 0.8, c 0.05 -> brute force over gamma of (1-a^(g+1))/((1-a)(g c + 1))
    g = np.arange(1, 40)
    s = (1 - 0.8 ** (g + 1)) / ((1 - 0.8) * (g * 0.05 + 1))
    assert best_gamma(0.8, 0.05, gamma_max=39) == (int(g[np.argmax(s)]), pytest.approx(float(s.max())))


def test_topk_interval_by_hand():
    # p lists {0: .5, 1: .3} (tail .2, cap .3); q lists {0: .4, 2: .4} (tail .2, cap .4)
    lo, hi = topk_interval(np.array([[0, 1]]), np.log([[0.5, 0.3]]), np.array([[0, 2]]), np.log([[0.4, 0.4]]))
    assert lo[0] == pytest.approx(0.4)  # only token 0 is known on both sides
    assert hi[0] == pytest.approx(0.8)  # q puts .2 on token 1, p puts .2 on token 2


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 30), st.integers(1, 8), st.integers(1, 8), st.floats(0.05, 3.0))
def test_topk_interval_contains_the_truth(seed, vocab, kp, kq, conc):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(vocab, conc), size=4)
    q = rng.dirichlet(np.full(vocab, conc), size=4)
    kp, kq = min(kp, vocab), min(kq, vocab)
    ip, iq = np.argsort(-p, axis=1)[:, :kp], np.argsort(-q, axis=1)[:, :kq]
    with np.errstate(divide="ignore"):  # a listed token may have probability 0 (-inf)
        lp, lq = np.log(np.take_along_axis(p, ip, 1)), np.log(np.take_along_axis(q, iq, 1))
    lo, hi = topk_interval(ip, lp, iq, lq)
    truth = alpha_full(p, q)
    assert np.all(lo <= truth + 1e-12)
    assert np.all(truth <= hi + 1e-12)
    if kp == vocab and kq == vocab:
        np.testing.assert_allclose(lo, truth, atol=1e-12)


def test_dump_pairs_use_the_recorded_overlap(tmp_path, capsys):
    paths, dists = make_views(tmp_path)
    out = run_json(capsys, ["classic", "--target", paths[-1], "--draft", paths[1], "--gamma", "2", "--json"])
    want = np.mean([brute_alpha(a, b) for a, b in zip(dists[-1], dists[1], strict=True)])
    assert out["alpha"] == pytest.approx(want)
    assert out["alpha_exact"] == "recorded overlap"
    assert out["alpha_interval"] is None  # exact: nothing left to bound
    lo, hi = out["alpha_topk_bounds"]  # what the listed tokens alone allow
    assert lo <= want <= hi


def test_dump_pairs_without_overlap_give_an_interval(tmp_path, capsys):
    paths, dists = make_views(tmp_path, record=False, k=6)
    out = run_json(capsys, ["classic", "--target", paths[-1], "--draft", paths[0], "--gamma", "2", "--json"])
    want = np.mean([brute_alpha(a, b) for a, b in zip(dists[-1], dists[0], strict=True)])
    lo, hi = out["alpha_interval"]
    assert lo <= want <= hi
    assert lo < hi
    assert out["alpha"] == pytest.approx((lo + hi) / 2)
    assert out["alpha_exact"] is None
    e_lo, e_hi = out["expected_tokens_interval"]
    assert e_lo == pytest.approx(float(expected_tokens(lo, 2)))
    assert e_hi == pytest.approx(float(expected_tokens(hi, 2)))


def test_simulator_matches_the_formula_and_keeps_the_target_distribution():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=6)
    q = rng.dirichlet(np.ones(5), size=6)
    formula = positional_tokens(alpha_full(p, q), [np.arange(6)], 3)
    for start in (0, 2):
        tokens, first = simulate_chain(p, q, 3, start, 100_000, rng)
        se = tokens.std(ddof=1) / np.sqrt(len(tokens))
        assert abs(tokens.mean() - formula[start]) < 4.5 * se
        counts = np.bincount(first, minlength=5)
        assert stats.chisquare(counts, 100_000 * p[start]).pvalue > 1e-4


def test_cli_simulation_agrees(tmp_path, capsys):
    paths, _ = make_views(tmp_path, n_seq=2, length=6)
    out = run_json(
        capsys,
        ["classic", "--target", paths[-1], "--draft", paths[1], "--gamma", "2", "--simulate", "3000", "--json"],
    )
    sim = out["simulation"]
    assert sim["starts"] == 10
    assert sim["mean_tokens"] == pytest.approx(sim["formula_tokens"], abs=0.03)


def test_text_output_names_the_numbers(tmp_path, capsys):
    paths, _ = make_views(tmp_path)
    assert main(["classic", "--target", paths[-1], "--draft", paths[0], "--gamma", "4", "--cost-ratio", "0.1"]) == 0
    text = capsys.readouterr().out
    assert "alpha (mean acceptance = 1 - TV)" in text
    assert "best gamma" in text


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("rows", "rows"),
        ("mixed", "not a speedoflight dump"),
        ("pickle", "pickle"),
        ("nan", "NaN"),
        ("topk", "token ids"),
        ("positions", "positions"),
    ],
)
def test_bad_pairs_exit_2(tmp_path, capsys, setup, message):
    good = save(tmp_path, "t.npy", np.full((4, 5), 0.2))
    paths, _ = make_views(tmp_path)
    draft = {
        "rows": lambda: save(tmp_path, "d.npy", np.full((3, 5), 0.2)),
        "mixed": lambda: paths[0],
        "pickle": lambda: _pickle(tmp_path),
        "nan": lambda: save(tmp_path, "d.npy", np.where(np.eye(4, 5) > 0, np.nan, 0.25)),
        "topk": lambda: save(tmp_path, "d.npy", np.full((4, 3), 0.2)),
        "positions": lambda: _shifted(tmp_path),
    }[setup]()
    target = paths[-1] if setup == "positions" else good
    extra = ["--vocab-size", "5"] if setup == "topk" else []
    code = main(["classic", "--target", target, "--draft", draft, "--gamma", "2", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message.lower() in err.lower()
    assert "Traceback" not in err


def _pickle(tmp_path):
    path = tmp_path / "d.npy"
    with open(path, "wb") as fh:
        pickle.dump({"a": 1}, fh)
    return str(path)


def _shifted(tmp_path):
    sub = tmp_path / "other"
    sub.mkdir()
    paths, _ = make_views(sub, seed=5)
    return paths[0]


def test_negative_gamma_is_refused(tmp_path, capsys):
    t = save(tmp_path, "t.npy", np.full((4, 5), 0.2))
    assert main(["classic", "--target", t, "--draft", t, "--gamma", "-1"]) == 2
    assert "gamma" in capsys.readouterr().err


def test_classic_api_rejects_bad_cost(tmp_path):
    t = save(tmp_path, "t.npy", np.full((4, 5), 0.2))
    pair = read_pair(t, t)
    with pytest.raises(InputError, match="cost_ratio"):
        classic(pair, 2, cost_ratio=-1.0)


def test_positional_curve_averages_one_set_of_starts(tmp_path):
    # acceptance high at the first position of each sequence only: averaging each gamma over its own starts
    # would favour long chains (only start 0 has room for them); one set of starts keeps the curve honest
    rows, length = [], 8
    for _ in range(3):
        for pos in range(length):
            a = 0.9 if pos == 0 else 0.1
            rows.append(([a, 1 - a], [1.0, 0.0]))
    p = np.array([r[1] for r in rows])
    q = np.array([r[0] for r in rows])
    t, d = save(tmp_path, "t.npy", p), save(tmp_path, "d.npy", q)
    pair = read_pair(t, d, kind="probs")
    pair.seq = np.repeat(np.arange(3), length)
    pair.pos = np.tile(np.arange(length), 3)
    res = classic(pair, 2, gamma_max=8)
    alpha = np.array([0.9] + [0.1] * 7)
    room = 4  # max(gamma, 8 // 2)
    for g in range(room + 1):
        want = np.mean([sum(np.prod(alpha[s : s + j]) for j in range(g + 1)) for s in range(length - room + 1)])
        assert res.curve["tokens_positional"][g] == pytest.approx(want)
    assert all(np.isnan(res.curve["tokens_positional"][g]) for g in range(room + 1, 9))
