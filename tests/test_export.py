"""`speedoflight export`: the speculation profile, its conversions for each engine, and the round trip.

Every expected number here is worked out by hand in the comments, never computed by the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from speedoflight.errors import InputError
from speedoflight.formats.engines import ENGINES, engine_snippets, number
from speedoflight.formats.profile import (
    acceptance_length,
    build_profile,
    conditional_from_marginal,
    marginal_from_conditional,
    marginal_from_distribution,
)
from speedoflight.logs.acceptance import read_acceptance
from speedoflight.options import RunOptions

from .helpers import assert_user_error, run

ROOT = Path(__file__).resolve().parents[1]
X8 = str(ROOT / "data" / "smollm2-t1-x8.npz")

# The worked example: marginals P(X >= 1..4) = 0.9, 0.7, 0.5, 0.3.
# Conditional: 0.9 / 1 = 0.9; 0.7 / 0.9 = 0.777778; 0.5 / 0.7 = 0.714286; 0.3 / 0.5 = 0.6.
# AL = 1 + 0.9 + 0.7 + 0.5 + 0.3 = 3.4 tokens per verifier call; X = 2.4.
# P(X = 0..4) = 1 - 0.9, 0.9 - 0.7, 0.7 - 0.5, 0.5 - 0.3, 0.3 = 0.1, 0.2, 0.2, 0.2, 0.3.
MARGINAL = [0.9, 0.7, 0.5, 0.3]
CONDITIONAL = [0.9, 0.7777777778, 0.7142857143, 0.6]
DISTRIBUTION = [0.1, 0.2, 0.2, 0.2, 0.3]


def test_marginal_to_conditional_and_back():
    assert conditional_from_marginal(MARGINAL) == pytest.approx(CONDITIONAL, abs=1e-9)
    assert marginal_from_conditional(CONDITIONAL) == pytest.approx(MARGINAL, abs=1e-9)
    assert acceptance_length(MARGINAL) == pytest.approx(3.4)
    # a position never reached: conditional 0 after a marginal of 0 (specdec_bench's and vLLM's convention)
    assert conditional_from_marginal([0.5, 0.0, 0.0]) == [0.5, 0.0, 0.0]
    assert conditional_from_marginal([1.0, 1.0]) == [1.0, 1.0]


def test_marginals_from_the_distribution_of_x():
    assert marginal_from_distribution(DISTRIBUTION, 4) == pytest.approx(MARGINAL)
    assert marginal_from_distribution(DISTRIBUTION, 2) == pytest.approx([0.9, 0.7])  # the first two positions
    # P(X = 0, 1) = 0.5, 0.5: P(X >= 1) = 0.5, nothing past position 1
    assert marginal_from_distribution([0.5, 0.5], 3) == pytest.approx([0.5, 0.0, 0.0])


@pytest.mark.parametrize(
    ("rates", "words"),
    [([0.5, 0.7], "rise"), ([1.2], "within [0, 1]"), ([float("nan")], "finite"), ([], "at least one")],
)
def test_bad_rates_are_refused(rates, words):
    with pytest.raises(InputError, match=words.replace("[", r"\[").replace("]", r"\]")):
        conditional_from_marginal(rates)


def test_the_profile_is_specdec_benchs_schema():
    p = build_profile(MARGINAL, method="eagle3", target_model="m", mean_per_request=3.5)
    assert p["schema_version"] == "1.0"
    assert p["num_speculative_tokens"] == 4
    assert p["marginal_accept_rates"] == [0.9, 0.7, 0.5, 0.3]
    assert p["conditional_accept_rates"] == [0.9, 0.777778, 0.714286, 0.6]  # rounded to 6 decimals
    assert p["mean_accept_length"] == pytest.approx(3.4)
    assert p["mean_accept_length_per_request"] == 3.5
    assert p["accept_length_by_k"] == {"4": pytest.approx(3.4)}
    assert p["verification_method"] == "longest_prefix"
    check = p["validation"]["mean_consistency"]
    assert check["passed"]
    assert check["implied_mean_accept_length"] == pytest.approx(3.4)
    assert p["validation"]["marginal_monotonicity"] == {"passed": True, "violations": []}


def test_the_profile_reads_back_as_measured(tmp_path):
    path = tmp_path / "speculation_profile.json"
    path.write_text(json.dumps(build_profile(MARGINAL, method="what-if")))
    (m,) = read_acceptance(path)
    assert m.format == "specdec-bench-profile"
    assert m.mean_accepted == pytest.approx(2.4)  # X = AL - 1
    assert m.P == 4
    assert m.distribution == pytest.approx(DISTRIBUTION)


# --- each engine's knob, by hand ------------------------------------------------------------------------------


def _snippets(marginal=MARGINAL):
    return {s.engine: s for s in engine_snippets(marginal)}


def test_vllm_takes_the_marginals_as_they_are():
    s = _snippets()["vllm"]
    config = json.loads(s.text.split("--speculative-config ", 1)[1].strip("'"))
    assert config["rejection_sample_method"] == "synthetic"
    assert config["synthetic_acceptance_rates"] == [0.9, 0.7, 0.5, 0.3]
    assert config["num_speculative_tokens"] == 4
    assert s.keeps == "every rate"
    assert '"synthetic_acceptance_length": 3.4' in s.notes[0]  # AL, bonus token included


def test_sglang_takes_the_acceptance_length_with_the_bonus_token():
    s = _snippets()["sglang"]
    assert "SGLANG_SIMULATE_ACC_LEN=3.4 " in s.text
    assert "SGLANG_SIMULATE_ACC_METHOD=match-expected" in s.text
    assert "--speculative-num-steps 4" in s.text
    assert "--speculative-num-draft-tokens 5" in s.text  # a chain: K drafts + the verified token
    assert s.keeps == "the mean"


def test_tensorrt_llm_takes_accepted_drafts_without_the_bonus_token():
    s = _snippets()["trtllm"]
    assert "TLLM_SPEC_DECODE_FORCE_NUM_ACCEPTED_TOKENS=2.4 " in s.text  # AL - 1 = 2.4
    assert "give 2 instead" in s.notes[0]  # the two-model path parses an integer: round(2.4) = 2
    assert "max_draft_len: 4" in s.text


def test_llamacpp_takes_the_marginals_as_they_are():
    s = _snippets()["llamacpp"]
    assert "--spec-synth-rates 0.9,0.7,0.5,0.3" in s.text
    assert "--spec-draft-n-max 4" in s.text
    assert "--spec-draft-p-min 0" in s.text
    assert any("--spec-synth-len 3.4 " in n for n in s.notes)


def test_atom_takes_the_acceptance_length():
    s = _snippets()["atom"]
    assert "--spec-decode-acceptance-length 3.4" in s.text
    assert "--num-speculative-tokens 4" in s.text
    assert "--spec-decode-acceptance-rate = (AL - 1) / K = 0.6" in s.convention  # 2.4 / 4


def test_dynamo_takes_the_conditional_rates():
    s = _snippets()["dynamo"]
    assert "--aic-nextn-accept-rates 0.9,0.777778,0.714286,0.6" in s.text
    assert "--aic-nextn 4" in s.text
    six = _snippets([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])["dynamo"]
    assert "1 to 5 draft tokens" in six.notes[0]


def test_every_engine_cites_its_source():
    snippets = engine_snippets(MARGINAL)
    assert [s.engine for s in snippets] == list(ENGINES)
    for s in snippets:
        assert "/" in s.source, s.engine  # a repository path
        assert s.keeps in ("every rate", "the mean")
    with pytest.raises(InputError, match="not one of"):
        engine_snippets(MARGINAL, ["tgi"])


def test_numbers_are_short():
    assert [number(x) for x in (0.9, 1.0, 0.0, 0.1234567, 2.0000004)] == ["0.9", "1", "0", "0.123457", "2"]


# --- from the shipped dump ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`export` of the shipped SmolLM2 dump (100 prompts x 8 continuations of 32 tokens), K = 4, prompt ends."""
    from speedoflight.cli.app import main

    out = tmp_path_factory.mktemp("export") / "profile.json"
    assert main(["export", "--dump", X8, "-K", "4", "--out", str(out)]) == 0
    return json.loads(out.read_text()), out


def test_the_answer_comes_first(capsys, tmp_path):
    out = tmp_path / "p.json"
    code, text, err = run(capsys, "export", "--dump", X8, "--out", str(out), "--engine", "llamacpp")
    assert code == 0, err
    first, second = text.splitlines()[:2]
    assert first.startswith(f"speedoflight export: wrote {out}: the speculation profile of the ceiling's best chain")
    assert second.startswith("  AL = ")
    profile = json.loads(out.read_text())
    rates = ", ".join(f"{v:.4f}" for v in profile["marginal_accept_rates"])
    assert f"P(X >= i), i = 1..4: {rates}" in second
    assert "llamacpp" in text
    assert "  vllm (" not in text  # --engine prints that engine's setting only


def test_the_first_position_is_the_top_token_probability(exported):
    """At a prompt's end every continuation shares its first row: P(X >= 1) = mean over prompts of its top p."""
    profile, _ = exported
    z = np.load(X8)
    first = z["pos"] == 0
    prompts, idx = np.unique(z["prompt"][first], return_index=True)
    top = np.exp(z["topk_logprobs"][first][idx, 0].astype(np.float64))
    assert len(prompts) == 100
    assert profile["marginal_accept_rates"][0] == pytest.approx(top.mean(), abs=1e-6)


def test_the_chain_profile_sums_to_the_chains_expected_acceptance(exported):
    """E[X] of a chain is the sum of P(X >= d): the profile's AL - 1 equals the chain's curve at P = 4."""
    from speedoflight.simulation.grafted import optimum

    profile, _ = exported
    chain = optimum(X8, pmax=4, positions="start", replicates=64, max_width=1, n_boot=10, run=RunOptions(seed=0))
    assert profile["mean_accept_length"] - 1 == pytest.approx(chain.main.mean[3], abs=1e-5)
    m = profile["marginal_accept_rates"]
    assert m == sorted(m, reverse=True)
    assert profile["accept_length_model"] == "chain_analytic"
    assert profile["validation"]["mean_consistency"]["passed"]
    assert profile["measurement_conditions"]["prompts"] == 100
    # one root per prompt: the per-request mean is the mean
    assert profile["mean_accept_length_per_request"] == pytest.approx(profile["mean_accept_length"], abs=1e-6)


def test_per_kind_profiles_average_to_the_whole(exported):
    """The dump has 50 prose and 50 code prompts, one root each: the whole is the mean of the two kinds."""
    profile, _ = exported
    cats = profile["per_category"]
    assert set(cats) == {"code", "prose"}
    assert cats["code"]["prompts"] == cats["prose"]["prompts"] == 50
    both = (np.array(cats["code"]["marginal_accept_rates"]) + np.array(cats["prose"]["marginal_accept_rates"])) / 2
    assert both == pytest.approx(profile["marginal_accept_rates"], abs=2e-6)
    assert cats["code"]["mean_accept_length"] > cats["prose"]["mean_accept_length"]  # code is more predictable


def test_round_trip_through_the_projects_reader(exported, tmp_path, capsys):
    profile, path = exported
    (m,) = read_acceptance(path)
    assert m.format == "specdec-bench-profile"
    assert m.mean_accepted == pytest.approx(profile["mean_accept_length"] - 1)
    assert m.model == "SmolLM2-135M-Instruct"
    survival = 1 - np.cumsum(m.distribution)[:-1]
    assert survival == pytest.approx(profile["marginal_accept_rates"], abs=1e-9)
    # and `export --measured` of the exported profile gives the same profile back
    again = tmp_path / "again.json"
    code, _, err = run(capsys, "export", "--measured", str(path), "--out", str(again))
    assert code == 0, err
    back = json.loads(again.read_text())
    assert back["marginal_accept_rates"] == profile["marginal_accept_rates"]
    assert back["mean_accept_length"] == pytest.approx(profile["mean_accept_length"], abs=1e-6)
    assert back["speedoflight"]["source"] == "measured"


def test_every_generated_position(capsys):
    code, text, err = run(capsys, "export", "--dump", X8, "--positions", "all", "--json")
    assert code == 0, err
    p = json.loads(text)
    assert p["measurement_conditions"]["roots"] == 100 * 8 * 32  # every position of every continuation
    assert p["measurement_conditions"]["positions"] == "all"
    assert [e["engine"] for e in p["speedoflight"]["engines"]] == list(ENGINES)


def test_csv_is_one_row_per_position(capsys):
    code, text, err = run(capsys, "export", "--dump", X8, "-K", "3", "--csv")
    assert code == 0, err
    lines = text.strip().splitlines()
    assert lines[0] == "position,marginal,conditional"
    assert [ln.split(",")[0] for ln in lines[1:]] == ["1", "2", "3"]


# --- from a measured log --------------------------------------------------------------------------------------

# llama.cpp's /metrics after 100 drafts of 4: position i counts drafts that accepted position i (0-based), so
# P(X >= 1..4) = 90/100, 70/100, 50/100, 30/100: the worked example; accepted = 90 + 70 + 50 + 30 = 240.
METRICS = """\
llamacpp:spec_decode_num_drafts_total 100
llamacpp:spec_decode_num_draft_tokens_total 400
llamacpp:spec_decode_num_accepted_tokens_total 240
llamacpp:spec_decode_num_accepted_tokens_per_pos_total{position="0"} 90
llamacpp:spec_decode_num_accepted_tokens_per_pos_total{position="1"} 70
llamacpp:spec_decode_num_accepted_tokens_per_pos_total{position="2"} 50
llamacpp:spec_decode_num_accepted_tokens_per_pos_total{position="3"} 30
"""


def test_a_measured_log_exports_its_own_rates(tmp_path, capsys):
    prom = tmp_path / "metrics.prom"
    prom.write_text(METRICS)
    out = tmp_path / "p.json"
    code, text, err = run(capsys, "export", "--measured", str(prom), "--out", str(out))
    assert code == 0, err
    p = json.loads(out.read_text())
    assert p["marginal_accept_rates"] == [0.9, 0.7, 0.5, 0.3]
    assert p["conditional_accept_rates"] == [0.9, 0.777778, 0.714286, 0.6]
    assert p["mean_accept_length"] == pytest.approx(3.4)
    assert p["accept_length_model"] == "measured_per_k"
    assert "AL = 3.4000" in text.splitlines()[1]
    # the first two positions only: AL = 1 + 0.9 + 0.7 = 2.6
    code, text, err = run(capsys, "export", "--measured", str(prom), "-K", "2", "--json")
    assert code == 0, err
    assert json.loads(text)["mean_accept_length"] == pytest.approx(2.6)


def test_a_specdec_bench_profile_exports_itself(tmp_path, capsys):
    from .test_logs_engines_2026 import PROFILE  # K = 3: marginals 0.8, 0.5, 0.25 from 100 steps (see there)

    src = tmp_path / "speculation_profile.json"
    src.write_text(json.dumps(PROFILE))
    code, text, err = run(capsys, "export", "--measured", str(src), "--json")
    assert code == 0, err
    p = json.loads(text)
    assert p["marginal_accept_rates"] == [0.8, 0.5, 0.25]
    assert p["conditional_accept_rates"] == [0.8, 0.625, 0.5]  # 0.5 / 0.8, 0.25 / 0.5
    assert p["mean_accept_length"] == pytest.approx(2.55)
    assert p["method"] == "eagle3"


# --- an API log with kinds ------------------------------------------------------------------------------------


def test_an_api_log_with_kinds(tmp_path, capsys):
    from speedoflight.readers.kinds import log_prompt_kinds
    from speedoflight.serving.collect import CollectOptions, collect

    from .fakeserver import fake_server

    prompts = tmp_path / "prompts.jsonl"
    kinds = ["code", "prose", "code", "code", "prose"]
    prompts.write_text("".join(json.dumps({"prompt": f"prompt {i}", "kind": k}) + "\n" for i, k in enumerate(kinds)))
    log = tmp_path / "c.jsonl"
    with fake_server() as (url, _):
        collect(url, str(prompts), str(log), CollectOptions(n=2, max_tokens=6, top_logprobs=8))
    found = log_prompt_kinds(str(log))
    assert sorted(found.values()) == sorted(kinds)  # one kind per prompt, each prompt numbered once
    code, text, err = run(capsys, "export", "--dump", str(log), "-K", "3", "--json")
    assert code == 0, err
    cats = json.loads(text)["per_category"]
    assert {k: c["prompts"] for k, c in cats.items()} == {"code": 3, "prose": 2}
    assert_user_error(capsys, ["export", "--dump", str(log), "-K", "7"], "-K 7", "longest holds 6")


# --- bad input: one line, exit 2, nothing written -------------------------------------------------------------


def test_bad_input_is_one_line(tmp_path, capsys):
    prom = tmp_path / "metrics.prom"
    prom.write_text(METRICS)
    out = tmp_path / "p.json"
    assert_user_error(capsys, ["export", "--dump", X8, "-K", "0"], "-K", "positive")
    assert_user_error(capsys, ["export", "--dump", X8, "-K", "33"], "-K 33", "longest holds 32")
    assert_user_error(capsys, ["export", "--dump", X8, "--engine", "tgi"], "--engine", "invalid choice")
    assert_user_error(capsys, ["export", "--dump", X8, "--measured", str(prom)], "not allowed with")
    assert_user_error(capsys, ["export"], "one of the arguments --dump --measured is required")
    assert_user_error(capsys, ["export", "--measured", str(prom), "-K", "5"], "-K 5", "4 draft positions")
    src = tmp_path / "in.json"
    src.write_text(json.dumps(build_profile(MARGINAL)))
    before = src.read_text()
    assert_user_error(
        capsys, ["export", "--measured", str(src), "--out", str(src)], "would replace your data"
    )  # the check every command shares
    assert src.read_text() == before
    assert_user_error(
        capsys, ["export", "--dump", str(src), "--out", str(tmp_path / "." / "in.json")], "would replace your data"
    )
    assert_user_error(capsys, ["export", "--dump", X8, "--out", X8], "unknown extension")
    assert_user_error(capsys, ["export", "--measured", str(prom), "--label", "eagle"], "no system labelled")
    assert_user_error(capsys, ["export", "--measured", str(prom), "--positions", "all"], "--positions")
    timings = tmp_path / "answer.json"  # llama.cpp's per-response timings: a mean, no positions
    timings.write_text(json.dumps({"timings": {"draft_n": 40, "draft_n_accepted": 20, "predicted_n": 60}}))
    assert_user_error(capsys, ["export", "--measured", str(timings)], "not per draft position")
    assert not out.exists()
    assert prom.read_text() == METRICS
