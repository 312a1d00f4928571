"""The timing model: GPU presets and aliases, measured latency tables, drafter costs, batch, the speedup."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from speedoflight.errors import InputError
from speedoflight.timing import GPU_ALIASES, GPUS, DraftCost, Timing, best_p, read_latency, resolve_gpu, speedup

from .helpers import assert_user_error, run


def test_every_preset_and_alias_resolves_and_has_a_source():
    for key, g in GPUS.items():
        assert resolve_gpu(key) is g
        assert g.bandwidth > 1e11
        assert g.flops > 1e13
        assert "datasheet" in g.source or "whitepaper" in g.source
    for alias, key in GPU_ALIASES.items():
        assert resolve_gpu(alias) is GPUS[key]
    assert resolve_gpu("H100") is GPUS["h100-sxm"]
    assert resolve_gpu("H100_PCIe") is GPUS["h100-pcie"]
    for new in ("b200", "h100-pcie", "mi300x", "l40s", "a10g", "rtx4090"):
        assert new in GPUS


def test_overrides_relabel_the_device_custom():
    g = resolve_gpu("h100", bandwidth=2e12)
    assert g.name.startswith("custom")
    assert "H100" in g.name
    assert g.bandwidth == 2e12
    assert g.flops == GPUS["h100-sxm"].flops
    c = resolve_gpu(None, bandwidth=1e12, flops=1e14)
    assert c.name.startswith("custom")
    assert c.bandwidth == 1e12
    assert c.flops == 1e14
    with pytest.raises(InputError, match="bandwidth and flops"):
        resolve_gpu(None, bandwidth=1e12)
    with pytest.raises(InputError, match="not one of"):
        resolve_gpu("tpu-v5")


def test_batch_moves_the_knee_down_by_the_batch():
    """Roofline: compute grows B-fold with the batch; memory by B times each sequence's KV cache only."""
    t1 = Timing.preset("h100", 8e9)
    weights, kv = 8e9 * 2, 2048 * 131072  # bytes: weights once, one KV cache per sequence
    for b in (4, 16, 64):
        tb = t1.with_batch(b)
        ratio = (weights + b * kv) / (weights + kv)  # memory time, batch B over batch 1
        assert tb.knee() + 1 == pytest.approx((t1.knee() + 1) * ratio / b)
        # at batch B a pass over P + 1 tokens costs B times the compute of batch 1 (past the knee)
        p = 10 * (t1.knee() + 1)
        assert tb.verify_s(p) == pytest.approx(b * t1.verify_s(p))
    # without context the knee moves down by the batch exactly
    t0 = Timing.preset("h100", 8e9, context=0)
    assert t0.with_batch(16).knee() + 1 == pytest.approx((t0.knee() + 1) / 16)


def test_the_kv_cache_estimate_and_its_flags(capsys):
    from speedoflight.timing import kv_bytes_estimate

    # Llama-3-style: 2 (K, V) * layers * 8 heads * 128 dims * 2 bytes, layers = round(0.016 * params^(1/3))
    assert kv_bytes_estimate(8e9) == 2 * 32 * 8 * 128 * 2
    assert kv_bytes_estimate(70e9) == 2 * 66 * 8 * 128 * 2
    assert kv_bytes_estimate(1e9) == 2 * 16 * 8 * 128 * 2
    t = Timing.preset("h100", 8e9, kv_bytes_per_token=1000.0, context=4096)
    assert t.memory_s() == pytest.approx((16e9 + 4096 * 1000) / (0.7 * 3.35e12))
    assert "KV cache of 4096 tokens at 1 KiB per token (given)" in t.describe()
    assert t.caveat is not None
    with pytest.raises(InputError, match=r"^bandwidth_efficiency must be a fraction"):
        Timing.preset("h100", 8e9, bandwidth_efficiency=1.5)
    code, out, err = run(capsys, "bound", "--mu", "2", "--mu2", "8", "--gpu", "h100", "--params", "8e9", "--json",
                         "--context", "0", "--bandwidth-efficiency", "1", "--flop-efficiency", "1")  # fmt: skip
    assert code == 0, err
    d = json.loads(out)["timing"]
    assert (d["context"], d["bandwidth_efficiency"], d["flop_efficiency"]) == (0, 1.0, 1.0)
    assert_user_error(capsys, ["bound", "--mu", "2", "--mu2", "8", "--gpu", "h100", "--params", "8e9",
                               "--flop-efficiency", "0"], "--flop-efficiency")  # fmt: skip


def test_draft_cost_formula():
    t = Timing.preset("a100", 7e9, draft=DraftCost(per_level_s=1e-3, per_token_s=2e-4))
    # t_draft(P, D) = D * 1 ms + P * 0.2 ms
    assert t.draft_s(8, 3) == pytest.approx(3e-3 + 8 * 2e-4)
    assert t.draft_s(8) == pytest.approx(1e-3 + 8 * 2e-4)  # depth None: one level, the least
    ideal = {"context": 0, "bandwidth_efficiency": 1.0, "flop_efficiency": 1.0}  # the datasheet roofline
    ee = Timing.preset("a100", 7e9, draft=DraftCost(layer_fraction=0.75), **ideal)
    mem = 7e9 * 2 / 2.039e12
    # memory-bound: each of D levels costs 3/4 of a pass over ceil(P / D) tokens
    assert ee.draft_s(12, 4) == pytest.approx(4 * 0.75 * mem)
    far = 2000  # a level of 1000 tokens is compute-bound: 2 * params * 1000 / flops
    assert ee.draft_s(far, 2) == pytest.approx(2 * 0.75 * 2 * 7e9 * 1000 / 312e12)


def test_draft_cost_from_the_drafter_name():
    flags = DraftCost.from_flags(0.5, 0.0)
    assert flags.per_level_s == pytest.approx(5e-4)
    assert "0.5 ms per level" in flags.label
    ee = DraftCost.for_drafter("early-exit:24 chain", 30, flags)
    assert ee.layer_fraction == pytest.approx(0.8)
    assert "24 of 30" in ee.label
    assert DraftCost.for_drafter("early-exit:-6 tree", 30, flags).layer_fraction == pytest.approx(0.8)
    assert DraftCost.for_drafter("ngram chain", 30, flags).free
    assert DraftCost.for_drafter("eagle", 30, flags) is flags
    unknown = DraftCost.for_drafter("early-exit:24", None, flags)  # layers unknown: the flags' cost, said
    assert unknown.per_level_s == flags.per_level_s
    assert "layer count unknown" in unknown.label
    with pytest.raises(InputError, match="verifier_layers"):
        DraftCost.for_drafter("early-exit:24", None, DraftCost())  # never free
    with pytest.raises(InputError, match="not one of the verifier's 6 layers"):
        DraftCost.for_drafter("early-exit:12", 6, DraftCost())
    assert "free drafter assumed" in DraftCost.from_flags().label


def test_an_early_exit_drafter_at_24_of_30_layers_cannot_beat_plain_decoding_at_p1():
    """The issue's case: 24 of 30 layers per level. At P = 1, X <= 1, so the speedup is at most 2 / 1.8 < 1.12."""
    t = Timing.preset("h100", 1.35e8, draft=DraftCost.for_drafter("early-exit:24", 30, DraftCost()))
    s = speedup(np.array([1.0]), np.array([1]), t, depth=1)[0]
    assert s == pytest.approx(2.0 / 1.8)
    assert speedup(np.array([0.42]), np.array([1]), t, depth=1)[0] < 1.0


def test_latency_table(tmp_path):
    p = tmp_path / "lat.csv"
    p.write_text("P,ms\n0,10\n4,12\n16,20\n")
    lat = read_latency(str(p))
    np.testing.assert_allclose(lat.at([0, 2, 4, 10, 16]), [0.010, 0.011, 0.012, 0.016, 0.020])
    assert math.isnan(float(lat.at(17)))
    t = Timing.preset("h100", 8e9, latency=lat)
    ex = np.array([1.0, 2.0])
    np.testing.assert_allclose(speedup(ex, np.array([4, 16]), t), [2 * 0.010 / 0.012, 3 * 0.010 / 0.020])
    assert best_p(np.array([1.0, 2.0, 5.0]), np.array([4, 16, 64]), t) == (4.0, pytest.approx(2 * 10 / 12))  # 64: NaN
    with pytest.raises(InputError, match="latency"):
        best_p(np.array([5.0]), np.array([64]), t)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("P,ms\n1,10\n4,12\n", "P = 0"),
        ("0,10\n4,12\n2,11\n", "increase"),
        ("0,10\n4,abc\n", "line 2"),
        ("0,10\n4,-1\n", "> 0"),
        ("0,10\n", "two rows"),
        ("0,10\n2.5,11\n", "whole number"),
    ],
)
def test_bad_latency_tables(tmp_path, text, words):
    p = tmp_path / "lat.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=words):
        read_latency(str(p))


def test_timing_flags_on_the_cli(capsys, tmp_path):
    lat = tmp_path / "lat.csv"
    lat.write_text("0,10\n8,11\n64,20\n")
    code, out, _ = run(capsys, "bound", "--mu", "2", "--mu2", "6", "-P", "1,4,8", "--latency", str(lat), "--json")
    assert code == 0, out
    import json

    d = json.loads(out)
    assert d["timing"]["latency"]["P"] == [0.0, 8.0, 64.0]
    code, out, _ = run(
        capsys,
        "bound",
        "--mu",
        "2",
        "--mu2",
        "6",
        "-P",
        "4",
        "--bandwidth",
        "1e12",
        "--flops",
        "1e14",
        "--params",
        "1e9",
        "--json",
    )
    assert code == 0
    assert json.loads(out)["timing"]["gpu"].startswith("custom")
    assert_user_error(capsys, ["bound", "--mu", "2", "--mu2", "6", "--gpu", "h100"], "--params")
    assert_user_error(capsys, ["bound", "--mu", "2", "--mu2", "6", "--params", "1e9"], "--gpu")
    assert_user_error(capsys, ["bound", "--mu", "2", "--mu2", "6", "--latency", str(tmp_path / "no.csv")], "no such")


def test_the_old_addresses_in_theory_still_give_the_same_names():
    import speedoflight.theory.hardware as old_hardware
    import speedoflight.theory.timing as old_timing
    import speedoflight.timing as timing

    for name in old_timing.__all__:
        assert getattr(old_timing, name) is getattr(timing, name)
    for name in old_hardware.__all__:
        assert getattr(old_hardware, name) is getattr(timing, name)
    assert set(timing.__all__) == set(old_timing.__all__)
