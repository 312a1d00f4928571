"""The catalogue of hostile inputs: every case gives one clear line, exit code 2, no traceback, and loses nothing.

Each case builds its inputs in a scratch folder, snapshots the folder (names, kinds, bytes, permissions), runs
the CLI, and checks the answer and that the folder is exactly as it was: nothing written, nothing lost. Cases
that must succeed on a hostile setting (an ``--out`` folder holding the user's files, racing writers) are below
the table.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from speedoflight._util.atomic import atomic_dir, atomic_path
from speedoflight.cli.app import main
from speedoflight.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_PAIR = ROOT / "data" / "pair"
PAIR_T = str(SHIPPED_PAIR / "smollm2-t1.npz")
PAIR_D = str(SHIPPED_PAIR / "smollm2-t1-early-exit-8.npz")
DUMP = str(ROOT / "data" / "smollm2-t1.npz")
GEMMA = str(ROOT / "data" / "gemma3-270m-t1-x8.npz")
#: A speculation profile (K = 2: P(X >= 1, 2) = 0.5, 0.25, AL = 1.75), as `export` writes and reads them.
_PROFILE = (
    '{"schema_version": "1.0", "measured": true, "num_speculative_tokens": 2, "marginal_accept_rates": [0.5, 0.25], '
    '"conditional_accept_rates": [0.5, 0.5], "mean_accept_length": 1.75}'
)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry below ``folder``: kind, permissions, and a file's bytes (hash)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            digest = ""
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(Path(p).read_bytes()).hexdigest()
            out[os.path.relpath(p, folder)] = (kind, stat.S_IMODE(st.st_mode), digest)
    return out


def _logits(tmp: Path) -> str:
    np.save(tmp / "z.npy", np.random.default_rng(0).normal(size=(20, 30)))
    return str(tmp / "z.npy")


def _fifo(tmp: Path, name: str) -> str:
    p = tmp / name
    os.mkfifo(p)
    return str(p)


def _folder(tmp: Path, name: str) -> str:
    p = tmp / name
    p.mkdir()
    (p / "keep.txt").write_text("the user's file\n")
    return str(p)


def _file(tmp: Path, name: str, text: str = "the user's file\n") -> str:
    p = tmp / name
    p.write_text(text)
    return str(p)


def _npy(tmp: Path, name: str, rows: list[list[float]]) -> str:
    np.save(tmp / name, np.array(rows))
    return str(tmp / name)


def _link(tmp: Path, name: str, to: str) -> str:
    (tmp / name).symlink_to(to)
    return str(tmp / name)


def _safetensors(tmp: Path, name: str, header: object, data: bytes = b"") -> str:
    import json
    import struct

    h = json.dumps(header).encode()
    (tmp / name).write_bytes(struct.pack("<Q", len(h)) + h + data)
    return str(tmp / name)


def _zip_patched(tmp: Path, name: str, *, method: int | None = None, flag: int | None = None) -> str:
    """An .npz whose member's compression method or flags are rewritten in both zip headers."""
    import struct

    np.savez(tmp / "ok.npz", logits=np.zeros((3, 4)))
    b = bytearray((tmp / "ok.npz").read_bytes())
    (tmp / "ok.npz").unlink()
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        j = b.find(sig)
        if flag is not None:
            b[j + off : j + off + 2] = struct.pack("<H", flag)
        if method is not None:
            b[j + off + 2 : j + off + 4] = struct.pack("<H", method)
    (tmp / name).write_bytes(bytes(b))
    return str(tmp / name)


def _dump_with_meta(tmp: Path, name: str, **changes: object) -> str:
    """The shipped SmolLM2 dump with its metadata changed (None removes a key)."""
    import json

    with np.load(DUMP) as z:
        arrays = {k: np.asarray(z[k]) for k in z.files if k != "metadata"}
        meta = json.loads(str(z["metadata"]))
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    np.savez(tmp / name, metadata=np.array(json.dumps(meta)), **arrays)
    return str(tmp / name)


def _oracle_with_list_metadata(tmp: Path) -> str:
    np.savez(
        tmp / "o.npz",
        curves=np.zeros((2, 4)),
        depths=np.zeros((2, 4)),
        kinds=np.array(["a", "b"]),
        metadata=np.array("[1, 2]"),
    )
    return str(tmp / "o.npz")


def _dump_without(tmp: Path, member: str) -> str:
    import json

    with np.load(DUMP) as z:
        arrays = {k: np.asarray(z[k]) for k in z.files if k != member}
        meta = str(z["metadata"])
    arrays["metadata"] = np.array(json.loads(meta) and meta)
    np.savez(tmp / "lacking.npz", **arrays)
    return str(tmp / "lacking.npz")


def _scaling_csv(tmp: Path) -> str:
    return _file(tmp, "law.csv", "x,y\n1,0.1\n2,0.2\n4,0.3\n8,0.35\n")


# (id, builder of argv from the scratch folder, words the one line must contain)
CASES: list[tuple[str, Callable[[Path], list[str]], tuple[str, ...]]] = [
    # --- outputs that are not regular files: folders, FIFOs, devices ---
    ("per-row onto a folder", lambda t: ["estimate", _logits(t), "--per-row", _folder(t, "d.csv")], ("folder",)),
    ("per-row onto a FIFO", lambda t: ["estimate", _logits(t), "--per-row", _fifo(t, "f.csv")], ("regular file",)),
    (
        "per-row onto a device",
        lambda t: ["estimate", _logits(t), "--per-row", _link(t, "dev.csv", "/dev/null")],
        ("is a link to /dev/null",),
    ),
    ("per-row as a bare device", lambda t: ["estimate", _logits(t), "--per-row", "/dev/null"], (".csv", ".npz")),
    (
        "export-tree onto a folder",
        lambda t: ["simulate", "--family", "uniform:4", "--pmax", "8", "--export-tree", _folder(t, "tree.json")],
        ("folder",),
    ),
    (
        "optimum --out onto a FIFO",
        lambda t: ["optimum", "--dump", "x.npz", "--out", _fifo(t, "o.npz")],
        ("regular file",),
    ),
    (
        "oracle --out onto a folder",
        lambda t: ["oracle", "--model", "smollm2", "--prompts", "p.jsonl", "--pmax", "4", "--out", _folder(t, "o.npz")],
        ("folder",),
    ),
    (
        "dump --out onto a FIFO",
        lambda t: ["dump", "--model", "smollm2", "--prompts", "p.jsonl", "--out", _fifo(t, "d.npz")],
        ("regular file",),
    ),
    (
        "measure --out onto a folder",
        lambda t: ["measure", "--model", "smollm2", "--prompts", "p.jsonl", "--out", _folder(t, "m.jsonl")],
        ("folder",),
    ),
    (
        "scaling --table-out onto a FIFO",
        lambda t: ["scaling", "--pairs", str(SHIPPED_PAIR / "smollm2-t1.npz"), "--table-out", _fifo(t, "t.csv")],
        ("regular file",),
    ),
    (
        "markov --plot onto a folder",
        lambda t: ["markov", "--target", "a.npz", "--draft", "b.npz", "--plot", _folder(t, "front.png")],
        ("folder",),
    ),
    # --- unknown extensions, refused before any work ---
    ("per-row as parquet", lambda t: ["estimate", _logits(t), "--per-row", str(t / "rows.parquet")], (".csv", ".npz")),
    (
        "plot as gif",
        lambda t: ["scaling", "--from", _scaling_csv(t), "--x", "x", "--plot", str(t / "law.gif")],
        (".png", ".pdf", ".svg"),
    ),
    (
        "export-tree as txt",
        lambda t: ["simulate", "--family", "uniform:4", "--pmax", "8", "--export-tree", str(t / "tree.txt")],
        (".json",),
    ),
    ("optimum --out as csv", lambda t: ["optimum", "--dump", "x.npz", "--out", str(t / "o.csv")], (".npz",)),
    ("table-out as xlsx", lambda t: ["scaling", "--pairs", "x.npz", "--table-out", str(t / "t.xlsx")], (".csv",)),
    # --- missing parent folders, refused before any work ---
    (
        "plot into a missing folder",
        lambda t: ["scaling", "--from", _scaling_csv(t), "--x", "x", "--plot", str(t / "no" / "law.png")],
        ("does not exist",),
    ),
    (
        "markov plot into a missing folder",
        lambda t: ["markov", "--target", "a.npz", "--draft", "b.npz", "--plot", str(t / "no" / "front.png")],
        ("does not exist",),
    ),
    (
        "export-tree into a missing folder",
        lambda t: ["simulate", "--family", "uniform:4", "--pmax", "8", "--export-tree", str(t / "no" / "t.json")],
        ("does not exist",),
    ),
    (
        "compare --out in a missing folder",
        lambda t: ["compare", "--dump", "x.npz", "--measured", "m.csv", "--out", str(t / "no" / "cmp")],
        ("does not exist",),
    ),
    # --- seeds: validated in one place (the CLI's seed type), for every command ---
    *[
        (f"{cmd[0]} --seed -1", (lambda c: lambda t: [*c, "--seed", "-1"])(cmd), ("seed", "-1"))
        for cmd in [
            ["estimate", "z.npy"],
            ["bound", "--mu", "2", "--mu2", "8", "-P", "64"],
            ["simulate", "--family", "uniform:4", "--pmax", "8"],
            ["compare", "--dump", "x.npz", "--measured", "m.csv"],
            ["optimum", "--dump", "x.npz"],
            ["classic", "--target", "a.npz", "--draft", "b.npz", "--gamma", "2"],
            ["markov", "--target", "a.npz", "--draft", "b.npz"],
            ["report"],
        ]
    ],
    (
        "seed above 2**63",
        lambda t: ["simulate", "--family", "uniform:4", "--pmax", "8", "--seed", str(2**64)],
        ("seed",),
    ),
    # --- hardware flags: zero, negative or infinite rates ---
    (
        "bandwidth 0",
        lambda t: [
            "compare",
            "--dump",
            "x.npz",
            "--measured",
            "m.csv",
            "--gpu",
            "h100-sxm",
            "--params",
            "8e9",
            "--bandwidth",
            "0",
        ],
        ("--bandwidth", "> 0"),
    ),
    (
        "flops negative",
        lambda t: ["compare", "--dump", "x.npz", "--measured", "m.csv", "--flops=-1e15"],
        ("--flops", "> 0"),
    ),
    ("params inf", lambda t: ["report", "--params", "inf"], ("--params",)),
    (
        "draft-ms negative",
        lambda t: ["compare", "--dump", "x.npz", "--measured", "m.csv", "--draft-ms=-3"],
        ("--draft-ms", ">= 0"),
    ),
    # --- memory and time bounded before allocating, never by a mistyped number ---
    ("bound -P with 1e9 points", lambda t: ["bound", "--mu", "2", "--mu2", "8", "-P", "1:1e6:1e9"], ("at most",)),
    (
        "classic --gamma 1e9",
        lambda t: ["classic", "--target", PAIR_T, "--draft", PAIR_D, "--gamma", "1000000000"],
        ("drafts must fit",),
    ),
    (
        "classic --gamma-max 1e8",
        lambda t: ["classic", "--target", PAIR_T, "--draft", PAIR_D, "--gamma", "4", "--gamma-max", "100000000"],
        ("--gamma-max", "at most"),
    ),
    (
        "classic --simulate 1e11",
        lambda t: ["classic", "--target", PAIR_T, "--draft", PAIR_D, "--gamma", "4", "--simulate", "100000000000"],
        ("--simulate",),
    ),
    (
        "simulate --replicates 1e8",
        lambda t: ["simulate", "--family", "uniform:4", "--pmax", "100", "--replicates", "100000000"],
        ("--replicates", "gib"),
    ),
    (
        "simulate --replicates x --pmax past the work limit",
        lambda t: ["simulate", "--family", "uniform:4", "--pmax", "10000000", "--replicates", "5000"],
        ("minutes",),
    ),
    (
        "simulate --family uniform:1e12",
        lambda t: ["simulate", "--family", "uniform:1e12", "--pmax", "10"],
        ("--family",),
    ),
    (
        "--vocab-size as wide as the rows, rows not summing to 1",
        lambda t: ["estimate", _npy(t, "two.npy", [[0.2, 0.3], [0.5, 0.2]]), "--kind", "probs", "--vocab-size", "2"],
        ("--vocab-size", "whole distribution"),
    ),
    ("simulate --at 1e30", lambda t: ["simulate", "--family", "uniform:4", "--pmax", "10", "-P", "1e30"], ("-P",)),
    (
        "simulate --at 1e3000",
        lambda t: ["simulate", "--family", "uniform:4", "--pmax", "10", "-P", "1e3000"],
        ("-P",),
    ),
    (
        "simulate --pool-rows 0",
        lambda t: ["simulate", "--pool", DUMP, "--pmax", "8", "--pool-rows", "0"],
        ("--pool-rows",),
    ),
    ("estimate --bootstrap 2e9", lambda t: ["estimate", "z.npy", "--bootstrap", "2000000000"], ("--bootstrap",)),
    (
        "hierarchy --simulate 1e11",
        lambda t: [
            "hierarchy",
            "--alphas",
            "0.5,0.5,0.5",
            "--cost-draft",
            "0.1",
            "--cost-intermediate",
            "0.3",
            "--simulate",
            "100000000000",
        ],
        ("--simulate",),
    ),
    (
        "a CSV count of 1e12",
        lambda t: ["compare", "--dump", DUMP, "--measured", _file(t, "m.csv", "accepted\n0\n1e12\n")],
        ("not a plausible count",),
    ),
    (
        "a Spec-Bench length of 1e12",
        lambda t: [
            "compare",
            "--dump",
            DUMP,
            "--measured",
            _file(t, "sb.jsonl", '{"question_id": 1, "choices": [{"accept_lengths": [1, 1000000000000]}]}\n'),
        ],
        ("not a plausible count",),
    ),
    # --- silent wrong results, now refused ---
    ("dumps of two vocabularies", lambda t: ["estimate", DUMP, GEMMA], ("vocabulary", "cannot be pooled")),
    ("bound --from two vocabularies", lambda t: ["bound", "--from", DUMP, GEMMA], ("vocabulary",)),
    (
        "scaling with a constant x",
        lambda t: ["scaling", "--from", _file(t, "c.csv", "x,y\n5,0.1\n5,0.2\n5,0.3\n5,0.4\n"), "--x", "x", "--y", "y"],
        ("no slope",),
    ),
    (
        "scaling with proportional x columns",
        lambda t: [
            "scaling",
            "--from",
            _file(t, "c.csv", "a,b,y\n1,2,0.1\n2,4,0.2\n4,8,0.3\n8,16,0.4\n16,32,0.5\n"),
            "--x",
            "a,b",
            "--y",
            "y",
            "--joint",
        ],
        ("cannot be told apart",),
    ),
    # --- damaged or hostile files: one line, never a traceback ---
    *[
        (
            f"safetensors: {what}",
            (lambda h, d: lambda t: ["estimate", _safetensors(t, "x.safetensors", h, d), "--kind", "logits"])(
                header, data
            ),
            words,
        )
        for what, header, data, words in [
            ("a list as the header", [1, 2], b"", ("not a json object",)),
            ("a non-object entry", {"x": 5}, b"", ("not an object",)),
            ("no data_offsets", {"x": {"dtype": "F32", "shape": [2, 2]}}, b"", ("data_offsets",)),
            (
                "string data_offsets",
                {"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": "0,16"}},
                b"",
                ("data_offsets",),
            ),
            (
                "negative offsets",
                {"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [-16, 0]}},
                b"\0" * 16,
                ("data_offsets",),
            ),
            (
                "a negative shape",
                {"x": {"dtype": "F32", "shape": [-2, 2], "data_offsets": [0, 16]}},
                b"\0" * 16,
                ("shape",),
            ),
            (
                "offsets past the file",
                {"x": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}},
                b"\0" * 16,
                ("byte range",),
            ),
        ]
    ],
    (
        "npz: an unsupported compression",
        lambda t: ["estimate", _zip_patched(t, "m.npz", method=97), "--kind", "logits"],
        ("compression method",),
    ),
    (
        "npz: an encrypted member",
        lambda t: ["estimate", _zip_patched(t, "e.npz", flag=1), "--kind", "logits"],
        ("encrypted",),
    ),
    (
        "dump metadata without vocab_size",
        lambda t: ["estimate", _dump_with_meta(t, "d.npz", vocab_size=None)],
        ("vocab_size",),
    ),
    (
        "dump metadata with a text vocab_size",
        lambda t: ["estimate", _dump_with_meta(t, "d.npz", vocab_size="big")],
        ("vocab_size",),
    ),
    (
        "JSON nested 200,000 deep",
        lambda t: ["compare", "--dump", DUMP, "--measured", _file(t, "n.jsonl", "[" * 200000 + "]" * 200000 + "\n")],
        ("json",),
    ),
    (
        "JSON integer of 5,000 digits",
        lambda t: ["compare", "--dump", DUMP, "--measured", _file(t, "i.jsonl", '{"accepted": 1' + "0" * 5000 + "}\n")],
        ("json",),
    ),
    (
        "JSON float of 400 digits",
        lambda t: [
            "compare",
            "--dump",
            DUMP,
            "--measured",
            _file(t, "f.jsonl", '{"accepted": 1' + "0" * 400 + ".5}\n"),
        ],
        ("finite",),
    ),
    (
        "llama.cpp number 1.2.3",
        lambda t: [
            "compare",
            "--dump",
            DUMP,
            "--measured",
            _file(t, "l.log", "slot 0: draft acceptance rate = 1.2.3 (3 accepted / 5 generated)\n"),
        ],
        ("1.2.3",),
    ),
    (
        "oracle metadata as a list",
        lambda t: ["evidence", "--oracle", _oracle_with_list_metadata(t), "--oracle-dump", DUMP],
        ("not a speedoflight oracle file",),
    ),
    # --- messages that used to mislead ---
    ("scaling --pairs on a missing file", lambda t: ["scaling", "--pairs", str(t / "missing.npz")], ("no such file",)),
    (
        "a dump that lacks an array",
        lambda t: ["estimate", _dump_without(t, "entropy")],
        ("'entropy';",),
    ),
    # --- log readers: counts and rates no run can produce ---
    *[
        (
            f"vLLM log: {what}",
            (lambda text: lambda t: ["compare", "--dump", DUMP, "--measured", _file(t, "v.log", text + "\n")])(line),
            words,
        )
        for what, line, words in [
            (
                "a NaN mean acceptance length",
                "SpecDecoding metrics: Mean acceptance length: nan, Accepted: 30 tokens, Drafted: 60 tokens, "
                "Per-position acceptance rate: 0.500, 0.300, 0.200",
                ("not a finite number",),
            ),
            (
                "rates of 2.0 and -1.0",
                "SpecDecoding metrics: Mean acceptance length: 2.00, Accepted: 30 tokens, Drafted: 60 tokens, "
                "Per-position acceptance rate: 2.0, -1.0, 0.5",
                ("outside [0, 1]",),
            ),
            (
                "rates growing with the position",
                "SpecDecoding metrics: Mean acceptance length: 1.50, Accepted: 30 tokens, Drafted: 60 tokens, "
                "Per-position acceptance rate: 0.2, 0.3, 0.1",
                ("grow with the position",),
            ),
            (
                "an infinite count",
                "SpecDecoding metrics: Mean acceptance length: inf, Accepted: inf tokens, Drafted: 60 tokens",
                ("finite",),
            ),
            (
                "a negative count",
                "SpecDecoding metrics: Mean acceptance length: 1.50, Accepted: -30 tokens, Drafted: 60 tokens",
                ("accepted",),
            ),
            (
                "more accepted than drafted",
                "SpecDecoding metrics: Accepted: 90 tokens, Drafted: 60 tokens, "
                "Per-position acceptance rate: 0.5, 0.5, 0.5",
                ("drafted",),
            ),
        ]
    ],
    # --- found by trying what users type (each already one line; kept here so it stays so) ---
    ("--confidence 1.5", lambda t: ["estimate", DUMP, "--confidence", "1.5"], ("--confidence",)),
    ("--temperature nan", lambda t: ["estimate", DUMP, "--temperature", "nan"], ("--temperature",)),
    ("--tensor on a dump", lambda t: ["estimate", DUMP, "--tensor", "logits"], ("--tensor",)),
    ("optimum --positions 1e3", lambda t: ["optimum", "--dump", DUMP, "--positions", "1e3"], ("--positions",)),
    ("optimum on a folder", lambda t: ["optimum", "--dump", _folder(t, "d")], ("dump",)),
    ("an empty measured file", lambda t: ["compare", "--dump", DUMP, "--measured", _file(t, "e.csv", "")], ("empty",)),
    (
        "a measured CSV with a header only",
        lambda t: ["compare", "--dump", DUMP, "--measured", _file(t, "h.csv", "accepted\n")],
        ("no records",),
    ),
    ("mu2 below mu squared", lambda t: ["bound", "--mu", "2", "--mu2", "3"], ("mu^2",)),
    ("-P 0", lambda t: ["bound", "--mu", "2", "--mu2", "8", "-P", "0"], ("-P",)),
    (
        "scaling on two points",
        lambda t: ["scaling", "--from", _file(t, "two.csv", "x,y\n1,2\n2,3\n"), "--x", "x", "--y", "y"],
        ("at least 3",),
    ),
    (
        "an acceptance above 1",
        lambda t: ["hierarchy", "--alphas", "1.5,0.5,0.5", "--cost-draft", "0.1", "--cost-intermediate", "0.3"],
        ("[0, 1]",),
    ),
    (
        "a dirichlet over 1e12 tokens",
        lambda t: ["simulate", "--family", "dirichlet:1:1e12", "--pmax", "8"],
        ("--family",),
    ),
    (
        "a dump given as an oracle",
        lambda t: ["evidence", "--oracle", DUMP, "--oracle-dump", DUMP],
        ("not a speedoflight oracle",),
    ),
    (
        "positional acceptance summing above 1",
        lambda t: ["tree", "--acceptance", "0.7,0.6", "--pmax", "10"],
        ("sums",),
    ),
    (
        "markov across two models",
        lambda t: ["markov", "--target", DUMP, "--draft", GEMMA],
        ("positions",),
    ),
    # --- export: the what-if profile ---
    (
        "export -K past the logged continuations",
        lambda t: ["export", "--dump", GEMMA, "-K", "33", "--out", str(t / "p.json")],
        ("-K 33", "longest holds 32"),
    ),
    (
        "export --out onto its own input",
        lambda t: ["export", "--measured", _file(t, "p.json", _PROFILE), "--out", str(t / "p.json")],
        ("would replace your data",),
    ),
    (
        "export for an unknown engine",
        lambda t: ["export", "--measured", _file(t, "p.json", _PROFILE), "--engine", "tgi"],
        ("--engine",),
    ),
    (
        "export of a mean without positions",
        lambda t: [
            "export",
            "--measured",
            _file(t, "answer.json", '{"timings": {"draft_n": 40, "draft_n_accepted": 20, "predicted_n": 60}}'),
            "--out",
            str(t / "p.json"),
        ],
        ("not per draft position",),
    ),
    # --- output folders that are files: refused at once, not after the computation ---
    ("report --out onto a file", lambda t: ["report", "--out", _file(t, "report")], ("not a folder",)),
    (
        "compare --out onto a file",
        lambda t: ["compare", "--dump", "x.npz", "--measured", "m.csv", "--out", _file(t, "cmp")],
        ("not a folder",),
    ),
    (
        "evidence --out onto a file",
        lambda t: ["evidence", "--oracle", "o.npz", "--oracle-dump", "p.npz", "--out", _file(t, "ev")],
        ("not a folder",),
    ),
]


@pytest.mark.parametrize(("argv_of", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input(tmp_path, capsys, monkeypatch, argv_of, words):
    monkeypatch.chdir(tmp_path)
    argv = argv_of(tmp_path)
    before = snapshot(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (out, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("speedoflight: error:")
    assert "Traceback" not in err
    for w in words:
        assert w.lower() in lines[0].lower(), (w, lines[0])
    assert snapshot(tmp_path) == before, "the run wrote or removed something"


# --- outputs onto folders that hold the user's files ------------------------------------------------------


def _binary_dump(tmp: Path) -> str:
    rows = np.zeros((64, 8))
    rows[:, :2] = 0.5
    np.save(tmp / "binary.npy", rows)
    return str(tmp / "binary.npy")


def test_compare_out_into_a_folder_with_the_users_files(tmp_path, capsys, monkeypatch):
    """--out . writes the command's three files and touches nothing else: not the user's files, not the mode."""
    monkeypatch.chdir(tmp_path)
    dump = _binary_dump(tmp_path)
    _file(tmp_path, "m.csv", "accepted\n0\n1\n1\n0\n")
    _file(tmp_path, "notes.txt", "mine\n")
    _file(tmp_path, "compare.md", "an old compare.md, to be replaced\n")
    (tmp_path / "sub").mkdir()
    _file(tmp_path / "sub", "data.bin", "x" * 100)
    os.chmod(tmp_path, 0o755)
    before = snapshot(tmp_path)
    code = main(
        [
            "compare",
            "--dump",
            dump,
            "--measured",
            "m.csv",
            "--tree-size",
            "2",
            "--pmax",
            "16",
            "--replicates",
            "4",
            "--out",
            ".",
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr()
    after = snapshot(tmp_path)
    for name, entry in before.items():
        if name != "compare.md":
            assert after[name] == entry, name
    assert set(after) - set(before) == {"compare.json", "compare.png"}
    assert "fraction of optimum" in (tmp_path / "compare.md").read_text()
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o755
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


def test_a_new_out_folder_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "new") as tmp:
            Path(tmp, "a.txt").write_text("a")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "a.txt").st_mode) == 0o644


def test_a_failed_run_leaves_the_folder_as_it_was(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    _file(target, "report.md", "old\n")
    before = snapshot(tmp_path)

    def run() -> None:
        with atomic_dir(target) as tmp:
            Path(tmp, "report.md").write_text("new\n")
            raise RuntimeError("the computation failed")

    with pytest.raises(RuntimeError, match="failed"):
        run()
    assert snapshot(tmp_path) == before


def test_atomic_path_refuses_special_files_and_follows_links(tmp_path):
    fifo = _fifo(tmp_path, "f.txt")
    with pytest.raises(InputError, match="regular file"), atomic_path(fifo):
        pass
    real = _file(tmp_path, "real.txt", "old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    with atomic_path(link) as tmp:
        Path(tmp).write_text("new")
    assert link.is_symlink()
    assert Path(real).read_text() == "new"


# --- racing writers -----------------------------------------------------------------------------------------


def _race_writer(target: str, tag: int, barrier: Any) -> None:
    barrier.wait()
    with atomic_dir(target) as tmp:
        for name in ("a.md", "b.json", "c.png"):
            Path(tmp, name).write_text(f"{tag}\n" * 1000)


@pytest.mark.parametrize("exists", [False, True], ids=["new folder", "existing folder"])
def test_racing_writers_each_leave_a_complete_set_and_no_debris(tmp_path, exists):
    """Processes released together onto one --out folder: one complete set at the end, every run succeeds."""
    target = tmp_path / "out"
    if exists:
        target.mkdir()
        _file(target, "keep.txt", "mine\n")
    ctx = multiprocessing.get_context("fork")
    for _round in range(4):
        barrier = ctx.Barrier(8)
        procs = [ctx.Process(target=_race_writer, args=(str(target), i, barrier)) for i in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 8
        texts = {Path(target, n).read_text() for n in ("a.md", "b.json", "c.png")}
        assert len(texts) == 1, "the folder mixes two runs' files"
        assert text_is_whole(texts.pop())
        assert not [n for n in os.listdir(tmp_path) if n != "out"], os.listdir(tmp_path)
        assert not [n for n in os.listdir(target) if n.startswith(".tmp-")]
    if exists:
        assert (target / "keep.txt").read_text() == "mine\n"


def text_is_whole(text: str) -> bool:
    lines = text.splitlines()
    return len(lines) == 1000 and len(set(lines)) == 1


# --- byte-order marks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("m.csv", "accepted,tree_size\n0,4\n1,4\n2,4\n3,4\n"),
        (
            "m.jsonl",
            '{"accepted": 0, "tree_size": 4}\n{"accepted": 2, "tree_size": 4}\n{"accepted": 3, "tree_size": 4}\n',
        ),
    ],
)
def test_a_byte_order_mark_is_not_text(tmp_path, name, text):
    """A UTF-8 BOM (as Windows editors and Excel write) reads exactly like the same file without one."""
    from speedoflight.logs.acceptance import read_acceptance

    plain, marked = tmp_path / name, tmp_path / ("bom-" + name)
    plain.write_text(text, encoding="utf-8")
    marked.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    a, b = read_acceptance(str(plain)), read_acceptance(str(marked))
    assert [(m.mean_accepted, m.P) for m in a] == [(m.mean_accepted, m.P) for m in b]


def test_a_byte_order_mark_in_a_table(tmp_path):
    from speedoflight.formats.tables import read_table

    p = tmp_path / "t.csv"
    p.write_bytes(b"\xef\xbb\xbfx,y\n1,2\n3,4\n")
    cols = read_table(str(p))
    assert list(cols) == ["x", "y"]


# --- byte order and memory layout -----------------------------------------------------------------------------


def _mu(capsys, path: str) -> float:
    import json

    assert main(["estimate", path, "--kind", "logits", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["mu"]


@pytest.mark.parametrize("dtype", ["<f8", ">f8", ">f4", "<f4", ">f2"])
@pytest.mark.parametrize("container", ["npy", "npz", "npz-compressed"])
def test_big_endian_files_read_like_little_endian_ones(tmp_path, capsys, dtype, container):
    """A '>f8' .npy once gave mu 3.91 where the truth is 3.47; '>f4' a false NaN error."""
    z = np.random.default_rng(3).normal(size=(40, 50)) * 2
    native = z.astype(np.dtype(dtype).newbyteorder("="))
    stored = z.astype(dtype)
    assert np.array_equal(stored.astype(native.dtype), native)
    paths = []
    for name, arr in (("native", native), ("stored", stored)):
        p = tmp_path / f"{name}.{container.split('-')[0]}"
        if container == "npy":
            np.save(p, arr)
        elif container == "npz":
            np.savez(p, logits=arr)
        else:
            np.savez_compressed(p, logits=arr)
        paths.append(str(p))
    assert _mu(capsys, paths[1]) == _mu(capsys, paths[0])


def test_fortran_order_is_read_when_small_and_refused_when_large(tmp_path, capsys, monkeypatch):
    import speedoflight.readers.arrays as arrays

    z = np.random.default_rng(4).normal(size=(30, 20))
    np.save(tmp_path / "c.npy", z)
    np.save(tmp_path / "f.npy", np.asfortranarray(z))
    assert _mu(capsys, str(tmp_path / "f.npy")) == _mu(capsys, str(tmp_path / "c.npy"))
    monkeypatch.setattr(arrays, "FORTRAN_LIMIT", 1024)  # the file is 4.8 kB: "large" for this test
    code = main(["estimate", str(tmp_path / "f.npy"), "--kind", "logits"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Fortran" in err
    assert "np.ascontiguousarray" in err


# --- Ctrl-C -------------------------------------------------------------------------------------------------


def test_a_finished_program_ignores_ctrl_c_while_it_shuts_down(monkeypatch, capsys):
    """Run as the program (argv None), a complete run leaves SIGINT ignored: a Ctrl-C during interpreter shutdown
    no longer kills it with exit -2 after its output was written. Called with an argv (a library caller, a test),
    main leaves the handler alone."""
    import signal
    import sys

    before = signal.getsignal(signal.SIGINT)
    try:
        assert main(["bound", "--mu", "2", "--mu2", "8", "-P", "4"]) == 0
        assert signal.getsignal(signal.SIGINT) is before
        monkeypatch.setattr(sys, "argv", ["speedoflight", "bound", "--mu", "2", "--mu2", "8", "-P", "4"])
        assert main() == 0
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
    capsys.readouterr()


def test_ctrl_c_during_a_run_says_so_and_exits_130(monkeypatch, capsys):
    import speedoflight.cli.bound as bound

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(bound, "run", interrupted)
    code = main(["bound", "--mu", "2", "--mu2", "8"])
    assert code == 130
    assert capsys.readouterr().err.strip() == "speedoflight: interrupted"


def test_a_compression_bomb_is_refused_before_inflating(tmp_path, capsys):
    """A small .npz declaring a member hundreds of times its compressed size is refused from its zip header."""
    np.savez_compressed(tmp_path / "bomb.npz", logits=np.zeros((6400, 1024), dtype=np.float64))  # 52 MB -> ~50 kB
    assert (tmp_path / "bomb.npz").stat().st_size < 2**20
    code = main(["estimate", str(tmp_path / "bomb.npz"), "--kind", "logits"])
    err = capsys.readouterr().err
    assert code == 2
    assert "compression bomb" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [["tree", "--acceptance", "0.5,0.2", "--pmax", "4096", "--check-dp"]])
def test_the_tree_cross_check_is_bounded(capsys, argv):
    code = main(argv)
    assert code == 2
    assert "--check-dp" in capsys.readouterr().err


def test_a_pool_past_its_cap_is_a_sample_and_says_so(capsys):
    """simulate --pool on more rows than --pool-rows: bounded memory, a seeded sample, and a note saying so."""
    import json

    argv = ["simulate", "--pool", DUMP, "--pmax", "16", "--replicates", "4", "--pool-rows", "1000", "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert "uniform sample of 1000 of the 15360 rows" in json.dumps(first)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == first  # the same seed, the same sample


@pytest.mark.e2e
def test_markov_on_the_shipped_pair_with_the_seeds_that_failed(capsys):
    """`markov ... --seed 5` (and 6, and --lp-rows 100) ended in "linear program failed: infeasible"."""
    for extra in (["--seed", "5"], ["--seed", "6"], ["--lp-rows", "100"]):
        code = main(["markov", "--target", PAIR_T, "--draft", PAIR_D, "--simulate", "2", *extra])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "largest gap" in out


def test_a_plot_is_written_whole_and_leaves_no_debris(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    csv = _file(tmp_path, "law.csv", "x,y\n1,0.1\n2,0.2\n4,0.3\n8,0.35\n")
    _file(tmp_path, "law.svg", "an old figure\n")
    assert main(["scaling", "--from", csv, "--x", "x", "--y", "y", "--plot", "law.svg"]) == 0
    capsys.readouterr()
    assert (tmp_path / "law.svg").read_text().lstrip().startswith("<?xml")
    assert sorted(os.listdir(tmp_path)) == ["law.csv", "law.svg"]


@pytest.mark.e2e
def test_evidence_out_into_the_current_folder_keeps_the_users_files(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _file(tmp_path, "thesis.tex", "mine\n")
    before = snapshot(tmp_path)
    oracle = str(ROOT / "data" / "oracle-smollm2-t1.npz")
    pool = str(ROOT / "data" / "smollm2-t1-x8.npz")
    assert (
        main(["evidence", "--oracle", oracle, "--oracle-dump", pool, "--replicates", "4", "--out", ".", "--quiet"]) == 0
    )
    capsys.readouterr()
    after = snapshot(tmp_path)
    assert after["thesis.tex"] == before["thesis.tex"]
    assert set(after) - set(before) == {"evidence.md", "evidence.png", "evidence.json"}
