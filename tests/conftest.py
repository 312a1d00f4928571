"""Shared fixtures: those of the real serving engine live in conftest_engine.py."""

from .conftest_engine import draft1, draft24, engine, smollm2, start_engine  # noqa: F401
