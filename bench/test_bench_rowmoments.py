"""pytest-benchmark: row moments by implementation and size (not part of the test suite).

Run:  python -m pytest bench --benchmark-enable --benchmark-group-by=param:shape
Compare the ``ours`` rows with ``numpy`` and ``yardstick`` of the same shape:
the ratios are what matter, not the seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.bench_estimator import numpy_reference, ours, yardstick

IMPLS = {"ours": ours, "numpy": numpy_reference, "yardstick": yardstick}


@pytest.mark.parametrize("shape", [(64, 32000), (256, 128000)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("impl", list(IMPLS))
def test_row_moments_float16(benchmark, impl, shape):
    x = (np.random.default_rng(0).standard_normal(shape, dtype=np.float32) * 3).astype(np.float16)
    ours(x[:2])  # compile outside the timing
    benchmark(IMPLS[impl], x)
