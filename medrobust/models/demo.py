"""The demo model: a small CNN trained on the spot on seeded synthetic lesion images."""

from __future__ import annotations

import torch

from medrobust.datasets.synthetic import synthetic
from medrobust.heads import make_head
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN
from medrobust.models.training import train_classifier


def demo_model(seed: int = 0, n_train: int = 2000, epochs: int = 10) -> ModelAdapter:
    """A small CNN trained on seeded synthetic lesion images (binary, two logits)."""
    torch.manual_seed(seed)
    train = synthetic(n_train, task="binary", seed=seed + 1)
    net = SmallCNN(in_channels=1, num_outputs=2)
    train_classifier(net, train, make_head("binary", 2), epochs=epochs, seed=seed)
    return ModelAdapter(net, "binary", num_outputs=2, bounds=(0.0, 1.0), input_shape=(1, 28, 28), name="demo-smallcnn")
