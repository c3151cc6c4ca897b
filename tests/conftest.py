"""Shared fixtures: the real-data root (skip, or fail under CI=true) and small trained models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from medrobust.datasets.synthetic import synthetic
from medrobust.heads import make_head
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN
from medrobust.models.training import train_classifier

REPO = Path(__file__).resolve().parents[1]


class Spread(nn.Module):
    """Class 1 when the image's standard deviation is above ``threshold``: more contrast, class 1.

    Shifts of contrast, blur and noise move it, so the shift tests see their draws disagree.
    """

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = 100 * (x.flatten(1).std(dim=1) - self.threshold)
        return torch.stack([-z, z], dim=1)


def shared_data_root() -> Path | None:
    """``MEDROBUST_DATA`` or ``../shared/data`` when it exists."""
    env = os.environ.get("MEDROBUST_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    return root if root.is_dir() else None


def require_data(*relative: str) -> Path:
    """Path under the shared data root; skip with a reason when absent, fail under CI=true."""
    root = shared_data_root()
    path = root.joinpath(*relative) if root else None
    if path is None or not path.exists():
        reason = f"real data {'/'.join(relative) or 'folder'} not found (set MEDROBUST_DATA to the shared data folder)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def medmnist_root() -> Path:
    """The shared MedMNIST folder."""
    return require_data("medmnist")


def _train(task: str, k: int, n: int = 2000, epochs: int = 10, spatial_dims: int = 2, size: int = 28) -> ModelAdapter:
    torch.manual_seed(0)
    data = synthetic(n, task=task, seed=11, spatial_dims=spatial_dims, size=size)
    net = SmallCNN(1, k, spatial_dims=spatial_dims)
    head = make_head(task, k)
    train_classifier(net, data, head, epochs=epochs, seed=0)
    return ModelAdapter(net, head, bounds=(0.0, 1.0), input_shape=tuple(data.images.shape[1:]), name=f"small-{task}")


@pytest.fixture(scope="session")
def binary_model() -> ModelAdapter:
    """A small CNN with two logits trained on synthetic lesions (about 3 s on 2 cores)."""
    return _train("binary", 2)


@pytest.fixture(scope="session")
def binary_model_1logit() -> ModelAdapter:
    """A small CNN with one logit (sigmoid) trained on synthetic lesions."""
    return _train("binary", 1)


@pytest.fixture(scope="session")
def multilabel_model() -> ModelAdapter:
    """A small CNN with three sigmoid findings."""
    return _train("multilabel", 3)


@pytest.fixture(scope="session")
def binary_test_data():
    """Held-out synthetic binary images."""
    return synthetic(200, task="binary", seed=99)
