"""Results: the typed summary, metrics, the results folder (layout, atomic writes, loading, manifest).

Reads nothing above it: the engine writes results, reports and gates read them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medrobust.results.results import Results

__all__ = ["Results"]


def __getattr__(name: str) -> Any:
    if name == "Results":  # lazy: importing medrobust.results.atomic stays light
        from medrobust.results.results import Results

        return Results
    raise AttributeError(name)
