"""pytest plugin registered through the ``pytest11`` entry point (fixtures, marker, options)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "robustness(attack, eps, min_accuracy, ...): a robustness threshold checked against the sweep",
    )
