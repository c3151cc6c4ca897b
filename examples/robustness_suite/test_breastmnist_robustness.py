"""Robustness gates on a real dataset: BreastMNIST (breast ultrasound, malignant vs not).

Reads ``$MEDROBUST_DATA/medmnist/breastmnist.npz`` and skips without it. The model is
your checkpoint (``BREAST_MODEL_WEIGHTS``) or, for this example, a small CNN trained here
on the training split in a few seconds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from medrobust import Results
from medrobust.gates.assertions import assert_robust

N = int(os.environ.get("ROBUSTNESS_N", "156"))


def _root() -> Path:
    root = Path(os.environ.get("MEDROBUST_DATA", "")) / "medmnist"
    if not os.environ.get("MEDROBUST_DATA") or not (root / "breastmnist.npz").is_file():
        pytest.skip("set MEDROBUST_DATA to a folder holding medmnist/breastmnist.npz")
    return root


def _model(root: Path) -> Any:
    import torch

    from medrobust.datasets.registry import build_dataset
    from medrobust.models.adapter import ModelAdapter
    from medrobust.models.registry import build_model
    from medrobust.models.small_cnn import SmallCNN
    from medrobust.models.training import train_classifier

    weights = os.environ.get("BREAST_MODEL_WEIGHTS")
    if weights:
        return build_model(
            "smallcnn",
            weights=weights,
            num_classes=2,
            head="binary",
            mean=[0.33],
            std=[0.2],
            input_shape=(1, 28, 28),
            name="breast-cnn",
        )
    train = build_dataset("medmnist", subset="breastmnist", root=root, split="train")
    torch.manual_seed(0)
    model = ModelAdapter(
        SmallCNN(1, 2), "binary", num_outputs=2, mean=0.33, std=0.2, input_shape=(1, 28, 28), name="breast-cnn"
    )
    train_classifier(model, train, model.head, epochs=10, seed=0)  # through the adapter: normalisation included
    return model


@pytest.fixture(scope="session")
def breast(robustness_factory: Any) -> Results:
    """One sweep of the BreastMNIST model on the test split, shared by the tests below."""
    from medrobust.datasets.registry import build_dataset

    root = _root()
    test = build_dataset("medmnist", subset="breastmnist", root=root, split="test")
    return robustness_factory(
        lambda: _model(root),  # a builder: only called when this sweep is not cached yet
        test,
        attacks=["fgsm", {"name": "pgd", "steps": 10}],
        eps=[0, "1/255", "2/255", "4/255"],
        n=N,
        bootstrap=0,
        name="breast-cnn-breastmnist",
    )


def test_breast_model_is_useful_before_attack(breast: Results) -> None:
    """Clean AUROC above chance: otherwise robustness numbers mean nothing."""
    assert breast.summary["clean"]["auroc"] > 0.7


def test_breast_pgd_at_one_grey_level(breast: Results) -> None:
    """One grey level of PGD keeps most of the accuracy."""
    assert_robust(breast, attack="pgd", eps="1/255", min_accuracy=0.65, max_drop=0.2)
