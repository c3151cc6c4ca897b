"""Defended models: the strong suite with and without its adaptive members, against an outside reference.

Run from the repository root::

    python benchmarks/defended_models.py --out benchmarks/results/cpu-defended-models.json

The benchmark's PneumoniaMNIST SmallCNN (trained here, cached outside the repository) gets two
"defences" put in front of it: its input rounded to 4 levels (a layer flagged
``non_differentiable``: zero gradient almost everywhere) and Gaussian input noise at every
pass (random outputs). On a stratified test subset, L-inf 0..8/255, each is swept with
``--suite strong`` adaptive and not. The reference for the quantised model is APGD on the same
network with a straight-through rounding written here as an autograd function (no medrobust
hooks), scored on the real quantised model.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import Tensor, nn

import medrobust
from benchmarks import environment
from benchmarks.data import load_split
from benchmarks.models import ZOO, load_or_train
from benchmarks.ours import dataset
from medrobust.attacks import APGD
from medrobust.models.adapter import ModelAdapter
from medrobust.results.atomic import write_json

log = logging.getLogger("benchmarks.defended_models")
EPS = [0, 1 / 255, 2 / 255, 4 / 255, 8 / 255]
LEVELS = 4
NOISE = 0.05


class Quantise(nn.Module):
    """The input rounded to ``LEVELS`` levels in [0, 1]."""

    non_differentiable = True

    def forward(self, x: Tensor) -> Tensor:
        return torch.round(x * (LEVELS - 1)) / (LEVELS - 1)


class _Straight(torch.autograd.Function):
    """Rounding with the identity as its backward: the outside reference's straight-through model."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return torch.round(x * (LEVELS - 1)) / (LEVELS - 1)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return g


class StraightQuantise(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = _Straight.apply(x)
        return out


class Noise(nn.Module):
    """Gaussian noise of standard deviation ``NOISE`` added at every pass (a randomised defence)."""

    def forward(self, x: Tensor) -> Tensor:
        return x + NOISE * torch.randn_like(x)


def wrap(net: nn.Module, first: nn.Module, name: str) -> ModelAdapter:
    return ModelAdapter(
        nn.Sequential(first, net), "binary", num_outputs=2, bounds=(0.0, 1.0), input_shape=(1, 28, 28), name=name
    )


def curve(results: medrobust.Results, label: str) -> list[float]:
    return [round(b.robust_accuracy, 4) for b in results.summary.curve(label).budgets]


def sweep(model: ModelAdapter, data: Any, adaptive: bool, queries: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    res = medrobust.evaluate(
        model, data, attacks=["fgsm"], eps=EPS, suite={"name": "strong", "adaptive": adaptive, "queries": queries},
        bootstrap=0,
    )  # fmt: skip
    trust = res.summary.trust
    return {
        "seconds": round(time.perf_counter() - t0, 2),
        "curves": {k: curve(res, k) for k in res.summary.attacks},
        "adaptive": [a.option for a in trust.adaptive] if trust else [],
        "warnings": sorted({w.code for w in res.summary.warnings}),
    }


def reference(net: nn.Module, model: ModelAdapter, x: Tensor, y: Tensor) -> list[float]:
    """APGD-CE (100 steps) on the straight-through model, accuracy of the real quantised model."""
    straight = wrap(net, StraightQuantise(), "straight-through")
    out = []
    for eps in EPS:
        x_adv = x if eps == 0 else APGD(steps=100).run(straight, x, y, eps).x_adv
        out.append(round(float((model.logits(x_adv).argmax(1) == y).float().mean()), 4))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cpu-defended-models.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    torch.set_num_threads(2)
    spec = ZOO["smallcnn"]
    train = load_split(spec.subset, "train", file_size=28, skip_checksum=True, raw=True)
    test = load_split(spec.subset, "test", file_size=28, n=args.n, skip_checksum=True)
    plain, training = load_or_train(spec, train, torch.device("cpu"))
    net = plain.model
    quantised = wrap(net, Quantise(), "smallcnn-quantised4")
    noisy = wrap(net, Noise(), "smallcnn-noise")
    points: dict[str, Any] = {}
    for name, model in (("quantised input (4 levels)", quantised), ("input noise (sigma 0.05)", noisy)):
        data = dataset(test.images, test.labels, "pneumoniamnist-test")
        points[name] = {
            "strong": sweep(model, data, False, args.queries),
            "adaptive": sweep(model, data, True, args.queries),
        }
        log.warning("%s done", name)
    points["quantised input (4 levels)"]["reference straight-through APGD-CE"] = reference(
        net, quantised, test.images, test.labels
    )
    report = {
        "benchmark": "strong suite with and without adaptive members on two defended PneumoniaMNIST CNNs",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": environment.machine(torch.device("cpu")),
        "libraries": environment.libraries(),
        "setup": f"SmallCNN trained here ({training['recipe']['steps']} steps), {args.n} stratified test images, "
        f"L-inf 0, 1, 2, 4, 8 /255, strong suite APGD 100 steps, Square {args.queries} queries, bootstrap 0",
        "points": points,
    }
    write_json(args.out, report)
    for name, p in points.items():
        print(name, "strong", p["strong"]["curves"]["strong-linf"], "adaptive", p["adaptive"]["curves"]["strong-linf"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
