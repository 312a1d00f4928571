"""The real data shipped in data/: present, documented, consistent, small."""

from __future__ import annotations

import hashlib
import json
import math
import pathlib

import numpy as np
import pytest

from speedoflight.kernels.rowmoments import row_moments
from speedoflight.readers import open_source
from speedoflight.theory.estimator import estimate

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"
DUMP = DATA / "smollm2-t1.npz"


def test_data_folder_is_small():
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 40 * 2**20  # the limit issue 5 sets for data/


def test_dump_metadata_and_shape():
    src = open_source(DUMP)
    meta = src.metadata
    assert meta["model"]["name"] == "SmolLM2-135M-Instruct"
    assert meta["temperature"] == 1.0
    assert meta["vocab_size"] == 49152
    assert meta["top_k"] == 64
    kinds = meta["prompt_kinds"]
    assert len(kinds) >= 200
    assert kinds.count("prose") >= 100
    assert kinds.count("code") >= 100
    assert meta["prompt_source"]["sha256"] == hashlib.sha256((DATA / "prompts.jsonl").read_bytes()).hexdigest()
    with np.load(DUMP) as z:
        seq = z["seq"]
        assert np.all(np.bincount(seq) >= 64)
        assert len(np.unique(seq)) == len(kinds)


def test_provenance_gives_the_exact_command():
    text = (DATA / "PROVENANCE.md").read_text()
    meta = open_source(DUMP).metadata
    cmd = meta["command"].split("speedoflight", 1)[1]
    assert cmd.strip() in text
    assert "make_prompts.py" in text


def test_exact_moments_lie_in_the_top64_intervals():
    with np.load(DUMP) as z:
        top, h, m2 = z["topk_logprobs"], z["entropy"], z["m2"]
    iv = row_moments(top, "logprobs", vocab_size=49152)
    assert np.all(iv[:, 0] <= h + 1e-5)
    assert np.all(h <= iv[:, 1] + 1e-5)
    assert np.all(iv[:, 2] <= m2 + 1e-4)
    assert np.all(m2 <= iv[:, 3] + 1e-4)


def test_sampled_tokens_agree_with_the_recorded_entropy():
    # E[surprisal of a token sampled from p] = H(p): a check that the logged
    # distributions are the ones the tokens were drawn from
    m = estimate(DUMP, per_row=True)
    s = m.per_row.surprisal
    diff = s - m.per_row.h_lo
    seq = m.per_row.seq
    per_seq = np.array([diff[seq == k].mean() for k in np.unique(seq)])
    se = per_seq.std(ddof=1) / math.sqrt(len(per_seq))
    assert abs(diff.mean()) < 4 * se
    assert 0 < m.mu < math.log(49152)


def test_estimate_cli_on_shipped_data(capsys):
    from speedoflight.cli.app import main

    assert main(["estimate", str(DUMP), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_rows"] >= 200 * 64
    assert d["n_sequences"] >= 200
    assert d["truncated"] is False
    assert d["mu_ci"][0] < d["mu"] < d["mu_ci"][1]
    assert d["mu2"] >= d["mu"] ** 2


@pytest.mark.parametrize("kind", ["prose", "code"])
def test_prompts_file(kind):
    rows = [json.loads(line) for line in (DATA / "prompts.jsonl").read_text().splitlines()]
    assert sum(r["kind"] == kind for r in rows) >= 100


ORACLES = {
    "SmolLM2-135M-Instruct": DATA / "oracle-smollm2-t1.npz",
    "Gemma-3-270M (Q4_K_M)": DATA / "oracle-gemma3-270m-t1.npz",
}
X8 = {"SmolLM2-135M-Instruct": DATA / "smollm2-t1-x8.npz", "Gemma-3-270M (Q4_K_M)": DATA / "gemma3-270m-t1-x8.npz"}


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_shipped_oracle_curves(name):
    from speedoflight.formats.oracle import load_oracle

    loaded = load_oracle(str(ORACLES[name]))
    curves, depths, kinds, meta = loaded
    assert (loaded.curves, loaded.depths, loaded.kinds, loaded.meta) == (curves, depths, kinds, meta)  # by name too
    assert meta["model"]["name"] == name
    assert meta["temperature"] == 1.0
    assert curves.shape == (100, 128)
    assert kinds.count("prose") == 50
    assert kinds.count("code") == 50
    assert np.all(np.diff(curves, axis=1) > 0)  # every popped node adds a positive probability
    assert np.all(curves <= np.arange(1, 129) + 1e-9)  # E[X*(P)] <= P
    assert np.all(curves[:, 0] <= 1.0 + 1e-9)
    assert depths.min() >= 1
    assert meta["prompt_source"]["sha256"] == hashlib.sha256((DATA / "prompts.jsonl").read_bytes()).hexdigest()
    assert meta["command"].split("speedoflight", 1)[1].strip().split(" --quiet")[0] in (
        DATA / "make_real_evidence.sh"
    ).read_text().replace("\\\n    ", "")


@pytest.mark.parametrize("name", sorted(X8))
def test_shipped_dumps_with_eight_continuations_per_prompt(name):
    src = open_source(X8[name])
    assert src.metadata["model"]["name"] == name
    assert src.metadata["samples_per_prompt"] == 8
    with np.load(X8[name]) as z:
        prompt, seq = z["prompt"], z["seq"]
    per_prompt = {p: len(np.unique(seq[prompt == p])) for p in np.unique(prompt)}
    assert len(per_prompt) == 100
    assert set(per_prompt.values()) == {8}
    from speedoflight.formats.oracle import load_oracle

    # the same prompts as the oracle file of the model
    assert sorted(per_prompt) == sorted(load_oracle(str(ORACLES[name]))[3]["prompt_index"])


def test_shipped_measured_acceptance():
    from speedoflight.formats.measured import read_measured

    run = read_measured(str(DATA / "measured-smollm2-t1.jsonl"))
    assert run.meta["model"]["name"] == "SmolLM2-135M-Instruct"
    assert run.meta["samples_per_prompt"] >= 8
    combos = {(r["drafter"], r["shape"], r["P"]) for r in run.records}
    for drafter in ("ngram", "early-exit:24"):
        for shape in ("chain", "tree"):
            for p in (1, 2, 4, 8, 16, 32, 64):
                assert (drafter, shape, p) in combos
    for r in run.records:  # every iteration produced X + 1 tokens of the 32-token continuation
        assert sum(r["accepted"]) + len(r["accepted"]) == run.meta["tokens"]


PAIR = DATA / "pair"


def test_pair_files_are_one_run_with_exact_overlaps():
    from speedoflight.readers.pairs import read_pair

    target = PAIR / "smollm2-t1.npz"
    meta = open_source(target).metadata
    views = meta["pair"]["views"]
    assert views == [f"early-exit:{k}" for k in (4, 8, 12, 16, 20, 24, 27)] + ["full"]
    assert meta["pair"]["n_layers"] == 30
    for view_name, fname in zip(views[:-1], meta["pair"]["files"][:-1], strict=True):
        # read_pair checks the positions and that each exact overlap lies within its top-k bounds
        pair = read_pair(target, PAIR / fname)
        assert pair.exact == "recorded overlap"
        assert pair.n == 3200
        assert np.all((pair.alpha >= 0) & (pair.alpha <= 1))
        with np.load(PAIR / fname) as z:
            ov = z["overlap"]
        assert np.allclose(ov[:, views.index(view_name)], 1.0)  # against itself
    # deeper exits agree more with the full model, on average
    means = [read_pair(target, PAIR / f).alpha.mean() for f in meta["pair"]["files"][:-1]]
    assert means[-1] > means[0]


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _shipped_metadata():
    for path in sorted(DATA.rglob("*.npz")):
        with np.load(path) as z:
            if "metadata" in z.files:
                yield path, json.loads(str(z["metadata"]))
    for path in sorted(DATA.rglob("*.jsonl")):
        first = path.read_text().splitlines()[0]
        obj = json.loads(first)
        if obj.get("format", "").startswith("speedoflight"):
            yield path, obj


def test_shipped_metadata_has_no_absolute_paths():
    seen = 0
    for path, meta in _shipped_metadata():
        seen += 1
        words = [w for s in _strings(meta) for w in s.split()]
        absolute = [w for w in words if w.startswith(("/", "~")) or (len(w) > 2 and w[1] == ":" and w[2] in "/\\")]
        assert absolute == [], f"{path.name}: {absolute[:3]}"
        if "command" in meta:
            assert meta["command"].startswith("speedoflight "), f"{path.name}: {meta['command'][:60]}"
    assert seen >= 13
