"""The best (P, depth): checked against a brute-force search written here from the speedup's definition."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from speedoflight.analysis.advice import DepthCurves, advise
from speedoflight.analysis.checks import comparison_warnings, same_model
from speedoflight.logs.result import Measured
from speedoflight.timing import DraftCost, Timing

from .helpers import run


def _curves() -> DepthCurves:
    """A toy ceiling: each level of the best tree adds at most 0.6**d, and P tokens fill levels in turn."""
    p = np.arange(1, 65)
    caps: list[int | None] = [1, 2, 3, 4, 6, 8, 12, 16, 24, None]

    def ex(pp: int, d: int | None) -> float:
        # level k holds up to 2**k nodes; a node at level k adds 0.6**k / 2**(k-1): fill levels 1.. in order
        total, left, k = 0.0, pp, 1
        while left > 0 and (d is None or k <= d):
            n = min(left, 2**k)
            total += n * 0.6**k / 2 ** (k - 1)
            left -= n
            k += 1
        return total

    lo = {d: np.array([ex(int(x), d) for x in p]) for d in caps}
    return DepthCurves({d: p for d in caps}, lo, {d: 1.1 * v for d, v in lo.items()}, "toy")


def _measured(name: str, p: int, x: float, ci: tuple[float, float] | None = None) -> Measured:
    return Measured("f", "csv", name, x, 100.0, 0.01, ci or (x - 0.05, x + 0.05), "t", "X", P=p)


def _brute(curves: DepthCurves, timing: Timing) -> tuple[float, int, int]:
    """max over P, D of (E + 1) t(0) / (D c_level + P c_token + t(P)), straight from the definition."""
    c = timing.draft
    best = (-1.0, 0, 0)
    for d in [k for k in curves.P if k is not None]:
        for i, p in enumerate(curves.P[d]):
            levels = min(d, int(p))
            t_draft = levels * c.per_level_s + p * c.per_token_s
            if c.layer_fraction:
                t_draft += levels * c.layer_fraction * float(timing.pass_s(math.ceil(p / levels)))
            s = (curves.lower[d][i] + 1) * float(timing.verify_s(0)) / (t_draft + float(timing.verify_s(p)))
            if s > best[0] + 1e-12:
                best = (s, int(p), levels)
    return best


@pytest.mark.parametrize("per_level_ms", [0.05, 0.5, 3.0])
@pytest.mark.parametrize("batch", [1, 16])
def test_the_ceilings_best_p_and_depth_is_the_brute_force_maximum(per_level_ms, batch):
    curves = _curves()
    t = Timing.preset("h100", 8e9, batch=batch, draft=DraftCost.from_flags(per_level_ms, 0.0))
    got = advise([], curves, t).ceiling
    s, p, d = _brute(curves, t)
    assert got.speedup == pytest.approx(s, rel=1e-12)
    assert (got.P, got.depth) == (p, d)
    assert got.low == got.speedup
    assert got.high > got.speedup  # the lumped estimate (1.1x E[X]) gives the upper end


def test_dearer_levels_give_shallower_trees():
    curves = _curves()
    depths = [
        advise([], curves, Timing.preset("h100", 8e9, draft=DraftCost.from_flags(ms, 0.0))).ceiling.depth
        for ms in (0.01, 0.3, 3.0)
    ]
    assert depths[0] >= depths[1] >= depths[2]
    assert depths[0] > depths[2]


def test_a_free_drafter_searches_the_uncapped_curve():
    a = advise([], _curves(), Timing.preset("h100", 8e9))
    assert a.ceiling.depth is None
    assert "free drafter" in a.ceiling.cost


def test_measured_best_current_and_lost_speed():
    """A chain drafter measured at P = 1, 2, 4: its speedups by hand, the best among them, the loss at P = 1."""
    # the datasheet roofline (no KV cache, full efficiency), so that t0 below is the weights over the bandwidth
    ideal = {"context": 0, "bandwidth_efficiency": 1.0, "flop_efficiency": 1.0}
    t = Timing.preset("h100", 8e9, overhead_s=0.0, draft=DraftCost.from_flags(0.0, 0.4), **ideal)  # 0.4 ms/token
    ms = [_measured("d chain", 1, 0.6), _measured("d chain", 2, 0.9), _measured("d chain", 4, 1.1)]
    a = advise(ms, _curves(), t, current=1)
    t0 = 8e9 * 2 / 3.35e12
    by_hand = {p: (x + 1) * t0 / (p * 4e-4 + t0) for p, x in ((1, 0.6), (2, 0.9), (4, 1.1))}
    d = a.drafters[0]
    assert d.best.P == max(by_hand, key=by_hand.get)
    assert d.best.speedup == pytest.approx(max(by_hand.values()))
    assert d.current is not None
    assert d.current.speedup == pytest.approx(by_hand[1])
    assert d.lost == pytest.approx(1 - by_hand[1] / max(by_hand.values()))
    assert d.best.depth == d.best.P  # a chain drafts P levels


def test_one_point_drafters_are_projected_at_their_fraction_of_the_ceiling():
    curves = _curves()
    t = Timing.preset("h100", 8e9)
    frac = 0.5
    x = frac * float(curves.lower[None][3])  # half the ceiling at P = 4
    a = advise([_measured("solo chain", 4, x)], curves, t)
    d = a.drafters[0]
    assert d.current is not None
    assert d.current.P == 4
    assert d.projected is not None
    s = (frac * curves.lower[None] + 1) * float(t.verify_s(0)) / t.verify_s(curves.P[None])
    assert d.projected.speedup == pytest.approx(float(np.max(s)))
    assert any("projected" in n for n in a.notes)


def test_batch_table_and_latency():
    a = advise([_measured("d chain", 2, 0.9)], _curves(), Timing.preset("h100", 8e9))
    assert [r["batch"] for r in a.batches] == [1, 4, 16, 64]
    ps = [r["ceiling"]["P"] for r in a.batches]
    assert ps == sorted(ps, reverse=True)  # the best P falls as the batch grows (SPEED-Bench's finding)
    from speedoflight.timing import Latency

    lat = Latency(np.array([0.0, 64.0]), np.array([0.01, 0.012]))
    b = advise([], _curves(), Timing.preset("h100", 8e9, latency=lat))
    assert b.batches == []
    assert any("latency table" in n for n in b.notes)


def test_the_sentence_says_to_turn_it_off_when_it_slows_down():
    t = Timing.preset("h100", 8e9, draft=DraftCost(layer_fraction=0.8, label="early exit 24/30"))
    a = advise([_measured("early-exit:24 chain", 1, 0.2)], _curves(), t)
    assert a.drafters[0].best.speedup < 1
    assert a.sentence().startswith("Turn speculative decoding off")


def test_same_model_names():
    assert same_model("SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct")
    assert same_model("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct")
    assert not same_model("meta-llama/Llama-3.1-8B-Instruct", "SmolLM2-135M-Instruct")
    assert not same_model("m", "SmolLM2-135M-Instruct")  # a short label is not a match


def test_warnings():
    ceil = {1: (1.0, 1.2, 0.9, 1.3), 2: (1.5, 1.8, 1.4, 1.9), 8: (2.5, 3.0, 2.4, 3.1)}
    ms = [
        _measured("ok", 8, 2.0),
        _measured("high", 2, 1.95),
        _measured("low", 1, 0.15),
        _measured("low", 2, 0.2),
        _measured("deep but low", 8, 0.2),  # low at P = 8 is not the broken-drafter check (P <= 4)
    ]
    w = comparison_warnings(ms, "", ceil.get)
    assert len(w) == 2
    assert w[0].startswith("above the ceiling: high")
    assert "+1" in w[0]
    # X over the ceiling's lower estimate: 0.15 / 1.0 = 15% at P = 1, 0.2 / 1.5 = 13% at P = 2
    assert w[1].startswith("broken drafter? low 13%..15% of the ceiling at P = 1, 2 ")
    assert "P = 1, 2" in w[1]
    # two broken drafters: one warning names both (the causes are the same), grouped by the P they were low at
    two = comparison_warnings(
        [*ms[2:4], _measured("also", 1, 0.1), _measured("also", 2, 0.15), _measured("x", 1, 0.1)], "", ceil.get
    )
    assert len(two) == 1
    assert two[0].startswith(
        "broken drafter? low 13%..15% and also 10% of the ceiling at P = 1, 2; x 10% of the ceiling at P = 1 "
    )
    named = [Measured("f", "vllm-metrics", "x", 2.0, 1, None, None, "", "", P=8, model="meta-llama/Llama-3.1-8B")]
    assert comparison_warnings(named, "SmolLM2-135M-Instruct", ceil.get)[0].startswith("model mismatch")
    assert comparison_warnings(named, "SmolLM2-135M-Instruct", ceil.get, acknowledged=True) == []
    assert comparison_warnings(ms[:1], "", ceil.get) == []


PROM = """\
vllm:spec_decode_num_drafts_total{{engine="0",model_name="{model}"}} 1000
vllm:spec_decode_num_draft_tokens_total{{engine="0",model_name="{model}"}} 4000
vllm:spec_decode_num_accepted_tokens_total{{engine="0",model_name="{model}"}} {accepted}
"""


@pytest.mark.e2e
@pytest.mark.parametrize("same", [False, True])
def test_compare_warns_on_another_model_and_above_the_ceiling(capsys, tmp_path, same):
    """A scrape labelled Llama-3.1-8B held against the SmolLM2 dump, at X = 3.5 at P = 4: both warnings, exit 0."""
    m = tmp_path / "metrics.txt"
    m.write_text(PROM.format(model="meta-llama/Llama-3.1-8B-Instruct", accepted=3500))
    argv = ["compare", "--dump", "data/smollm2-t1.npz", "--measured", str(m), "--tree-size", "4"]
    argv += ["--replicates", "4", "--json", "--quiet"] + (["--same-model"] if same else [])
    code, out, _ = run(capsys, *argv)
    assert code == 0
    w = json.loads(out)["warnings"]
    assert any(x.startswith("above the ceiling") for x in w)
    assert any(x.startswith("model mismatch") for x in w) != same


def test_the_sentence_names_drafters_that_slow_decoding_down():
    t = Timing.preset("h100", 8e9)
    ee = _measured("early-exit:24 chain", 1, 0.2)
    a = advise([_measured("ngram chain", 2, 0.5), _measured("ngram chain", 4, 0.6), ee], _curves(), t, n_layers=30)
    text = a.sentence()
    assert text.startswith("Run ngram chain at P = 4")
    assert "early-exit:24 chain slows decoding down at every measured P" in text


def test_the_sentence_follows_a_projection_that_beats_the_measured_point():
    t = Timing.preset("h100", 8e9)
    curves = _curves()
    a = advise([_measured("solo chain", 1, 0.5 * float(curves.lower[None][0]))], curves, t)
    d = a.drafters[0]
    assert d.projected is not None
    assert d.projected.speedup > d.best.speedup
    assert f"P = {d.projected.P}" in a.sentence()
    assert "projected from its one measured P" in a.sentence()


def test_no_projection_above_the_ceiling():
    curves = _curves()
    a = advise([_measured("eagle", 64, 1.5 * float(curves.lower[None][63]))], curves, Timing.preset("h100", 8e9))
    assert a.drafters[0].projected is None
    assert "above the ceiling at its cost" in a.sentence()


@pytest.mark.e2e
def test_user_errors_and_stderr_of_the_new_flags(capsys, tmp_path):
    from .helpers import assert_user_error

    ee = tmp_path / "ee.csv"
    ee.write_text("label,accepted,tree_size\n" + "early-exit:12,1,4\n" * 5)
    base = ["compare", "--dump", "data/smollm2-t1.npz", "--measured", str(ee), "--replicates", "4", "--quiet"]
    assert_user_error(
        capsys, [*base, "--gpu", "h100", "--params", "1e9", "--verifier-layers", "6"], "--verifier-layers"
    )
    assert_user_error(capsys, ["bound", "--mu", "2", "--mu2", "6", "--draft-ms", "1"], "--draft-ms needs a device")
    binary = tmp_path / "lat.csv"
    binary.write_bytes(b"\x00\xff\xfe\x01")
    assert_user_error(capsys, ["bound", "--mu", "2", "--mu2", "6", "--latency", str(binary)], "not a text CSV")
    metrics = tmp_path / "m.prom"
    metrics.write_text(PROM.format(model="meta-llama/Llama-3.1-8B-Instruct", accepted=3500))
    argv = ["compare", "--dump", "data/smollm2-t1.npz", "--measured", str(metrics), "--tree-size", "4"]
    code, out, err = run(capsys, *argv, "--gpu", "h100", "--params", "1.35e8", "--replicates", "4", "--quiet", "--csv")
    assert code == 0
    assert "speedoflight: warning: model mismatch" in err
    assert out.splitlines()[0].endswith("draft_cost")
    assert "free drafter assumed" in out.splitlines()[1]


def test_the_break_even_batch_by_hand():
    """P = 1 with E[X] = 0.5, a free drafter, the datasheet roofline (no KV cache): M = weights / bandwidth,
    C = 2 params / FLOP/s. The speedup is 1.5 max(M, C B) / max(M, 2 C B) >= 1 exactly while B <= 0.75 M / C."""
    from speedoflight.analysis.batching import MAX_BATCH, break_even

    ideal = {"context": 0, "bandwidth_efficiency": 1.0, "flop_efficiency": 1.0}
    t = Timing.preset("h100", 8e9, **ideal)
    m, c = 8e9 * 2 / 3.35e12, 2 * 8e9 / 989.4e12
    curves = DepthCurves({None: np.array([1])}, {None: np.array([0.5])}, {None: np.array([0.6])}, "test")
    a = advise([], curves, t)
    assert a.break_even["ceiling"] == math.floor(0.75 * m / c)  # 221
    assert a.break_even["ceiling"] == 221
    assert "the ceiling pays up to batch 221" in "\n".join(a.markdown())
    assert a.to_dict()["break_even_batch"] == {"ceiling": 221}
    assert break_even(lambda b: 0.9) == 0
    assert break_even(lambda b: 2.0) == MAX_BATCH
    assert break_even(lambda b: 1.0 if b <= 1000 else 0.5) == 1000
