"""The CLI: output, exit codes, and one clear line for every bad input."""

from __future__ import annotations

import csv
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from .helpers import assert_user_error, run
from .reference import full_moments

RNG = np.random.default_rng(21)
Z = RNG.normal(size=(30, 80)) * 2


@pytest.fixture
def logits_file(tmp_path):
    np.save(tmp_path / "z.npy", Z)
    return str(tmp_path / "z.npy")


def test_estimate_table(capsys, logits_file):
    code, out, _err = run(capsys, "estimate", logits_file, "--kind", "logits")
    assert code == 0
    assert "mu  (expected entropy)" in out
    assert "95% CI" in out
    assert "batch means" in out
    assert f"{full_moments(Z)[:, 0].mean():.4f}" in out


def test_estimate_json_keys_and_values(capsys, logits_file):
    code, out, _ = run(capsys, "estimate", logits_file, "--kind", "logits", "--json")
    assert code == 0
    d = json.loads(out)
    for key in ("mu", "mu2", "mu_se", "mu2_se", "mu_ci", "mu2_ci", "n_rows", "kind", "truncated"):
        assert key in d
    ref = full_moments(Z)
    assert d["mu"] == pytest.approx(ref[:, 0].mean(), rel=1e-12)
    assert d["mu2"] == pytest.approx(ref[:, 1].mean(), rel=1e-12)
    assert d["n_rows"] == 30
    assert d["kind"] == "logits"
    assert d["truncated"] is False
    assert d["mu_ci"][0] < d["mu"] < d["mu_ci"][1]
    assert "mu_interval" not in d


def test_detected_kind_is_announced(capsys, logits_file):
    code, _, err = run(capsys, "estimate", logits_file, "--json")
    assert code == 0
    assert "detected kind 'logits'" in err


def test_truncated_json_has_intervals(capsys, tmp_path):
    lp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    top = -np.sort(-lp, axis=1)[:, :5]
    np.save(tmp_path / "top.npy", top)
    code, out, _ = run(
        capsys, "estimate", str(tmp_path / "top.npy"), "--kind", "logprobs", "--vocab-size", "80", "--json"
    )
    assert code == 0
    d = json.loads(out)
    assert d["truncated"] is True
    truth = full_moments(Z).mean(axis=0)
    assert d["mu_interval"][0] <= truth[0] <= d["mu_interval"][1]
    assert d["mu2_interval"][0] <= truth[1] <= d["mu2_interval"][1]


def test_temperature_flag(capsys, logits_file):
    code, out, _ = run(capsys, "estimate", logits_file, "--kind", "logits", "--temperature", "0.5", "--json")
    assert code == 0
    assert json.loads(out)["mu"] == pytest.approx(full_moments(Z, temperature=0.5)[:, 0].mean(), rel=1e-12)


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_per_row_output(capsys, logits_file, tmp_path, suffix):
    out_path = tmp_path / f"rows{suffix}"
    code, _, _ = run(capsys, "estimate", logits_file, "--kind", "logits", "--per-row", str(out_path), "--quiet")
    assert code == 0
    ref = full_moments(Z)
    if suffix == ".csv":
        with open(out_path) as fh:
            rows = list(csv.DictReader(fh))
        got = np.array([float(r["H_lo"]) for r in rows])
    else:
        with np.load(out_path) as z:
            got = z["H_lo"]
    np.testing.assert_allclose(got, ref[:, 0], rtol=1e-12)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]


def test_per_row_failure_keeps_the_previous_file(capsys, tmp_path, logits_file):
    target = tmp_path / "rows.csv"
    target.write_text("previous content\n")
    bad = tmp_path / "bad.npy"
    x = Z.copy()
    x[3, 3] = np.nan
    np.save(bad, x)
    assert_user_error(capsys, ["estimate", str(bad), "--kind", "logits", "--per-row", str(target)], "row 3", "NaN")
    assert target.read_text() == "previous content\n"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]


def test_per_row_into_missing_folder(capsys, logits_file, tmp_path):
    assert_user_error(
        capsys,
        ["estimate", logits_file, "--kind", "logits", "--per-row", str(tmp_path / "no" / "x.csv")],
        "does not exist",
    )


# --- bad input: one line, exit code 2 -----------------------------------------------------------


def test_missing_file(capsys, tmp_path):
    assert_user_error(capsys, ["estimate", str(tmp_path / "nope.npy")], "no such file", "nope.npy")


def test_unreadable_path_is_a_folder(capsys, tmp_path):
    assert_user_error(capsys, ["estimate", str(tmp_path)], "folder")


def test_glob_matching_nothing(capsys, tmp_path):
    assert_user_error(capsys, ["estimate", str(tmp_path / "*.npy")], "matches no file")


def test_truncated_npy(capsys, tmp_path):
    np.save(tmp_path / "t.npy", Z)
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[: len(data) // 2])
    assert_user_error(capsys, ["estimate", str(tmp_path / "t.npy"), "--kind", "logits"], "truncated")


def test_truncated_npy_header(capsys, tmp_path):
    (tmp_path / "h.npy").write_bytes(b"\x93NUMPY\x01\x00\x76\x00{'descr'")
    assert_user_error(capsys, ["estimate", str(tmp_path / "h.npy")], "not a readable .npy")


def test_pickled_object_array(capsys, tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    assert_user_error(capsys, ["estimate", str(tmp_path / "o.npy")], "pickle")


def test_raw_pickle_file(capsys, tmp_path):
    (tmp_path / "p.npy").write_bytes(pickle.dumps({"logits": [1, 2, 3]}))
    assert_user_error(capsys, ["estimate", str(tmp_path / "p.npy")], "not a readable .npy")


def test_pickle_in_pt_without_torch_or_refused(capsys, tmp_path):
    (tmp_path / "x.pt").write_bytes(pickle.dumps(object))
    line = assert_user_error(capsys, ["estimate", str(tmp_path / "x.pt")])
    assert "torch" in line


@pytest.mark.parametrize(("value", "word"), [(np.nan, "NaN"), (np.inf, "+inf")])
def test_nan_and_inf_logits(capsys, tmp_path, value, word):
    x = Z.copy()
    x[7, 11] = value
    np.save(tmp_path / "b.npy", x)
    assert_user_error(capsys, ["estimate", str(tmp_path / "b.npy"), "--kind", "logits"], "row 7", word)


def test_nan_in_float16(capsys, tmp_path):
    x = Z.astype(np.float16)
    x[4, 0] = np.nan
    np.save(tmp_path / "b.npy", x)
    assert_user_error(capsys, ["estimate", str(tmp_path / "b.npy"), "--kind", "logits"], "row 4", "NaN")


def test_row_all_neg_inf(capsys, tmp_path):
    x = Z.copy()
    x[5] = -np.inf
    np.save(tmp_path / "b.npy", x)
    assert_user_error(capsys, ["estimate", str(tmp_path / "b.npy"), "--kind", "logits"], "row 5", "no finite entry")


def test_probabilities_outside_unit_interval(capsys, tmp_path):
    p = np.full((4, 10), 0.1)
    p[2, 0] = 1.5
    p[2, 1] = -0.4
    np.save(tmp_path / "p.npy", p)
    assert_user_error(capsys, ["estimate", str(tmp_path / "p.npy"), "--kind", "probs"], "row 2", "outside [0, 1]")


def test_probabilities_not_summing_to_one(capsys, tmp_path):
    p = np.full((4, 10), 0.1)
    p[1, :5] = 0.05
    np.save(tmp_path / "p.npy", p)
    line = assert_user_error(capsys, ["estimate", str(tmp_path / "p.npy"), "--kind", "probs"], "row 1", "sum to 1")
    assert "tolerance 0.0001" in line


def test_logprobs_not_normalised(capsys, tmp_path):
    lp = np.log(np.full((3, 10), 0.05))
    np.save(tmp_path / "l.npy", lp)
    assert_user_error(capsys, ["estimate", str(tmp_path / "l.npy"), "--kind", "logprobs"], "row 0", "sum to 1")


def test_logprobs_above_zero(capsys, tmp_path):
    lp = np.log(np.full((3, 10), 0.1))
    lp[1, 2] = 0.5
    np.save(tmp_path / "l.npy", lp)
    assert_user_error(capsys, ["estimate", str(tmp_path / "l.npy"), "--kind", "logprobs"], "row 1", "above 0")


@pytest.mark.parametrize("shape", [(10,), (2, 3, 4)])
def test_wrong_number_of_dimensions(capsys, tmp_path, shape):
    np.save(tmp_path / "d.npy", np.zeros(shape))
    assert_user_error(capsys, ["estimate", str(tmp_path / "d.npy"), "--kind", "logits"], "2-D")


def test_empty_file(capsys, tmp_path):
    (tmp_path / "e.npy").write_bytes(b"")
    assert_user_error(capsys, ["estimate", str(tmp_path / "e.npy")], "empty")
    (tmp_path / "e.jsonl").write_text("\n\n")
    assert_user_error(capsys, ["estimate", str(tmp_path / "e.jsonl"), "--vocab-size", "10"], "empty")


def test_zero_rows(capsys, tmp_path):
    np.save(tmp_path / "z.npy", np.zeros((0, 5)))
    assert_user_error(capsys, ["estimate", str(tmp_path / "z.npy"), "--kind", "logits"], "no rows")


def test_unknown_jsonl_layout(capsys, tmp_path):
    (tmp_path / "u.jsonl").write_text(json.dumps({"foo": [1, 2]}) + "\n")
    assert_user_error(capsys, ["estimate", str(tmp_path / "u.jsonl"), "--vocab-size", "10"], "line 1", "layout")


def test_jsonl_truncated_last_line(capsys, tmp_path):
    good = {"meta_info": {"output_top_logprobs": [[[-0.5, 1, None], [-1.2, 2, None]]]}}
    (tmp_path / "t.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(good)[:20])
    assert_user_error(capsys, ["estimate", str(tmp_path / "t.jsonl"), "--vocab-size", "10"], "line 2", "not valid JSON")


def test_jsonl_needs_vocab_size(capsys, tmp_path):
    good = {"meta_info": {"output_top_logprobs": [[[-0.5, 1, None]]]}}
    (tmp_path / "s.jsonl").write_text(json.dumps(good) + "\n")
    assert_user_error(capsys, ["estimate", str(tmp_path / "s.jsonl")], "--vocab-size")


@pytest.mark.parametrize("t", ["-1", "0"])
def test_temperature_not_positive_without_full_logits(capsys, tmp_path, t):
    lp = np.log(np.array([[0.5, 0.2, 0.1]]))
    np.save(tmp_path / "k.npy", lp)
    line = assert_user_error(
        capsys, ["estimate", str(tmp_path / "k.npy"), "--kind", "logprobs", "--vocab-size", "100", "--temperature", t]
    )
    assert "temperature" in line


def test_negative_temperature_with_full_logits(capsys, logits_file):
    assert_user_error(capsys, ["estimate", logits_file, "--kind", "logits", "--temperature", "-0.5"], "temperature")


def test_topk_mass_cannot_fit_vocabulary(capsys, tmp_path):
    lp = np.log(np.array([[0.3, 0.2, 0.01]]))
    np.save(tmp_path / "k.npy", lp)
    assert_user_error(
        capsys, ["estimate", str(tmp_path / "k.npy"), "--kind", "logprobs", "--vocab-size", "5"], "vocab-size"
    )


def test_ambiguous_kind_asks_for_kind(capsys, tmp_path):
    np.save(tmp_path / "a.npy", -np.abs(Z))
    assert_user_error(capsys, ["estimate", str(tmp_path / "a.npy")], "--kind")


def test_bad_flag_values(capsys, logits_file):
    assert_user_error(capsys, ["estimate", logits_file, "--vocab-size", "-3"], "positive integer")
    assert_user_error(capsys, ["estimate", logits_file, "--temperature", "nan"], "finite")
    assert_user_error(capsys, ["estimate", logits_file, "--kind", "weird"], "invalid choice")
    assert_user_error(capsys, ["estimate", logits_file, "--confidence", "1.5", "--kind", "logits"], "confidence")


def test_unknown_suffix(capsys, tmp_path):
    (tmp_path / "x.txt").write_text("1 2 3")
    assert_user_error(capsys, ["estimate", str(tmp_path / "x.txt")], "unknown file type")


def test_no_command_prints_help(capsys):
    code, out, _ = run(capsys)
    assert code == 2
    assert "estimate" in out


def test_truncated_npz(capsys, tmp_path):
    np.savez(tmp_path / "a.npz", logits=Z)
    data = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "a.npz").write_bytes(data[: len(data) // 2])
    assert_user_error(capsys, ["estimate", str(tmp_path / "a.npz"), "--kind", "logits"], "a.npz")


def test_truncated_compressed_npz_member(capsys, tmp_path):
    np.savez_compressed(tmp_path / "c.npz", logits=Z)
    data = bytearray((tmp_path / "c.npz").read_bytes())
    data[200:260] = b"\x00" * 60  # damage the deflate stream
    (tmp_path / "c.npz").write_bytes(bytes(data))
    assert_user_error(capsys, ["estimate", str(tmp_path / "c.npz"), "--kind", "logits"], "c.npz")


def test_truncated_safetensors(capsys, tmp_path):
    from safetensors.numpy import save_file

    save_file({"logits": Z.astype(np.float32)}, str(tmp_path / "s.safetensors"))
    data = (tmp_path / "s.safetensors").read_bytes()
    (tmp_path / "s.safetensors").write_bytes(data[:-100])
    assert_user_error(capsys, ["estimate", str(tmp_path / "s.safetensors"), "--kind", "logits"], "truncated")
    (tmp_path / "g.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    assert_user_error(capsys, ["estimate", str(tmp_path / "g.safetensors")], "not valid JSON")


def test_json_output_is_strict_json(capsys, tmp_path):
    np.save(tmp_path / "one.npy", np.array([[0.0, 1.0, 2.0]]))
    code, out, _ = run(capsys, "estimate", str(tmp_path / "one.npy"), "--kind", "logits", "--json")
    assert code == 0
    d = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert d["mu_se"] is None


def test_pt_without_torch_says_how_to_install(capsys, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    (tmp_path / "x.pt").write_bytes(b"PK\x03\x04 not really")
    line = assert_user_error(capsys, ["estimate", str(tmp_path / "x.pt")], "needs torch")
    assert "speedoflight[model]" in line


def test_written_files_get_the_usual_permissions(capsys, logits_file, tmp_path):
    out_path = tmp_path / "rows.csv"
    assert run(capsys, "estimate", logits_file, "--kind", "logits", "--per-row", str(out_path))[0] == 0
    umask = os.umask(0)
    os.umask(umask)
    assert (out_path.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_dump_refuses_rescaling(capsys, tmp_path):
    from .test_readers import make_dump

    make_dump(tmp_path / "d.npz")
    assert_user_error(capsys, ["estimate", str(tmp_path / "d.npz"), "--temperature", "0.7"], "re-dump")


def test_the_command_exits_with_its_status_and_its_whole_output():
    """run() skips Python's teardown after the exit handlers, and only where no thread is left to wait for."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    ok = subprocess.run([sys.executable, "-m", "speedoflight", "estimate", "data/smollm2-t1.npz", "--json"],
                        cwd=root, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["mu"] > 0  # all of it, flushed
    bad = subprocess.run([sys.executable, "-m", "speedoflight", "estimate", "no-such.npz"],
                         cwd=root, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1
    code = (
        "import atexit, sys, threading, time\n"
        "atexit.register(lambda: print('exit handler', flush=True))\n"
        "threading.Thread(target=lambda: (time.sleep(0.5), print('thread done', flush=True))).start()\n"
        "sys.argv = ['speedoflight', '--version']\n"
        "from speedoflight.cli.app import run\n"
        "run()\n"
    )
    waited = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert waited.returncode == 0
    assert waited.stdout.splitlines()[-2:] == ["thread done", "exit handler"]  # the usual exit: the thread first
