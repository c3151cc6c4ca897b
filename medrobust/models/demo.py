"""The demo model: a small CNN trained on the spot on seeded synthetic lesion images."""

from __future__ import annotations

import torch

from medrobust.datasets.synthetic import synthetic
from medrobust.heads import make_head
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN
from medrobust.models.training import train_classifier

TRAINING_THREADS = 1
"""Torch threads the demo model trains with: its weights then do not depend on the machine's thread count,
and one thread is the fastest for so small a network (9 s against 228 s with 2 threads on 2 loaded cores)."""


def demo_model(seed: int = 0, n_train: int = 2000, epochs: int = 6, progress: bool = False) -> ModelAdapter:
    """A small CNN trained on seeded synthetic lesion images (binary, two logits), the same on any thread count."""
    torch.manual_seed(seed)
    train = synthetic(n_train, task="binary", seed=seed + 1)
    net = SmallCNN(in_channels=1, num_outputs=2)
    head = make_head("binary", 2)
    train_classifier(net, train, head, epochs=epochs, seed=seed, threads=TRAINING_THREADS, progress=progress)
    return ModelAdapter(net, "binary", num_outputs=2, bounds=(0.0, 1.0), input_shape=(1, 28, 28), name="demo-smallcnn")
