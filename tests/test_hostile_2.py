"""Hostile inputs, round two (issue 32): each case one clear line and exit 2, or the right answer, never silence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speedoflight.readers.dumpfile import write_dump

from .helpers import assert_user_error, small_dump


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"entropy": lambda h: np.where(np.arange(len(h)) == 5, -3.89, h)}, ["row 5", "entropy -3.89", "outside"]),
        ({"entropy": lambda h: np.where(np.arange(len(h)) == 7, 102.9, h)}, ["row 7", "entropy 102.9", "10.8"]),
        ({"m2": lambda m: np.where(np.arange(len(m)) == 3, 0.0, m)}, ["row 3", "below entropy^2"]),
        ({"m2": lambda m: np.where(np.arange(len(m)) == 2, np.inf, m)}, ["row 2", "m2 inf"]),
    ],
)
def test_a_dumps_exact_moments_out_of_range_are_refused(tmp_path, capsys, change, words):
    """H in [0, log V] and M2 >= H^2 hold for every distribution: a dump saying otherwise is damaged."""
    path = small_dump(tmp_path, **change)
    assert_user_error(capsys, ["estimate", path], *words, "re-create")


def test_unknown_moments_stay_allowed(tmp_path, capsys):
    path = small_dump(tmp_path, entropy=lambda h: np.full_like(h, np.nan), m2=lambda m: np.full_like(m, np.nan))
    from .helpers import run

    code, _out, err = run(capsys, "estimate", path, "--json")
    assert code == 0, err


def _bomb(src, dst, member, n):
    """Copy a dump, its ``member`` replaced by n zeros (int64): megabytes on disk, n * 8 bytes declared."""
    import io
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
        for info in zin.infolist():
            if info.filename != member + ".npy":
                zout.writestr(info.filename, zin.read(info.filename))  # deflated quickly, whatever the source used
                continue
            head = io.BytesIO()
            np.lib.format.write_array_header_1_0(head, {"descr": "<i8", "fortran_order": False, "shape": (n,)})
            with zout.open(info.filename, "w", force_zip64=True) as w:
                w.write(head.getvalue())
                block, left = bytes(1 << 24), n * 8
                while left > 0:
                    w.write(block[: min(left, len(block))])
                    left -= len(block)
    return str(dst)


@pytest.mark.parametrize(
    ("src", "member", "command", "words"),
    [
        ("data/smollm2-t1.npz", "metadata", ["estimate"], ["member 'metadata' declares 305 MiB"]),
        ("data/smollm2-t1-x8.npz", "prompt", ["optimum", "--pmax", "4", "--dump"], ["member 'prompt'", "40000000"]),
        ("data/smollm2-t1.npz", "next_token", ["estimate"], ["member 'next_token'", "not one entry per row"]),
        (
            "data/smollm2-interior-branched.npz",
            "branch_parent",
            ["optimum", "--pmax", "4", "--dump"],
            ["branch_* members differ in length"],
        ),
    ],
)
def test_members_that_inflate_past_their_rows_are_refused_before_inflating(
    tmp_path, capsys, src, member, command, words
):
    """A few MB on disk declaring 305 MiB in one member: refused from the zip directory and the npy header."""
    path = _bomb(src, tmp_path / "bomb.npz", member, 40_000_000)
    assert_user_error(capsys, [*command, path], *words)


def test_bzip2_members_are_refused(tmp_path, capsys):
    import zipfile

    dst = tmp_path / "bz.npz"
    with zipfile.ZipFile("data/smollm2-t1.npz") as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_BZIP2) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    assert_user_error(capsys, ["estimate", str(dst)], "bzip2")


@pytest.mark.parametrize(
    "argv",
    [
        ["estimate", "{dump}", "--per-row", "{out}"],
        ["optimum", "--dump", "{dump}", "--out", "{out}", "--pmax", "2"],
        ["estimate", "{glob}", "--per-row", "{out}"],
    ],
)
@pytest.mark.parametrize("through_a_link", [False, True])
def test_an_output_that_is_an_input_is_refused(tmp_path, capsys, argv, through_a_link):
    import shutil

    dump = tmp_path / "mine.npz"
    shutil.copy("data/smollm2-t1.npz", dump)
    out = dump
    if through_a_link:
        out = tmp_path / "link.npz"
        out.symlink_to(dump)
    before = dump.read_bytes()
    values = {"dump": str(dump), "out": str(out), "glob": str(tmp_path / "*.npz")}
    line = assert_user_error(capsys, [a.format(**values) for a in argv], "would replace your data")
    assert str(dump) in line or argv[1] == "{glob}"  # a glob matches the link itself too
    assert dump.read_bytes() == before


def test_a_link_to_a_file_of_another_kind_is_refused(tmp_path, capsys):
    """A rows.csv link to a file that is no CSV: its extension is checked on the file written, not on the link."""
    victim = tmp_path / "bashrc"
    victim.write_text("keep me\n")
    link = tmp_path / "rows.csv"
    link.symlink_to(victim)
    assert_user_error(capsys, ["estimate", "data/smollm2-t1.npz", "--per-row", str(link)], "is a link to", "bashrc")
    assert victim.read_text() == "keep me\n"


def test_another_users_link_in_a_sticky_folder_is_refused(tmp_path, capsys):
    import os

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    victim = tmp_path / "mine.csv"
    victim.write_text("keep me\n")
    link = shared / "rows.csv"
    link.symlink_to(victim)
    os.lchown(link, 65534, 65534)  # planted by someone else
    assert_user_error(capsys, ["estimate", "data/smollm2-t1.npz", "--per-row", str(link)], "another user's link")
    assert victim.read_text() == "keep me\n"


def test_an_out_folder_with_one_target_a_folder_is_left_whole(tmp_path, capsys):
    """compare --out DIR where compare.png is a folder: nothing is replaced (compare.md stayed half-written)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "compare.md").write_text("previous\n")
    (out / "compare.png").mkdir()
    assert_user_error(
        capsys,
        ["compare", "--dump", "data/smollm2-t1.npz", "--replicates", "4", "--pmax", "16", "--out", str(out), "--quiet"],
        "compare.png",
        "not a regular file",
    )
    assert (out / "compare.md").read_text() == "previous\n"
    assert sorted(p.name for p in out.iterdir()) == ["compare.md", "compare.png"]


@pytest.mark.e2e
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_clean_up_like_ctrl_c(tmp_path, sig):
    """timeout, Slurm, Kubernetes and a closed ssh session send these: no temporary folder is left behind."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "rep"
    proc = subprocess.Popen(
        [sys.executable, "-m", "speedoflight", "report", "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # send it once the command handles it (its mask of caught signals, /proc/PID/status SigCgt), then a little
        # later, inside the work: a loaded machine may take longer than any fixed wait to start Python
        bit = 1 << (getattr(signal, sig) - 1)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with open(f"/proc/{proc.pid}/status", encoding="ascii") as fh:
                status = fh.read()
            caught = int(next(x for x in status.splitlines() if x.startswith("SigCgt:")).split()[1], 16)
            if caught & bit:
                break
            time.sleep(0.05)
        time.sleep(3.0)
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + getattr(signal, sig)
    assert err.strip().splitlines()[-1] == f"speedoflight: terminated (signal {getattr(signal, sig)})"
    assert "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir()] == []  # neither the report nor a .tmp- folder


@pytest.mark.parametrize("how", ["ulimit", "full device"])
def test_no_room_to_write_is_one_line(tmp_path, how):
    import resource
    import subprocess
    import sys

    if how == "ulimit":
        argv = ["estimate", "data/smollm2-t1.npz", "--per-row", str(tmp_path / "rows.csv")]

        def limit():
            resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

        got = subprocess.run([sys.executable, "-m", "speedoflight", *argv], capture_output=True, text=True,
                             preexec_fn=limit, timeout=300)  # fmt: skip
    else:
        with open("/dev/full", "w") as full:
            got = subprocess.run([sys.executable, "-m", "speedoflight", "bound", "--mu", "2", "--mu2", "8"],
                                 stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)  # fmt: skip
    assert got.returncode == 2
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1, got.stderr
    assert "a full disk or a file-size limit" in lines[0]
    assert [p.name for p in tmp_path.iterdir()] == []  # no .tmp- file left beside the target


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["hierarchy", "--alphas", "0.7,0.8,0.6", "--rounds", "1e9"], ["--rounds"]),
        (["hierarchy", "--alphas", "0.7,0.8,0.6", "--rounds", "1000000000"], ["--rounds", "1,024"]),
        (["hierarchy", "--alphas", "0.7,0.8,0.6", "--gamma", "1000000000"], ["--gamma", "1,024"]),
        (["tree", "--acceptance", "0.6,0.2", "--pmax", "100000"], ["--pmax", "4,096"]),
        (["optimum", "--dump", "data/smollm2-t1-x8.npz", "--replicates", "1000000000"], ["--replicates", "100,000"]),
        (
            [
                "markov",
                "--target",
                "data/pair/smollm2-t1.npz",
                "--draft",
                "data/pair/smollm2-t1-early-exit-24.npz",
                "--drafts",
                "1000000",
            ],
            ["--drafts", "64"],
        ),
    ],
)
def test_flags_without_a_bound_are_refused_before_any_work(capsys, argv, words):
    """Each of these ran for hours or ended in a MemoryError traceback (tree --pmax 1e5)."""
    import time

    t0 = time.monotonic()
    assert_user_error(capsys, argv, *words)
    assert time.monotonic() - t0 < 60


def test_a_file_named_like_a_pattern_a_fifo_and_a_file_given_twice(tmp_path, capsys):
    import os
    import shutil

    from .helpers import run

    odd = tmp_path / "run[t=1].npz"  # glob characters in an existing name: that file, not a pattern
    shutil.copy("data/smollm2-t1.npz", odd)
    code, out, err = run(capsys, "estimate", str(odd), "--json")
    assert code == 0, err
    one = json.loads(out)
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    assert_user_error(capsys, ["estimate", str(fifo)], "FIFO", "save the data to a file")
    link = tmp_path / "again.npz"
    link.symlink_to(odd)
    code, out, err = run(capsys, "estimate", str(odd), str(link), "--json")
    assert code == 0, err
    assert err.count("speedoflight: note:") == 1
    assert "again.npz is" in err
    assert "read once" in err
    twice = json.loads(out)
    assert twice["n_rows"] == one["n_rows"]  # counted once, not twice
    assert twice["mu"] == one["mu"]


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("temperature", "hot", ["temperature 'hot'"]),
        ("temperature", None, ["temperature None"]),
        ("temperature", -1.0, ["temperature -1.0"]),
        ("vocab_size", 10**30, ["vocab_size", "16,777,216"]),
        ("vocab_size", "big", ["vocab_size 'big'"]),
    ],
)
def test_damaged_dump_metadata_is_one_line(tmp_path, capsys, field, value, words):
    with np.load("data/smollm2-t1.npz") as z:
        arrays = {k: np.asarray(z[k]) for k in z.files if k != "metadata"}
        meta = json.loads(str(z["metadata"]))
    meta[field] = value
    path = tmp_path / "d.npz"
    np.savez_compressed(path, metadata=np.array(json.dumps(meta)), **arrays)
    assert_user_error(capsys, ["estimate", str(path)], *words)


def _child(argv, env=None, preexec=None, cwd=None):
    import os
    import subprocess
    import sys

    full = {**os.environ, **(env or {})}
    code = "import sys; from speedoflight.cli.app import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], env=full, capture_output=True, text=True,
                          preexec_fn=preexec, cwd=cwd, timeout=300)  # fmt: skip


@pytest.mark.e2e
def test_the_environment_cases_are_one_line(tmp_path):
    import os
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    env = {"PYTHONPATH": root}
    got = _child(["estimate", str(tmp_path / "missing-é.npz")], {**env, "PYTHONIOENCODING": "ascii"})
    assert got.returncode == 2
    assert len(got.stderr.strip().splitlines()) == 1
    got = _child(["bound", "--mu", "2", "--mu2", "8"], {**env, "NUMBA_NUM_THREADS": "0"})
    assert got.returncode == 2
    assert got.stderr.strip().splitlines() == [
        "speedoflight: error: NUMBA_NUM_THREADS='0': numba needs a whole number of threads > 0; unset it or set "
        "e.g. NUMBA_NUM_THREADS=2"
    ]
    out = tmp_path / "cmp"
    got = _child(["compare", "--dump", os.path.join(root, "data", "smollm2-t1.npz"), "--replicates", "4", "--pmax",
                  "8", "--out", str(out), "--quiet"], {**env, "MPLBACKEND": "bogus"})  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert "ignoring MPLBACKEND='bogus'" in got.stderr
    assert (out / "compare.png").exists()
    gone = tmp_path / "gone"
    gone.mkdir()
    got = _child(["bound", "--mu", "2", "--mu2", "8"], env, preexec=lambda: os.rmdir(gone), cwd=gone)
    assert got.returncode == 0, got.stderr
    got = _child(["estimate", "missing.npz"], env, preexec=lambda: os.close(2))
    assert got.returncode == 2


def test_the_library_api_checks_its_arguments():
    """Public functions raise the package's error on wrong lengths, types and values (caps of the wrong length read
    past the array in numba and gave 999 wrong rows of 1000)."""
    from speedoflight.errors import InputError
    from speedoflight.kernels.rowmoments import row_moments
    from speedoflight.logs.acceptance import read_acceptance

    rows = np.log(np.full((1000, 4), 0.25))
    with pytest.raises(InputError, match=r"caps must hold one value per row, shape \(1000,\)"):
        row_moments(rows, "logprobs", vocab_size=10, caps=np.zeros(1))
    with pytest.raises(InputError, match="numpy array"):
        row_moments([[0.5, 0.5]], "probs")
    with pytest.raises(InputError, match="vocab_size must be at least 1"):
        row_moments(rows, "logprobs", vocab_size=0)
    with pytest.raises(InputError, match="vocab_size must be a whole number"):
        row_moments(rows, "logprobs", vocab_size="10")
    with pytest.raises(InputError, match="num_speculative_tokens must be a whole number >= 1"):
        read_acceptance("data/measured-smollm2-t1.jsonl", num_speculative_tokens=-3)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("p.txt", b"fine\n\xff\xfe broken\n", ["line 2", "not valid UTF-8"]),
        ("p.jsonl", b'{"prompt": "ok"}\n{"prompt": "half \\ud800 pair"}\n', ["line 2", "lone surrogate"]),
    ],
)
def test_prompt_files_with_bad_text_are_one_line(tmp_path, capsys, name, content, words):
    p = tmp_path / name
    p.write_bytes(content)
    assert_user_error(
        capsys, ["collect", "--url", "http://127.0.0.1:9", "--prompts", str(p), "--out", str(tmp_path / "c.jsonl")],
        *words,
    )  # fmt: skip


def test_oracle_positions_beyond_the_continuations_are_refused_not_dropped():
    from speedoflight.errors import InputError
    from speedoflight.models.oracle import prefixes_from_dump

    prompts = [[1, 2, 3]] * 200
    with pytest.raises(InputError, match=r"^positions 40 is beyond the continuations \(the longest has 32"):
        prefixes_from_dump("data/smollm2-t1-x8.npz", prompts, [8, 40])
    with pytest.raises(InputError, match=r"^positions -1 "):
        prefixes_from_dump("data/smollm2-t1-x8.npz", prompts, [-1])
    got = prefixes_from_dump("data/smollm2-t1-x8.npz", prompts, [32])
    assert {len(p) for p in got[0]} == {3 + 32}  # the last position (the whole continuation) is inside


@pytest.fixture
def dump_and_view(tmp_path):
    """A folder holding the shipped dump and one of its early-exit views (which `dump --early-exit` writes beside)."""
    import shutil

    for f in ("data/smollm2-t1.npz", "data/pair/smollm2-t1-early-exit-12.npz"):
        shutil.copy(f, tmp_path)
    return str(tmp_path)


@pytest.mark.parametrize(
    "argv",
    [["estimate", "{d}"], ["bound", "--from", "{d}", "-P", "8"]],
    ids=["estimate", "bound"],
)
def test_a_dump_and_its_early_exit_view_are_not_pooled(capsys, dump_and_view, argv):
    """Pooled they gave mu 1.62 for a verifier of mu 2.77 with exit 0; the view is another distribution."""
    assert_user_error(capsys, [a.format(d=dump_and_view) for a in argv], "its view is 'full'", "'early-exit:12'")


def test_a_pool_of_a_dump_and_its_early_exit_view_is_refused(dump_and_view):
    from speedoflight import pool
    from speedoflight.errors import InputError

    with pytest.raises(InputError, match="its view is 'full'"):
        pool(dump_and_view)


def test_a_dump_with_a_damaged_pair_record_is_one_line(tmp_path, capsys):
    with np.load("data/pair/smollm2-t1-early-exit-12.npz") as z:
        arrays = {k: np.asarray(z[k]) for k in z.files if k != "metadata"}
        meta = json.loads(str(z["metadata"]))
    for k in ("format", "version"):
        meta.pop(k, None)
    for bad in ("early-exit:12", {"view": 12}, {"views": "full"}):
        path = tmp_path / "bad.npz"
        write_dump(str(path), arrays, {**meta, "pair": bad})
        assert_user_error(capsys, ["estimate", str(path)], "'pair'", "damaged")


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("temperature", [1e-19, 1e-100, 1e-300])
def test_a_tiny_temperature_gives_the_greedy_limit(dtype, temperature):
    """At T = 1e-19 and below the rows came out NaN ("n/a", exit 0): the limit is the one-hot row, H = M2 = 0."""
    from speedoflight.kernels.rowmoments import row_moments

    x = np.random.default_rng(0).normal(size=(64, 100)).astype(dtype)
    top2 = np.sort(x.astype(np.float64), axis=1)[:, -2:]
    assert (np.diff(top2, axis=1) * (1 / temperature) > 746).all()  # no ties: every other entry is exp(-746) = 0
    out = row_moments(x, "logits", temperature=temperature)
    assert (out == 0).all()


@pytest.mark.parametrize("gap_over_t", [0.5, 5.0, 30.0, 700.0])
def test_a_small_temperature_on_two_tokens_is_the_binary_entropy(gap_over_t):
    """Two logits a gap g apart at temperature T: p = 1 / (1 + e^(g/T)), H and M2 in closed form."""
    from speedoflight.kernels.rowmoments import row_moments

    t = 1e-12
    gap = gap_over_t * t
    x = np.array([[3.0, 3.0 - gap]])
    g = (x[0, 0] - x[0, 1]) / t  # the gap as stored (3 - gap rounds)
    log_p = -np.logaddexp(0.0, -g)  # the larger entry
    log_q = -np.logaddexp(0.0, g)
    p, q = np.exp(log_p), np.exp(log_q)
    h = -(p * log_p + q * log_q)
    m2 = p * log_p**2 + q * log_q**2
    out = row_moments(x, "logits", temperature=t)
    # log(S0) with S0 = 1 + e^-g keeps e^-g to the float spacing at 1: absolute accuracy about 2e-16
    assert out[0, 0] == pytest.approx(h, rel=1e-9, abs=1e-15)
    assert out[0, 2] == pytest.approx(m2, rel=1e-9, abs=1e-14)


def test_a_temperature_below_the_float_range_is_one_line(capsys, tmp_path):
    path = tmp_path / "z.npy"
    np.save(path, np.random.default_rng(0).normal(size=(8, 16)).astype(np.float32))
    assert_user_error(
        capsys, ["estimate", str(path), "--kind", "logits", "--temperature", "1e-310"], "below 1e-300", "0"
    )


@pytest.mark.parametrize("command", ["compare", "report"])
def test_measured_from_a_pipe_is_read_once(tmp_path, capsys, command):
    """`--measured <(cat log)` or a FIFO: the log is read once (a second open of a pipe waits forever, or reads
    nothing), and gives what the file gives."""
    import os
    import threading

    from .helpers import run

    log = "tests/data/llamacpp/server.log"
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    with open(log, "rb") as fh:
        text = fh.read()
    opened = []

    def writer():  # one writer: a second open by the command would wait for another, forever
        with open(fifo, "wb") as w:
            opened.append("read")
            w.write(text)

    def unblock():  # the command waits on a second open (or never opened): end it with an empty pipe
        with open(fifo, "wb"):
            opened.append("again")

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    base = [command, "--dump", "data/smollm2-t1.npz", "--replicates", "4", "--quiet"]
    base += ["--pmax", "8"] if command == "compare" else ["--out", str(tmp_path / "r")]
    timer = threading.Timer(60, unblock)
    timer.start()
    try:
        code, out_pipe, err = run(capsys, *base, "--measured", str(fifo), *(["--json"] if command == "compare" else []))
    finally:
        timer.cancel()
    assert opened == ["read"]
    assert code == 0, err
    if command == "compare":
        code, out_file, err = run(capsys, *base, "--measured", log, "--json")
        got, want = json.loads(out_pipe)["measured"], json.loads(out_file)["measured"]
        for row in got + want:  # the source names the path given; everything read from it must agree
            row.pop("source")
        assert got == want
    else:
        assert (tmp_path / "r" / "report.md").read_text().count("ngram") > 0
