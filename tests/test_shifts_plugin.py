"""Acquisition shifts through the pytest plugin: ``@pytest.mark.robustness(attack="blur", eps=3, ...)``."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = """
import pytest
import torch
from medrobust.datasets import synthetic
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN

@pytest.fixture(scope="session")
def robustness_model():
    torch.manual_seed(0)
    return ModelAdapter(SmallCNN(1, 2, width=4), "binary", num_outputs=2)

@pytest.fixture(scope="session")
def robustness_data():
    return synthetic(16, task="binary")

@pytest.fixture
def robustness_settings():
    return {"attacks": ["blur"], "eps": [0, 1, 2, 3], "bootstrap": 0}
"""

TESTS = """
import pytest

@pytest.mark.robustness(attack="blur", eps=3, min_accuracy=0.0)
def test_blur_holds():
    pass

@pytest.mark.robustness(attack="blur", eps=3, min_accuracy=1.01)
def test_blur_strict():
    pass
"""


def test_a_shift_is_gated_by_the_marker_at_a_severity(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_shift_marker=TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    assert "blur-random" in result.stdout.str()
