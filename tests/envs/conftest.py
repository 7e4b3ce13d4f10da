"""Pytest setup for the environment tests: the ``slow`` marker, skipped unless RLNN_SLOW=1."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long-running test, run only when RLNN_SLOW=1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("RLNN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow test: set RLNN_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
