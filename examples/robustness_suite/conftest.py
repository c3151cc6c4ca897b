"""Robustness-suite fixtures: the model under test, the data it is tested on, the sweep.

Copy this folder next to your model's tests and change the three fixtures below. The
medrobust pytest plugin (installed with medrobust) runs the sweep once per session and
checks every ``@pytest.mark.robustness`` threshold against it.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from medrobust.datasets.synthetic import synthetic
from medrobust.models.adapter import ModelAdapter
from medrobust.models.registry import build_model

# Your checkpoint (a state dict, loaded with weights_only=True); without one, the demo CNN.
WEIGHTS = os.environ.get("LESION_MODEL_WEIGHTS")
# Test images per sweep: a few hundred for a release gate, fewer for a quick check.
N = int(os.environ.get("ROBUSTNESS_N", "256"))


@pytest.fixture(scope="session")
def robustness_model() -> ModelAdapter:
    """The lesion classifier under test (two logits; class 1 = lesion)."""
    if WEIGHTS:
        return build_model(
            "smallcnn",
            weights=WEIGHTS,
            num_classes=2,
            head="binary",
            input_shape=(1, 28, 28),
            name="lesion-cnn",
        )
    from medrobust.models.demo import demo_model

    return demo_model()  # no checkpoint given: train the demo CNN on synthetic lesions


@pytest.fixture(scope="session")
def robustness_data() -> Any:
    """Held-out test images with ``sex`` and ``site`` metadata for the subgroup checks."""
    return synthetic(N, task="binary", seed=1000)


@pytest.fixture(scope="session")
def robustness_settings() -> dict[str, Any]:
    """The sweep every marker is checked against: attacks, budgets, subgroup columns."""
    return {
        "attacks": ["fgsm", {"name": "pgd", "steps": 10}],
        "eps": [0, "1/255", "2/255", "4/255", "8/255"],
        "subgroups": ["sex", "site"],
        "bootstrap": 0,
    }
