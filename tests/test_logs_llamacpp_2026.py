"""llama.cpp's 2026 printouts and /metrics, X worked out by hand in the comments.

Formats from ggml-org/llama.cpp: ``tools/server/server-context.cpp`` @001d906a (``print_timings``: ``draft acceptance
= %0.5f (%5d accepted / %5d generated), mean len = %5.2f`` at INF, ``acc per pos = (%s)`` at TRC), PR #24536
(``mean acceptance length = ..., acceptance rate per position = (...)``) and PR #26389 (the
``llamacpp:spec_decode_num_*`` counters). ``data/llamacpp/`` holds a real run: llama-server of the xllamacpp
2026.10.11549 wheel (CPU), SmolLM2-135M-Instruct Q4_1, n-gram-simple drafting (size_n 3, size_m 4), five
completions at temperature 0, ``-lv 4``; its ``/metrics`` after the run (``metrics.prom``) and before any request
(``metrics-no-drafts.prom``), and the slot and statistics lines of its log (``server.log``).
"""

from __future__ import annotations

import json
import pathlib

import pytest

from speedoflight.cli.app import main
from speedoflight.errors import InputError
from speedoflight.logs.acceptance import detect, read_acceptance

DATA = pathlib.Path(__file__).resolve().parent / "data" / "llamacpp"
DUMP = str(pathlib.Path(__file__).resolve().parents[1] / "data" / "smollm2-t1.npz")

# The 2026 line as a real build prints it (seen verbatim): drafts = accepted / (mean len - 1) = 12 / 0.60 = 20,
# X = 12 / 20 = 0.6; the mean is printed to 2 decimals, so drafts lie between 12 / 0.605 = 19.8 and 12 / 0.595 = 20.2.
MEAN_LEN = (
    "slot print_timing: id  0 | task 0 | draft acceptance = 0.15000 (   12 accepted /    80 generated), "
    "mean len =  1.60\n"
)

# PR #24536's line: 3 rates, so drafts = 300 / 3 = 100 and 1 + 150 / 100 = 2.50 as printed; X = 150 / 100 = 1.5;
# the rates (P(X > i)) give P(X = 0..3) = 1 - 0.8, 0.8 - 0.45, 0.45 - 0.25, 0.25 = 0.2, 0.35, 0.2, 0.25.
PR24536 = (
    "0.09.401.679 I slot print_timing: id  1 | task 90 | draft acceptance = 0.50000 (  150 accepted /   300 "
    "generated), mean acceptance length =  2.50, acceptance rate per position = (0.800, 0.450, 0.250)\n"
)


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_the_2026_mean_len_line(tmp_path):
    p = _write(tmp_path, "server.log", MEAN_LEN)
    assert detect(p, MEAN_LEN) == "llama.cpp"
    (m,) = read_acceptance(p)
    assert m.mean_accepted == pytest.approx(0.6)
    assert m.iterations == pytest.approx(20.0)
    assert m.mean_draft_size == pytest.approx(80 / 20)
    assert any("between 19.8 and 20.2" in n for n in m.notes)


def test_the_pr_24536_line(tmp_path):
    p = _write(tmp_path, "server.log", PR24536)
    (m,) = read_acceptance(p)
    assert m.mean_accepted == pytest.approx(1.5)
    assert m.iterations == pytest.approx(100.0)
    assert m.P == 3


def test_a_real_server_log_reads_its_statistics(tmp_path):
    """The real log: the last statistics line has #gen drafts = 83, #acc tokens = 47, so X = 47 / 83 = 0.5663.
    Task 49 accepted 0 of 216 drafted tokens: 216 / 4 = 54 would be its drafts if every draft had 4 tokens, but the
    statistics lines say it made 73 - 11 = 62, so its line cannot give them and the request lines are set aside."""
    p = str(DATA / "server.log")
    assert detect(p, (DATA / "server.log").read_text()) == "llama.cpp"
    (m,) = read_acceptance(p)
    assert m.label == "ngram-simple"
    assert m.mean_accepted == pytest.approx(47 / 83)
    assert m.iterations == 83
    assert m.P == 4
    assert m.mean_draft_size == pytest.approx(300 / 83)
    assert any("line 29" in n and "accepted nothing" in n for n in m.notes)  # task 49's line


def test_mean_len_lines_with_their_acc_per_pos_lines(tmp_path):
    """The real log without its statistics lines and task 49: task 17 drafted 44 tokens in 4 positions, so
    44 / 4 = 11 drafts (1 + 32 / 11 = 3.909, printed 3.91); task 210: 40 / 4 = 10 drafts (1 + 15 / 10 = 2.50).
    X = (32 + 15) / (11 + 10) = 47 / 21 = 2.238 (the statistics lines agree: 83 - 73 = 10 drafts for task 210)."""
    lines = (DATA / "server.log").read_text().splitlines()
    kept = [ln for ln in lines if "statistics" not in ln and "task 49 " not in ln]
    (m,) = read_acceptance(_write(tmp_path, "requests.log", "\n".join(kept) + "\n"))
    assert m.label.startswith("requests")
    assert m.mean_accepted == pytest.approx(47 / 21)
    assert m.iterations == pytest.approx(21)
    assert m.groups == 2
    assert m.P == 4  # from the acc per pos lines


def test_a_request_that_accepted_nothing_is_refused_without_statistics(tmp_path, capsys):
    """0 accepted of 216 drafted: anything from 1 to 216 drafts fits the line, so X cannot be weighted."""
    lines = (DATA / "server.log").read_text().splitlines()
    p = _write(tmp_path, "s.log", "\n".join(ln for ln in lines if "statistics" not in ln) + "\n")
    with pytest.raises(InputError, match=r"accepted nothing \(between 1 and 216 drafts") as info:
        read_acceptance(p)
    assert "/metrics" in str(info.value)
    assert main(["compare", "--dump", DUMP, "--measured", p, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "llamacpp:spec_decode_num_drafts_total" in err


def test_a_mean_len_of_one_with_tokens_accepted_is_refused(tmp_path):
    """1 accepted, mean len 1.00: drafts >= 1 / 0.005 = 200, unbounded above."""
    line = "slot print_timing: id  0 | task 3 | draft acceptance = 0.00250 (    1 accepted /   400 generated), mean len =  1.00\n"
    with pytest.raises(InputError, match="at least 200 drafts"):
        read_acceptance(_write(tmp_path, "s.log", line))


def test_an_old_line_beside_statistics_lines(tmp_path):
    """The pre-2026 line prints no mean length (no drafts), the statistics line does: X = 171 / 99 = 1.7273."""
    text = (
        "slot print_timing: id  0 | task 5 | draft acceptance rate = 0.57576 (  171 accepted /   297 generated)\n"
        "statistics draft: #calls(b,g,a) = 1 99 99, #gen drafts = 99, #acc drafts = 80, #gen tokens = 297, "
        "#acc tokens = 171\n"
    )
    (m,) = read_acceptance(_write(tmp_path, "s.log", text))
    assert m.label == "draft"
    assert m.mean_accepted == pytest.approx(171 / 99)
    assert any("prints no mean acceptance length" in n for n in m.notes)


def test_a_damaged_mean_len_line_is_still_refused(tmp_path):
    """12 accepted of 10 generated is no run; the statistics lines do not excuse a damaged line."""
    text = (
        MEAN_LEN.replace("/    80 generated", "/    10 generated")
        + "statistics draft: #gen drafts = 9, #gen tokens = 30, #acc tokens = 12\n"
    )
    with pytest.raises(InputError, match="only 10 generated"):
        read_acceptance(_write(tmp_path, "s.log", text))


def test_the_real_metrics_scrape():
    """llamacpp:spec_decode_num_drafts_total 83, draft tokens 300, accepted 47; per position 17, 12, 9, 9 (they sum
    to 47). X = 47 / 83; P(X = 0..4) = (83 - 17, 17 - 12, 12 - 9, 9 - 9, 9) / 83 = 66, 5, 3, 0, 9 over 83."""
    p = str(DATA / "metrics.prom")
    assert detect(p, (DATA / "metrics.prom").read_text()) == "llama.cpp-metrics"
    (m,) = read_acceptance(p)
    assert m.format == "llama.cpp-metrics"
    assert m.mean_accepted == pytest.approx(47 / 83)
    assert m.iterations == 83
    assert m.P == 4
    assert m.mean_draft_size == pytest.approx(300 / 83)
    assert m.distribution == pytest.approx([66 / 83, 5 / 83, 3 / 83, 0.0, 9 / 83])
    assert m.se is not None


def test_a_scrape_before_any_draft_says_so_in_one_line(capsys):
    p = str(DATA / "metrics-no-drafts.prom")
    with pytest.raises(InputError, match="no drafts"):
        read_acceptance(p)
    assert main(["compare", "--dump", DUMP, "--measured", p, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "llamacpp:spec_decode_num_drafts_total is 0" in err


def test_damaged_counters_are_refused(tmp_path):
    text = (DATA / "metrics.prom").read_text()
    more = text.replace("spec_decode_num_accepted_tokens_total 47", "spec_decode_num_accepted_tokens_total 400")
    with pytest.raises(InputError, match="only 300 drafted"):
        read_acceptance(_write(tmp_path, "a.prom", more))
    rising = text.replace('position="3"} 9', 'position="3"} 11')
    with pytest.raises(InputError, match="rise with the position"):
        read_acceptance(_write(tmp_path, "b.prom", rising))


def test_responses_of_the_real_run_stay_a_lower_bound(tmp_path):
    """The same run's /completion timings (draft_n, draft_n_accepted, predicted_n): 32 of 44 in 61 tokens, 0 of
    216 in 160, 15 of 40 in 148: X >= (32 + 0 + 15) / ((61 - 32) + 160 + (148 - 15)) = 47 / 322."""
    rows = [
        {"timings": {"predicted_n": 61, "draft_n": 44, "draft_n_accepted": 32}},
        {"timings": {"predicted_n": 160, "draft_n": 216, "draft_n_accepted": 0}},
        {"timings": {"predicted_n": 148, "draft_n": 40, "draft_n_accepted": 15}},
    ]
    p = _write(tmp_path, "r.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    (m,) = read_acceptance(p)
    assert m.format == "llama.cpp-timings"
    assert m.mean_accepted == pytest.approx(47 / 322)
    assert m.mean_accepted < 47 / 83  # below the X of the counters, as a lower bound must be
