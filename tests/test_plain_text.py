"""Terminal text: Markdown turned into plain text, ranges written one way, a setting's range said in words."""

from __future__ import annotations

from speedoflight._util.text import ci, plain, span
from speedoflight.analysis.advice import Setting
from speedoflight.analysis.advice_text import drafter_words, setting_range


def test_a_table_becomes_fixed_width_columns():
    md = "| P | range | who |\n|---|---|---|\n| 1 | 0.39..0.45 | **a** |\n| 128 | 12% | `b c` |"
    assert plain(md) == [
        "  P       range  who",
        "---  ----------  -----",
        "  1  0.39..0.45  a",
        "128         12%  'b c'",
    ]


def test_marks_go_and_bullets_stay_unless_asked():
    md = ["# Title", "- **warning:** see [the docs](docs/x.md)", "  - nested &nbsp;x"]
    assert plain(md) == ["Title", "- warning: see the docs", "  - nested  x"]
    assert plain(md, bullets=False) == ["Title", "warning: see the docs", "  nested  x"]


def test_ranges_are_written_one_way():
    assert span(1.236, 1.514) == "1.24..1.51"
    assert span(14.2, 16.0, ".0f", "%") == "14%..16%"
    assert ci(1.05, 1.19, unit="x") == "95% CI 1.05x..1.19x"


def _setting(kind, low, high):
    return Setting("who", 8, None, low, low, high, 1.0, "free", kind)


def test_a_setting_says_what_its_range_is():
    assert setting_range(_setting("measured", 1.05, 1.19)) == "95% CI 1.05x..1.19x"
    # the ceiling's estimate is its lower end by construction (tails dropped): said, not left looking odd
    assert setting_range(_setting("ceiling", 3.49, 4.47)) == "lower end of 3.49x..4.47x, top-k tails dropped..lumped"
    assert "no interval" in setting_range(_setting("projected", 2.61, 2.61))
    assert setting_range(_setting("measured", 1.1, 1.1)) == "no interval"


def test_a_log_file_is_not_a_drafter_name():
    assert drafter_words("vllm.log") == "the drafter in vllm.log"
    assert drafter_words("logs/metrics.prom") == "the drafter in logs/metrics.prom"
    assert drafter_words("early-exit:24 tree") == "early-exit:24 tree"
