"""The harness: the sweep, metrics, results, reports, CLI and pytest plugin.

Torch-backed names load on first use so the pytest plugin, which pytest imports in every
session, stays cheap. The sweep itself is ``medrobust.evaluate``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from medrobust.harness.budgets import Budget, parse_budget, parse_budgets

if TYPE_CHECKING:
    from medrobust.harness.results import Results

__all__ = ["Budget", "Results", "parse_budget", "parse_budgets"]


def __getattr__(name: str) -> Any:
    """``Results`` on first use (it imports pandas and torch)."""
    if name != "Results":
        raise AttributeError(f"module 'medrobust.harness' has no attribute {name!r}")
    value = importlib.import_module("medrobust.harness.results").Results
    globals()[name] = value
    return value
