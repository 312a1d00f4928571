"""llama.cpp's printouts, written from common/speculative.cpp, examples/speculative/speculative.cpp and the server's
timings, with X worked out by hand in the comments."""

from __future__ import annotations

import json

import pytest

from speedoflight.errors import InputError
from speedoflight.logs.acceptance import detect, read_acceptance

# statistics lines of three releases: plain, with #calls(b,g,a) and dur(...), and padded with a timestamp prefix,
# #mean acc len and #acc rate/pos (PR #24536). X = #acc tokens / #gen drafts:
#   draft-eagle3: 167 / 87 = 1.91954 (mean acc len 2.92, rates sum to 1.920)
#   draft-mtp (a "[pid]" process prefix): 2091 / 1099 = 1.90264
#   ngram_map_k: 968 / 26 = 37.2308 (n-gram drafts are long: 1248 / 26 = 48 tokens each)
STATS = {
    "draft-eagle3": (
        "0.06.896.057 I statistics     draft-eagle3: #calls(b,g,a) =    1     87     87, #gen drafts =     87, "
        "#acc drafts =    70, #gen tokens =    259, #acc tokens =   167, #mean acc len = 2.92, "
        "#acc rate/pos = (0.805, 0.632, 0.483), dur(b,g,a) = 0.005, 325.555, 0.114 ms",
        167 / 87,
    ),
    "draft-mtp": (
        "[45927] 3.05.130.885 I statistics        draft-mtp: #calls(b,g,a) =    1   1099   1099, #gen drafts =   1099, "
        "#acc drafts =   902, #gen tokens =   3297, #acc tokens =  2091, dur(b,g,a) = 0.002, 24847.492, 1.359 ms",
        2091 / 1099,
    ),
    "ngram_map_k": (
        "statistics ngram_map_k: #calls(b,g,a) = 6 1690 26, #gen drafts = 26, #acc drafts = 26, #gen tokens = 1248, "
        "#acc tokens = 968, dur(b,g,a) = 2.234, 1.427, 0.016 ms",
        968 / 26,
    ),
}

# The legacy speculative example's summary (real output quoted in llama.cpp PR #3006): the first token comes
# from the prompt pass (examples/speculative/speculative.cpp counts it in n_predict), then each verifier call
# emits its accepted tokens plus one, so calls = n_predict - n_accept - 1 = 266 - 223 - 1 = 42 and
# X = 223 / 42 = 5.310; the mean draft is 254 / 42 = 6.05 tokens of at most n_draft = 16 (dividing n_drafted by
# 16 would give 15.9 "drafts" and X = 14: wrong whenever drafts stop early).
LEGACY = """\
encoded   25 tokens in    0.102 seconds, speed:  245.098 t/s
decoded  266 tokens in    5.432 seconds, speed:   48.969 t/s

n_draft   = 16
n_predict = 266
n_drafted = 254
n_accept  = 223
accept    = 87.795%
"""


@pytest.mark.parametrize("impl", list(STATS))
def test_statistics_lines_of_every_release(tmp_path, impl):
    line, x = STATS[impl]
    p = tmp_path / "server.log"
    p.write_text(line + "\n")
    assert detect(str(p), line) == "llama.cpp"
    got = {m.label: m.mean_accepted for m in read_acceptance(str(p))}
    assert got[impl] == pytest.approx(x, rel=1e-9)


def test_the_legacy_summary(tmp_path):
    p = tmp_path / "spec.txt"
    p.write_text(LEGACY)
    assert detect(str(p), LEGACY) == "llama.cpp-summary"
    (m,) = read_acceptance(str(p))
    assert m.mean_accepted == pytest.approx(223 / 42, rel=1e-12)
    assert m.iterations == 42
    assert m.P == 16
    assert m.mean_draft_size == pytest.approx(254 / 42)
    # the worked case: n_predict 261, n_accept 208, n_drafted 260 at n_draft 5 is 52 full drafts of 5
    case = LEGACY.replace("16", "5").replace("266", "261").replace("254", "260").replace("223", "208")
    p.write_text(case)
    (m,) = read_acceptance(str(p))
    assert (m.iterations, m.mean_draft_size) == (52, 5.0)
    both = tmp_path / "two.txt"
    both.write_text(LEGACY + LEGACY)  # two runs appended to one file
    assert [m.label for m in read_acceptance(str(both))] == ["run 1", "run 2"]


def test_a_damaged_legacy_summary(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text(LEGACY.replace("n_accept  = 223", "n_accept  = 300"))
    with pytest.raises(InputError, match="exceeds n_drafted"):
        read_acceptance(str(p))


def test_server_timings_give_a_labelled_lower_bound(tmp_path):
    """Two responses: accepted 30 and 10 of 60 and 20 drafted, 70 and 40 tokens predicted. Calls are at most
    70 - 30 = 40 and 40 - 10 = 30, so X >= (30 + 10) / (40 + 30) = 0.5714."""
    rows = [
        {"content": "...", "timings": {"predicted_n": 70, "draft_n": 60, "draft_n_accepted": 30}},
        {"content": "...", "timings": {"predicted_n": 40, "draft_n": 20, "draft_n_accepted": 10}},
    ]
    p = tmp_path / "responses.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (m,) = read_acceptance(str(p))
    assert m.format == "llama.cpp-timings"
    assert m.label == "lower bound"
    assert m.mean_accepted == pytest.approx(40 / 70, rel=1e-12)
    assert "LOWER BOUND" in m.convention


def test_crlf_line_endings_and_a_byte_order_mark(tmp_path):
    """A log saved on Windows (CRLF, and a BOM from the editor) reads like the original."""
    line, x = STATS["draft-eagle3"]
    p = tmp_path / "win.log"
    p.write_bytes(b"\xef\xbb\xbf" + (LEGACY.replace("\n", "\r\n")).encode())
    assert read_acceptance(str(p))[0].mean_accepted == pytest.approx(223 / 42, rel=1e-12)
    q = tmp_path / "win2.log"
    q.write_bytes(b"\xef\xbb\xbf" + (line + "\r\n").encode())
    assert read_acceptance(str(q))[0].mean_accepted == pytest.approx(x, rel=1e-9)


def test_vllm_own_column_name_in_a_csv(tmp_path):
    """vLLM's mean_acceptance_length (X + 1) as a CSV column of iterations: X = 3 - 1 and 2 - 1, mean 1.5."""
    p = tmp_path / "m.csv"
    p.write_text("mean_acceptance_length\n3\n2\n")
    assert read_acceptance(str(p))[0].mean_accepted == pytest.approx(1.5)


def test_per_request_means_weighted_by_their_steps(tmp_path):
    """Three requests' mean acceptance lengths (X + 1) over 10, 30 and 60 verify steps: 3.0, 2.0, 1.5, so
    X = (2.0 * 10 + 1.0 * 30 + 0.5 * 60) / 100 = 0.8 (an unweighted mean of requests would say 1.1667)."""
    p = tmp_path / "requests.csv"
    p.write_text("request,mean_acceptance_length,num_spec_steps\na,3.0,10\nb,2.0,30\nc,1.5,60\n")
    (m,) = read_acceptance(str(p))
    assert m.mean_accepted == pytest.approx(0.8)
    assert m.groups == 3
    assert "weighted" in m.convention
