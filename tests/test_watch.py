"""speedoflight watch against a local HTTP server on 127.0.0.1 that serves counters changing between requests.

The loop is bounded: --count scrapes at an --interval of 10 ms, and the server stops with the test.
"""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from speedoflight.cli.app import main


def scrape(engines: dict[str, tuple[float, float, float, list[float]]]) -> str:
    """vLLM's exposition (with _total, _created series and HELP/TYPE lines) for engines {id: (drafts, draft tokens,
    accepted, per-position accepted)}."""
    out = []
    for name in ("drafts", "draft_tokens", "accepted_tokens", "accepted_tokens_per_pos"):
        out.append(f"# HELP vllm:spec_decode_num_{name} Spec decode counter.")
        out.append(f"# TYPE vllm:spec_decode_num_{name} counter")
        for e, (d, t, a, pos) in engines.items():
            labels = f'engine="{e}",model_name="m"'
            if name == "accepted_tokens_per_pos":
                for i, v in enumerate(pos):
                    out.append(f'vllm:spec_decode_num_{name}_total{{{labels},position="{i}"}} {v:.1f}')
            else:
                v = {"drafts": d, "draft_tokens": t, "accepted_tokens": a}[name]
                out.append(f"vllm:spec_decode_num_{name}_total{{{labels}}} {v:e}")  # e-notation, as some exporters
                out.append(f"vllm:spec_decode_num_{name}_created{{{labels}}} 1.7e9")
    return "\n".join(out) + "\n"


# Four scrapes, k = 3. Intervals worked out by hand:
#   1: engine 0 +100 drafts, +180 accepted, per position +90, +60, +30      -> X = 1.8
#   2: engine 0 +100 drafts, +100 accepted (+60, +30, +10); engine 1 appears with 50 drafts, 50 accepted
#      (30, 15, 5): 150 drafts, 150 accepted                                -> X = 1.0
#   3: engine 0 restarted: 40 drafts, 20 accepted (15, 5, 0) since; engine 1 +50 drafts, +75 accepted
#      (+40, +25, +10): 90 drafts, 95 accepted                              -> X = 95 / 90
#   summary: 340 drafts, 425 accepted                                       -> X = 1.25
SCRAPES = [
    scrape({"0": (100, 300, 150, [80, 50, 20])}),
    scrape({"0": (200, 600, 330, [170, 110, 50])}),
    scrape({"0": (300, 900, 430, [230, 140, 60]), "1": (50, 150, 50, [30, 15, 5])}),
    scrape({"0": (40, 120, 20, [15, 5, 0]), "1": (100, 300, 125, [70, 40, 15])}),
]


@pytest.fixture
def server():
    served = {"n": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = SCRAPES[min(served["n"], len(SCRAPES) - 1)].encode()
            served["n"] += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/metrics", served
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_watch_differences_counters_across_restarts_and_new_engines(server, capsys):
    url, served = server
    assert main(["watch", url, "--interval", "0.01", "--count", "4", "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert served["n"] == 4
    intervals, summary = rows[:-1], rows[-1]
    assert [r["mean_accepted"] for r in intervals] == pytest.approx([1.8, 1.0, 95 / 90])
    assert intervals[0]["per_position"] == pytest.approx([0.9, 0.6, 0.3])
    assert any("appeared" in n for n in intervals[1]["notes"])
    assert any("restarted" in n for n in intervals[2]["notes"])
    assert summary["summary"] is True
    assert summary["drafts"] == 340
    assert summary["mean_accepted"] == pytest.approx(425 / 340)
    assert summary["ci"][0] < summary["mean_accepted"] < summary["ci"][1]


def test_watch_prints_the_fraction_of_the_ceiling(server, capsys, tmp_path):
    from pathlib import Path

    url, _ = server
    dump = str(Path(__file__).resolve().parents[1] / "data" / "smollm2-t1-x8.npz")
    assert main(["watch", url, "--interval", "0.01", "--count", "2", "--dump", dump]) == 0
    out = capsys.readouterr().out
    assert "X = 1.80" in out
    assert "% of the ceiling" in out
    assert "at P = 3" in out
    # X = 1.8 at P = 3 from a server labelled "m", held against SmolLM2 (ceiling about 1 there): both checks fire
    assert "warning: above the ceiling" in out
    assert "warning: model mismatch: the measured source names 'm'" in out


def test_watch_rereads_a_file(tmp_path, capsys):
    p = tmp_path / "metrics.txt"
    p.write_text(SCRAPES[0])
    assert main(["watch", str(p), "--interval", "0.01", "--count", "2", "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rows[0]["mean_accepted"] is None  # the file did not change: an idle interval
    assert "idle: no drafts" in rows[0]["notes"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["watch", "http://127.0.0.1:9/metrics", "--timeout", "0.5", "--count", "2"], ("127.0.0.1:9", "0.5 s")),
        (["watch", "missing.txt", "--count", "2"], ("no such file",)),
        (["watch", "x.txt", "--count", "1"], ("--count",)),
        (["watch", "x.txt", "--interval", "0"], ("--interval",)),
    ],
)
def test_watch_user_errors(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.txt").write_text(SCRAPES[0])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    for w in words:
        assert w in err
