"""The rank AUROC that keeps the bootstrap fast is sklearn's AUROC, ties included."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from medrobust.heads import HeadKind
from medrobust.results.metrics import auroc, binary_auroc


def test_rank_auroc_is_sklearn_auroc_with_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(4, 300))
        y = np.r_[0, 1, rng.integers(0, 2, n - 2)]
        s = np.round(rng.random(n), int(rng.integers(1, 4)))  # few digits: many ties
        assert binary_auroc(y == 1, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        y3 = np.r_[0, 1, 2, rng.integers(0, 3, n - 3)]
        scores = np.round(rng.random((n, 3)), 2) + 0.01
        expected = roc_auc_score(y3, scores / scores.sum(1, keepdims=True), multi_class="ovr", average="macro")
        assert auroc(HeadKind.MULTICLASS, y3, scores) == pytest.approx(expected, abs=1e-12)


def test_rank_auroc_undefined_cases_are_nan() -> None:
    assert np.isnan(binary_auroc(np.array([True, True]), np.array([0.1, 0.2])))
    assert np.isnan(binary_auroc(np.array([True, False]), np.array([np.nan, 0.2])))
    assert np.isnan(auroc(HeadKind.BINARY, np.array([1, 1, 1]), np.ones((3, 2))))
