"""The engine: plan, execute and finish a sweep; rows, resume state and trust checks.

Front ends (CLI, pytest plugin, nightly suites) hand it one run specification; it returns
typed :class:`~medrobust.results.Results`. Torch-backed names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medrobust.engine.evaluate import evaluate

__all__ = ["evaluate"]


def __getattr__(name: str) -> Any:
    """``evaluate`` on first use (it imports torch)."""
    if name != "evaluate":
        raise AttributeError(f"module 'medrobust.engine' has no attribute {name!r}")
    value = importlib.import_module("medrobust.engine.evaluate").evaluate
    globals()[name] = value
    return value
