"""The embedded default: synthetic data, a small CNN trained on the spot, FGSM and PGD."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from medrobust.datasets.synthetic import synthetic
from medrobust.harness.evaluate import evaluate
from medrobust.harness.results import Results
from medrobust.models.adapter import ModelAdapter
from medrobust.models.heads import make_head
from medrobust.models.small_cnn import SmallCNN
from medrobust.models.training import train_classifier

log = logging.getLogger(__name__)

DEMO_EPS = (0, "1/255", "2/255", "4/255", "8/255")


def demo_model(seed: int = 0, n_train: int = 2000, epochs: int = 10) -> ModelAdapter:
    """A small CNN trained on seeded synthetic lesion images (binary, two logits)."""
    torch.manual_seed(seed)
    train = synthetic(n_train, task="binary", seed=seed + 1)
    net = SmallCNN(in_channels=1, num_outputs=2)
    train_classifier(net, train, make_head("binary", 2), epochs=epochs, seed=seed)
    return ModelAdapter(net, "binary", num_outputs=2, bounds=(0.0, 1.0), input_shape=(1, 28, 28), name="demo-smallcnn")


def run_demo(out_dir: str | Path = "medrobust-results/demo", n: int = 512, seed: int = 0, progress: bool = True) -> Results:
    """Train the demo model, then sweep FGSM and PGD over 0..8/255 on held-out data."""
    log.info("training the demo model on synthetic data")
    model = demo_model(seed)
    test = synthetic(n, task="binary", seed=seed + 1000)
    return evaluate(
        model,
        test,
        attacks=["fgsm", "pgd"],
        eps=DEMO_EPS,
        subgroups=["sex", "site"],
        out_dir=out_dir,
        resume=False,
        seed=seed,
        progress=progress,
        batch_size=256,
        config={"demo": True},
    )
