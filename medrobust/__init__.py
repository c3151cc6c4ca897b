"""medrobust: an adversarial-robustness test harness for medical imaging classifiers."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from medrobust.errors import ConfigError, DataError, MedrobustError, ModelError

if TYPE_CHECKING:
    from medrobust.engine.evaluate import evaluate
    from medrobust.engine.spec import RunSpec
    from medrobust.models.adapter import ModelAdapter
    from medrobust.results.results import Results

__version__ = "0.1.0"

_LAZY = {
    "evaluate": "medrobust.engine.evaluate",
    "Results": "medrobust.results.results",
    "ModelAdapter": "medrobust.models.adapter",
    "RunSpec": "medrobust.engine.spec",
}

__all__ = [
    "ConfigError",
    "DataError",
    "MedrobustError",
    "ModelAdapter",
    "ModelError",
    "Results",
    "RunSpec",
    "__version__",
    "evaluate",
]


def __getattr__(name: str) -> Any:
    """Import torch-backed names on first use, so light modules (the pytest plugin) stay cheap."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'medrobust' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
