"""Train the example suite's checkpoints: a lesion CNN (synthetic) and a BreastMNIST CNN (real data).

In your own nightly job, replace this step by fetching the checkpoints under test.
    python examples/suites/make_example_models.py [--out medrobust-results/models]
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import torch

from medrobust.datasets.registry import build_dataset
from medrobust.datasets.synthetic import synthetic
from medrobust.heads import make_head
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN
from medrobust.models.training import train_classifier

log = logging.getLogger("make_example_models")


def main() -> None:
    """Write lesion-cnn.pt, and breast-cnn.pt where ``$MEDROBUST_DATA/medmnist/breastmnist.npz`` exists."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=Path(os.environ.get("MEDROBUST_MODELS", "medrobust-results/models"))
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = SmallCNN(1, 2)
    train_classifier(net, synthetic(2000, task="binary", seed=11), make_head("binary", 2), epochs=10, seed=0)
    torch.save(net.state_dict(), args.out / "lesion-cnn.pt")
    log.info("wrote %s", args.out / "lesion-cnn.pt")
    root = Path(os.environ.get("MEDROBUST_DATA", "data")) / "medmnist"
    if (root / "breastmnist.npz").is_file():
        torch.manual_seed(0)
        train = build_dataset("medmnist", subset="breastmnist", root=root, split="train")
        model = ModelAdapter(SmallCNN(1, 2), "binary", num_outputs=2, mean=0.33, std=0.2, input_shape=(1, 28, 28))
        train_classifier(model, train, model.head, epochs=10, seed=0)  # the suite declares the same mean/std
        torch.save(model.model.state_dict(), args.out / "breast-cnn.pt")
        log.info("wrote %s", args.out / "breast-cnn.pt")
    else:
        log.info("no %s: the suite's BreastMNIST cell will be skipped", root / "breastmnist.npz")


if __name__ == "__main__":
    main()
