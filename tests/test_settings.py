"""Engine settings: hand-worked trees and chains against each engine's documented semantics.

Every expected value is written out by hand from the engines' own rules (docs/cli.md, "Settings in your
engine's terms"): vLLM takes chains only (``num_speculative_tokens`` = K); SGLang verifies
``num_draft_tokens - 1`` drafts with the last verified token, grows ``eagle_topk`` nodes per step by their
``eagle_topk`` best children, and forces ``num_draft_tokens = num_steps + 1`` at topk 1; llama-server drafts
``--spec-draft-n-max`` tokens; TensorRT-LLM takes ``eagle_choices`` sorted by length then value with
``max_draft_len`` = the tree's depth, or a dynamic tree with ``max_total_draft_tokens <= topK * max_draft_len``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from speedoflight.analysis.settings import Target, engine_settings, family_of
from speedoflight.simulation.positional import best_chain
from speedoflight.timing import DraftCost, Timing

from .helpers import run


def chain_of(k: int, speedup: float | None = None, family: str = "eagle") -> Target:
    return Target(k, k, tuple((0,) * n for n in range(1, k + 1)), speedup, family=family)


THREE = Target(3, 2, ((0,), (1,), (0, 0)))  # the root's two best children, and the best child of the best one


def test_three_node_tree_in_every_engine():
    s = engine_settings(THREE, chain_of(2))
    # SGLang: 2 levels; rank 1 is used, so topk 2; 3 drafts + the verified token
    assert s.sglang.args == [
        "--speculative-algorithm", "EAGLE3", "--speculative-num-steps", "2",
        "--speculative-eagle-topk", "2", "--speculative-num-draft-tokens", "4",
    ]  # fmt: skip
    assert s.tensorrt.config == {"decoding_type": "Eagle3", "max_draft_len": 2, "eagle_choices": [[0], [1], [0, 0]]}
    # the chain-only engines run the chain they were given, not the tree
    assert s.vllm.config == {"method": "eagle3", "num_speculative_tokens": 2}
    assert s.llamacpp.args == ["--spec-type", "draft-eagle3", "--spec-draft-n-max", "2", "--spec-draft-p-min", "0"]
    # SGLang's topk-1 configurations run the chain too: 2 steps, 3 draft tokens
    assert s.sglang.topk1_args == [
        "--speculative-algorithm", "EAGLE3", "--speculative-num-steps", "2",
        "--speculative-eagle-topk", "1", "--speculative-num-draft-tokens", "3",
    ]  # fmt: skip


def test_eagle_choices_sorted_by_length_then_value():
    t = Target(3, 2, ((0, 0), (1,), (0,)))
    assert engine_settings(t, None).tensorrt.config["eagle_choices"] == [[0], [1], [0, 0]]


def test_chain_of_four_in_every_engine():
    s = engine_settings(chain_of(4), None)  # a chain is its own best chain
    assert s.vllm.config == {"method": "eagle3", "num_speculative_tokens": 4}
    assert json.loads(s.vllm.to_dict()["args"][1]) == {"method": "eagle3", "num_speculative_tokens": 4}
    assert s.llamacpp.n_max == 4
    assert s.llamacpp.args == ["--spec-type", "draft-eagle3", "--spec-draft-n-max", "4", "--spec-draft-p-min", "0"]
    assert (s.sglang.num_steps, s.sglang.eagle_topk, s.sglang.num_draft_tokens) == (4, 1, 5)
    assert s.tensorrt.config == {"decoding_type": "Eagle3", "max_draft_len": 4}


def test_sglang_topk_covers_the_inner_nodes_of_a_level():
    # ranks stay 0 and 1, but four nodes at depth 2 have children: the beam of each step must hold 4
    paths = ((0,), (1,), (0, 0), (0, 1), (1, 0), (1, 1), (0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 1, 0))
    s = engine_settings(Target(10, 3, paths), chain_of(3))
    assert (s.sglang.num_steps, s.sglang.eagle_topk, s.sglang.num_draft_tokens) == (3, 4, 11)
    assert s.tensorrt.config["max_draft_len"] == 3


def test_a_high_rank_sets_topk():
    s = engine_settings(Target(3, 1, ((0,), (1,), (2,))), chain_of(1))
    assert (s.sglang.num_steps, s.sglang.eagle_topk, s.sglang.num_draft_tokens) == (1, 3, 4)


def test_no_static_tree_gives_dynamic_tree_budgets():
    s = engine_settings(Target(10, 3), chain_of(3))
    # SGLang: smallest k with k + 2 k^2 >= 10 is 2 (2 + 8 = 10)
    assert (s.sglang.num_steps, s.sglang.eagle_topk, s.sglang.num_draft_tokens) == (3, 2, 11)
    # TensorRT-LLM: 10 tokens in 3 layers need topK 4 (4 * 3 = 12 >= 10)
    assert s.tensorrt.config == {
        "decoding_type": "Eagle3",
        "max_draft_len": 3,
        "use_dynamic_tree": True,
        "dynamic_tree_max_topK": 4,
        "max_total_draft_tokens": 10,
    }
    assert any("dynamic" in n for n in s.notes)


def test_an_open_depth_gives_the_budget_only():
    s = engine_settings(Target(8, None), chain_of(3))
    assert s.sglang.num_steps is None
    assert s.sglang.eagle_topk is None
    assert s.sglang.num_draft_tokens == 9
    assert "depth, left open" in s.sglang.line
    assert s.tensorrt.config == {"decoding_type": "Eagle3", "max_total_draft_tokens": 8}
    assert "depth, left open" in s.tensorrt.line


def test_ngram_and_draft_model_families():
    ng = engine_settings(Target(6, 3, family="ngram"), chain_of(3, family="ngram"))
    assert ng.vllm.config == {"method": "ngram", "num_speculative_tokens": 3}
    assert ng.llamacpp.args == ["--spec-type", "ngram-simple", "--spec-ngram-simple-size-m", "3"]
    assert ng.sglang.args == ["--speculative-algorithm", "NGRAM", "--speculative-num-draft-tokens", "7"]
    assert ng.sglang.topk1_args is None
    assert ng.tensorrt.config == {"decoding_type": "NGram", "max_draft_len": 3}  # linear only: the chain
    dm = engine_settings(Target(6, 3, family="draft"), chain_of(4, family="draft"))
    assert dm.vllm.config == {"method": "draft_model", "num_speculative_tokens": 4}
    assert dm.llamacpp.args[:2] == ["--spec-type", "draft-simple"]
    assert dm.sglang.args[:2] == ["--speculative-algorithm", "STANDALONE"]
    assert dm.tensorrt.config == {"decoding_type": "Draft_Target", "max_draft_len": 4}


def test_slower_than_plain_decoding_says_to_leave_it_off():
    s = engine_settings(Target(3, 2, THREE.paths, 1.4), chain_of(2, 0.8))
    lines = s.lines
    assert "leave speculation off" in lines[0]
    assert "0.80x" in lines[0]
    assert "leave speculation off" in lines[2]  # llama.cpp too
    assert "--speculative-eagle-topk 2" in lines[1]
    assert "1.40x" in lines[1]
    assert s.to_dict()["vllm"]["off"] is True
    assert s.to_dict()["sglang"]["off"] is False


def test_family_of_names():
    assert family_of("ceiling") == "eagle"
    assert family_of("ngram tree") == "ngram"
    assert family_of("early-exit:24 chain") == "draft"
    assert family_of("EAGLE-3 head") == "eagle"


@pytest.mark.parametrize(
    ("p", "depth", "paths"),
    [(0, None, None), (3, 4, None), (2, 2, ((0,), (1, 0))), (2, 1, ((0,), (1,), (2,))), (2, 2, ((0,), (1,)))],
)
def test_targets_refuse_impossible_shapes(p, depth, paths):
    with pytest.raises(ValueError, match=r"P >= 1|depth|paths"):
        Target(p, depth, paths)


def test_best_chain_by_hand():
    c = best_chain("0.6,0.2", 5)
    assert c["K"] == 5
    assert c["expected_accepted"] == pytest.approx(0.6 + 0.36 + 0.216 + 0.1296 + 0.07776)
    assert c["paths"] == [[0], [0, 0], [0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0, 0]]
    # a chain engine drafts the drafter's top-ranked token, however the vector is ordered
    assert best_chain("0.1,0.5", 2)["expected_accepted"] == pytest.approx(0.1 + 0.01)
    assert best_chain("0.6,0.2", 5, max_depth=2)["K"] == 2


def test_best_chain_with_timing_is_the_fastest_length():
    timing = Timing.preset("h100-sxm", 8e9, draft=DraftCost(per_level_s=3e-4))
    t0 = float(timing.verify_s(0.0))
    by_hand = [
        (sum(0.6**j for j in range(1, k + 1)) + 1) * t0 / (k * 3e-4 + float(timing.verify_s(k))) for k in range(1, 33)
    ]
    c = best_chain("0.6,0.15,0.08,0.05", 32, timing)
    assert c["K"] == int(np.argmax(by_hand)) + 1
    assert c["speedup"] == pytest.approx(max(by_hand))


def test_cli_tree_three_nodes(capsys):
    # products 0.6 (0), 0.36 (0,0), 0.3 (1): the best tree of 3 nodes is [[0], [1], [0, 0]]
    code, out, _ = run(capsys, "tree", "--acceptance", "0.6,0.3", "--pmax", "3", "--json")
    assert code == 0
    d = json.loads(out)
    e = d["engine_settings"]
    assert d["recommended"]["paths"] == [[0], [1], [0, 0]]
    # the string vLLM took before PR #42121 removed trees: a list of rank tuples, breadth-first
    assert d["vllm_speculative_token_tree"] == "[(0,), (1,), (0, 0)]"
    assert e["sglang"]["args"][2:] == [
        "--speculative-num-steps", "2", "--speculative-eagle-topk", "2", "--speculative-num-draft-tokens", "4",
    ]  # fmt: skip
    assert e["tensorrt_llm"]["speculative_config"]["eagle_choices"] == [[0], [1], [0, 0]]
    # without a device nothing costs: the best chain is the longest, 3 tokens
    assert e["vllm"]["speculative_config"]["num_speculative_tokens"] == 3
    assert e["llama.cpp"]["n_max"] == 3
    assert d["notes"] == []


USER = ["tree", "--acceptance", "0.6,0.15,0.08,0.05", "--gpu", "h100", "--params", "8e9", "--draft-ms", "0.3"]


def test_cli_tree_prints_the_tree_it_recommends(capsys):
    code, out, _ = run(capsys, *USER, "--pmax", "64")
    assert code == 0
    lines = out.splitlines()
    # under the default roofline (KV cache at 2048 tokens, 70% / 50% of the peaks) the choice is P = 64, depth 5
    assert lines[0].startswith("speedoflight tree: set P = 64, depth 5 (the hardware-aware choice)")
    assert "raise --pmax" in lines[1]
    assert "roofline estimate" in lines[2]
    assert lines[3].strip().startswith("in your engine's terms")
    assert [ln.strip().split(" ")[0] for ln in lines[4:8]] == ["vLLM", "SGLang", "llama.cpp", "TensorRT-LLM"]
    shown = lines[lines.index(next(ln for ln in lines if "the recommended tree, 64 nodes" in ln)) + 1]
    paths = json.loads(shown.strip())
    assert len(paths) == 64
    assert max(len(p) for p in paths) == 5  # the tree printed is the recommended one, of its depth
    assert "--speculative-num-steps 5" in lines[5]


def test_cli_tree_edge_note_only_at_the_edge(capsys):
    code, out, _ = run(capsys, *USER, "--pmax", "512", "--json")
    d = json.loads(out)
    assert code == 0
    assert d["recommended"]["P"] < 512
    assert not any("--pmax" in n for n in d["notes"])
    code, out, _ = run(capsys, *USER, "--pmax", "64", "--json")
    d = json.loads(out)
    assert d["recommended"]["P"] == 64
    assert d["recommended"]["depth"] == 5
    assert any("raise --pmax" in n for n in d["notes"])
    assert d["hardware"]["P"] == 64


# --- the advice of compare and report: the top setting for tree engines, the best chain for chain engines ---


def _toy_with_chain():
    from dataclasses import replace

    from .test_advice import _curves

    k = np.arange(1, 65)
    chain = np.cumsum(0.6**k)  # the greedy chain: level k accepted with probability 0.6**k
    return replace(_curves(), chain=(k, chain, 1.1 * chain))


def _m(name: str, fmt: str, p: int, x: float):
    from speedoflight.logs.result import Measured

    return Measured("f", fmt, name, x, 100.0, 0.01, (x - 0.05, x + 0.05), "t", "X", P=p)


def _chain_by_hand(timing: Timing, per_level_s: float) -> int:
    t0 = float(timing.verify_s(0.0))
    s = [
        (sum(0.6**j for j in range(1, k + 1)) + 1) * t0 / (k * per_level_s + float(timing.verify_s(k)))
        for k in range(1, 65)
    ]
    return int(np.argmax(s)) + 1


def test_advice_of_the_ceiling_in_engine_terms():
    from speedoflight.analysis.advice import advise

    t = Timing.preset("h100", 8e9, draft=DraftCost(per_level_s=5e-4))
    a = advise([], _toy_with_chain(), t)
    k = _chain_by_hand(t, 5e-4)
    assert a.chain is not None
    assert a.chain.P == k
    e = a.engines.to_dict()
    assert e["vllm"]["speculative_config"] == {"method": "eagle3", "num_speculative_tokens": k}
    assert e["llama.cpp"]["n_max"] == k
    p, d = a.ceiling.P, a.ceiling.depth
    topk = next(j for j in range(1, p + 1) if j + (d - 1) * j * j >= p)  # SGLang's pool: j, then j^2 per step
    s = e["sglang"]
    assert (s["speculative_num_steps"], s["speculative_eagle_topk"], s["speculative_num_draft_tokens"]) == (
        d,
        topk,
        p + 1,
    )
    assert s["topk1_args"][3] == str(k)
    assert e["tensorrt_llm"]["speculative_config"]["max_draft_len"] == d
    assert e["tensorrt_llm"]["speculative_config"]["max_total_draft_tokens"] == p
    assert a.to_dict()["best_chain"]["P"] == k


def test_advice_runs_the_best_measured_chain_on_chain_engines():
    from speedoflight.analysis.advice import advise

    t = Timing.preset("h100", 8e9, draft=DraftCost(per_level_s=5e-4))
    ms = [_m("ngram tree", "speedoflight-measured", p, x) for p, x in ((8, 2.0), (16, 2.1))]
    a = advise([*ms, _m("d chain", "csv", 2, 0.9)], _toy_with_chain(), t)
    _, b = a.top()
    assert b.who == "ngram tree"  # free n-gram lookup beats the chain that pays per level
    assert (b.P, b.depth) == (16, 6)  # memory-bound: 3.1 tokens per call beat 3.0 at the same cost
    e = a.engines.to_dict()
    assert e["sglang"]["args"] == ["--speculative-algorithm", "NGRAM", "--speculative-num-draft-tokens", "17"]
    assert e["vllm"]["speculative_config"] == {"method": "eagle3", "num_speculative_tokens": 2}  # the d chain
    assert e["vllm"]["realises"]["who"] == "d chain"
    assert e["llama.cpp"]["args"][:4] == ["--spec-type", "draft-eagle3", "--spec-draft-n-max", "2"]
    # TensorRT-LLM's n-gram method is linear: it runs the chain too
    assert e["tensorrt_llm"]["speculative_config"] == {"decoding_type": "Eagle3", "max_draft_len": 2}


def test_advice_without_a_measured_chain_takes_the_ceilings_chain_at_the_drafters_cost():
    from speedoflight.analysis.advice import advise

    t = Timing.preset("h100", 8e9, draft=DraftCost(per_level_s=5e-4))
    a = advise([_m("ngram tree", "speedoflight-measured", 8, 2.0)], _toy_with_chain(), t)
    k = _chain_by_hand(t, 0.0)  # n-gram lookup is free
    e = a.engines.to_dict()
    assert e["vllm"]["speculative_config"] == {"method": "ngram", "num_speculative_tokens": k}
    assert e["llama.cpp"]["args"] == ["--spec-type", "ngram-simple", "--spec-ngram-simple-size-m", str(k)]
    assert e["vllm"]["realises"]["who"] == "ceiling"


def test_bound_recommends_the_best_p_and_the_best_chain_under_the_same_bound(capsys):
    mu, mu2 = 2.85, 16.18
    argv = ["bound", "--mu", str(mu), "--mu2", str(mu2), "--gpu", "h100", "--params", "8e9", "--draft-ms", "0.3"]
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    d = json.loads(out)
    r = d["recommended"]
    assert r["curve"] == "lorden"  # the tightest true bound from moments alone
    p = r["P"]
    assert p == d["best"]["lorden"]["P"]
    e = r["engine_settings"]
    assert e["sglang"]["speculative_num_draft_tokens"] == p + 1
    assert e["sglang"]["speculative_num_steps"] is None  # a bound gives no tree shape
    assert e["tensorrt_llm"]["speculative_config"] == {"decoding_type": "Eagle3", "max_total_draft_tokens": p}
    # the chain: Lorden's bound log(mu K)/mu + mu2/mu^2 + 1/mu - 1 (capped at K), paying K levels of 0.3 ms
    timing = Timing.preset("h100-sxm", 8e9, draft=DraftCost(per_level_s=3e-4))
    t0 = float(timing.verify_s(0.0))
    by_hand = []
    for k in range(1, max(p, 64) + 1):
        b = min(k, np.log(mu * k) / mu + mu2 / mu**2 + 1 / mu - 1)
        by_hand.append((b + 1) * t0 / (k * 3e-4 + float(timing.verify_s(k))))
    k = int(np.argmax(by_hand)) + 1
    assert e["vllm"]["speculative_config"]["num_speculative_tokens"] == k
    assert e["llama.cpp"]["n_max"] == k
    code, out, _ = run(capsys, *argv)
    lines = out.splitlines()
    assert lines[0].startswith(f"speedoflight bound: best P = {p} under the lorden bound")
    assert [x.strip().split(" ")[0] for x in lines[2:6]] == ["vLLM", "SGLang", "llama.cpp", "TensorRT-LLM"]


def test_bound_without_a_device_recommends_nothing(capsys):
    code, out, _ = run(capsys, "bound", "--mu", "2.85", "--mu2", "16.18", "--json")
    assert code == 0
    assert "recommended" not in json.loads(out)


@pytest.mark.parametrize("doc", ["README.md", "docs/cli.md"])
def test_the_documented_tree_examples_are_what_tree_prints(capsys, doc):
    import re
    import shlex
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / doc).read_text()
    blocks = re.findall(r"```\n\$ speedoflight (tree [^\n]+)\n(.*?)```", text, flags=re.S)
    assert blocks
    for argv, shown in blocks:
        code, out, _ = run(capsys, *shlex.split(argv))
        assert code == 0
        assert out.splitlines()[: len(shown.splitlines())] == shown.splitlines()


def test_the_llamacpp_flags_exist_in_the_installed_2026_build():
    """Every llama-server flag and spec type the settings print is in the llama.cpp that xllamacpp ships."""
    from pathlib import Path

    x = pytest.importorskip("xllamacpp")
    binary = next(Path(x.__file__).parent.glob("xllamacpp*.so")).read_bytes()
    args = set()
    for fam in ("eagle", "draft", "ngram"):
        args.update(engine_settings(chain_of(4, family=fam), None).llamacpp.args)
    for word in sorted(a for a in args if not a.isdigit()):
        assert b"\0" + word.encode() + b"\0" in binary, word
    # the old spelling is gone in this build, and says what replaced it
    assert b"the argument has been removed. use --spec-draft-n-max or --spec-ngram-mod-n-max" in binary
    # and the same settings as the Python binding's fields
    kinds = {k.name for k in x.common_speculative_type}
    assert {"COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE", "COMMON_SPECULATIVE_TYPE_DRAFT_EAGLE3"} <= kinds
    assert "COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE" in kinds
    s = x.CommonParams().speculative
    s.draft.n_max, s.draft.p_min, s.ngram_simple.size_m = 4, 0.0, 4
    assert (s.draft.n_max, s.draft.p_min, s.ngram_simple.size_m) == (4, 0.0, 4)


def test_cli_tree_with_a_latency_table_shorter_than_pmax(capsys, tmp_path):
    lat = tmp_path / "lat.csv"
    lat.write_text("P,ms\n0,20\n4,21\n8,22\n")
    code, out, err = run(capsys, "tree", "--acceptance", "0.6,0.2", "--pmax", "16", "--latency", str(lat), "--json")
    assert code == 0, err
    d = json.loads(out)
    # by hand: the best tree of 8 nodes, E[X] = .6 + .36 + .216 + .2 + .1296 + .12 + .12 + .0778, at 22 ms
    assert d["recommended"]["P"] == 8
    assert d["recommended"]["expected_accepted"] == pytest.approx(1.8234, abs=1e-4)
    assert d["recommended"]["speedup"] == pytest.approx((1.8234 + 1) * 20 / 22, abs=1e-3)
    assert d["best_chain"]["P"] <= 8  # no chain beyond the table
    assert any("--latency table covers" in n for n in d["notes"])
