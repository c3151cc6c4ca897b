"""medrobust: an adversarial-robustness test harness for medical imaging classifiers."""

from medrobust.errors import ConfigError, DataError, MedrobustError, ModelError
from medrobust.harness.evaluate import evaluate
from medrobust.harness.results import Results
from medrobust.models.adapter import ModelAdapter

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "MedrobustError",
    "ModelAdapter",
    "ModelError",
    "Results",
    "__version__",
    "evaluate",
]
