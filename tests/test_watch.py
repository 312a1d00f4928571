"""speedoflight watch against a local HTTP server on 127.0.0.1 that serves counters changing between requests.

The loop is bounded: --count scrapes at an --interval of 10 ms, and the server stops with the test.
"""

from __future__ import annotations

import http.server
import json
import threading

import numpy as np
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


def _drip_server(handler_body):
    """A raw TCP server on 127.0.0.1 running ``handler_body(conn)`` per connection, in a daemon thread."""
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def loop():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=handler_body, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.getsockname()[1]}/metrics"


def _drip(conn, head=b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"):
    import time

    try:
        conn.recv(4096)
        for b in head + b"x" * 100:
            conn.send(bytes([b]) if isinstance(b, int) else b)
            time.sleep(0.3)
    except OSError:
        pass


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_server_that_drips_bytes_is_cut_at_the_timeout(capsys, where):
    """A byte every 0.3 s never trips a per-read time-out: the whole scrape has one deadline."""
    import time

    def handler(conn):
        if where == "body":
            conn.recv(4096)
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            for _ in range(200):
                try:
                    conn.send(b"x")
                except OSError:
                    return
                time.sleep(0.3)
        else:
            _drip(conn)

    srv, url = _drip_server(handler)
    try:
        t0 = time.monotonic()
        assert main(["watch", url, "--timeout", "1.5", "--count", "2"]) == 2
        assert time.monotonic() - t0 < 10
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert "no complete answer within 1.5 s" in err[0]
    finally:
        srv.close()


def test_special_files_huge_files_and_odd_answers_are_one_line(tmp_path, capsys):
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for source, words in ((str(fifo), "not a regular file"), ("/dev/zero", "not a regular file")):
        assert main(["watch", source, "--count", "2"]) == 2
        assert words in capsys.readouterr().err
    big = tmp_path / "big.prom"
    with open(big, "wb") as fh:
        fh.truncate((64 << 20) + 10)
    assert main(["watch", str(big), "--count", "2"]) == 2
    assert "over 64 MiB" in capsys.readouterr().err
    assert main(["watch", str(big), "--interval", "1e300", "--count", "2"]) == 2
    assert "--interval 1e+300 is over 86400 seconds" in capsys.readouterr().err
    twice = tmp_path / "two.prom"
    twice.write_text(SCRAPES[0] + SCRAPES[1])  # two scrapes appended: the same series twice, other values
    assert main(["watch", str(twice), "--count", "2", "--interval", "0.01"]) == 2
    assert "appears twice with different values" in capsys.readouterr().err


def test_an_error_status_and_a_redirect_loop_are_named(capsys):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/loop":
                self.send_response(302)
                self.send_header("Location", "/loop")
                self.end_headers()
            else:
                self.send_response(500)
                self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        assert main(["watch", base + "/metrics", "--count", "2"]) == 2
        assert "answered 500" in capsys.readouterr().err
        assert main(["watch", base + "/loop", "--count", "2"]) == 2
        assert "redirect loop" in capsys.readouterr().err
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_failed_scrapes_count_towards_count(tmp_path, capsys):
    """A source that fails after the first scrape: --count still ends the watch."""
    p = tmp_path / "m.prom"
    p.write_text(SCRAPES[0])
    import time as _time

    real_sleep = _time.sleep

    def sleep_then_break(s):  # time.sleep is one function for every thread: only the watch's own sleep breaks it
        if threading.current_thread() is threading.main_thread():
            p.unlink(missing_ok=True)
        real_sleep(0.01 if threading.current_thread() is threading.main_thread() else s)

    import speedoflight.cli.watch as W

    W.time.sleep = sleep_then_break
    try:
        assert main(["watch", str(p), "--count", "3", "--interval", "0.01"]) == 0
    finally:
        W.time.sleep = real_sleep
    assert capsys.readouterr().err.count("skipped a scrape") == 2


def test_a_dump_without_metadata_is_refused_at_the_start(tmp_path, capsys):
    p = tmp_path / "m.prom"
    p.write_text(SCRAPES[0])
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    assert main(["watch", str(p), "--count", "2", "--dump", str(tmp_path / "plain.npz")]) == 2
    assert "plain.npz" in capsys.readouterr().err
