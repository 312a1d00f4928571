"""The real data shipped in data/: present, documented, consistent, small."""

from __future__ import annotations

import hashlib
import json
import math
import pathlib

import numpy as np
import pytest

from speedoflight.estimator import estimate
from speedoflight.readers import open_source
from speedoflight.rowmoments import row_moments

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"
DUMP = DATA / "smollm2-t1.npz"


def test_data_folder_is_small():
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 15 * 2**20


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
    from speedoflight.cli import main

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
