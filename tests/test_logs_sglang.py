"""SGLang server 'Decode batch' lines, written from the format strings of releases 0.4.2 to 0.5.23, X by hand."""

from __future__ import annotations

import pytest

from speedoflight.errors import InputError
from speedoflight.logs.acceptance import detect, read_acceptance

# accept len = 1 + X (bonus token included); intervals weighted by #running-req:
#   0.4.x   accept len 3.40, 4 requests -> X = 2.40, weight 4
#   0.5.1   accept len 2.00, 2 requests -> X = 1.00, weight 2 (trailing ", ")
#   0.5.4   accept len 3.40, 4 requests -> X = 2.40, weight 4 ("Decode batch [N]," and an accept rate)
#   0.5.10+ accept len 2.50, 2 requests -> X = 1.50, weight 2 (no trailing comma)
# pooled X = (2.4*4 + 1.0*2 + 2.4*4 + 1.5*2) / 12 = 24.2 / 12
LOG = f"""\
[2025-03-01 10:00:00 TP0] Prefill batch. #new-seq: 1, #new-token: 57, #cached-token: 0, token usage: 0.00, #running-req: 0
[2025-03-01 10:00:00 TP0] Decode batch. #running-req: 4, #token: 2811, token usage: 0.01, accept len: 3.40, \
gen throughput (token/s): 412.57, #queue-req: 0
[2025-08-30 10:00:00] Decode batch. #running-req: 2, #token: 2811, token usage: 0.01, accept len: 2.00, \
cuda graph: True, gen throughput (token/s): 412.57, #queue-req: 0,{" "}
[2025-10-20 10:00:00] Decode batch [1234], #running-req: 4, #token: 2811, token usage: 0.01, accept len: 3.40, \
accept rate: 0.85, cuda graph: True, gen throughput (token/s): 412.57, #queue-req: 0,{" "}
[2026-05-01 10:00:00 TP0] Decode batch, #running-req: 2, #token: 2811, token usage: 0.01, accept len: 2.50, \
accept rate: 0.50, cuda graph: True, gen throughput (token/s): 412.57, #queue-req: 0
"""


def test_accept_len_is_x_plus_one_weighted_by_running_requests(tmp_path):
    p = tmp_path / "server.log"
    p.write_text(LOG)
    assert detect(str(p), LOG) == "sglang-log"
    (m,) = read_acceptance(str(p))
    assert m.mean_accepted == pytest.approx(24.2 / 12, rel=1e-12)
    assert m.iterations == pytest.approx(12)
    assert "estimate" in m.notes[0]
    assert "accept rate" in m.convention


def test_dp_ranks_are_reported_each(tmp_path):
    text = (
        "[2026-05-01 10:00:00 DP0 TP0] Decode batch, #running-req: 3, accept len: 2.00, #queue-req: 0\n"
        "[2026-05-01 10:00:00 DP1 TP0] Decode batch, #running-req: 1, accept len: 4.00, #queue-req: 0\n"
    )
    p = tmp_path / "dp.log"
    p.write_text(text)
    pooled, *ranks = read_acceptance(str(p))
    assert pooled.mean_accepted == pytest.approx((1.0 * 3 + 3.0 * 1) / 4)
    assert {m.label: m.mean_accepted for m in ranks} == {"DP0": pytest.approx(1.0), "DP1": pytest.approx(3.0)}


@pytest.mark.parametrize("value", ["0.50", "nan", "inf"])
def test_an_accept_len_below_one_or_not_finite_is_refused(tmp_path, value):
    p = tmp_path / "bad.log"
    p.write_text(f"[2026-05-01 10:00:00] Decode batch, #running-req: 3, accept len: {value}, #queue-req: 0\n")
    with pytest.raises(InputError, match="accept len"):
        read_acceptance(str(p))
