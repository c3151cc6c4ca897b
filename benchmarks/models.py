"""The benchmark's model zoo: small CNNs, ResNet-18, DenseNet-121 (2D) and a MONAI 3D ResNet.

Nothing is downloaded: each model is trained here on the train split (class-balanced
batches, seeded) and its ``state_dict`` cached outside the repository, in
``$MEDROBUST_BENCH_CACHE`` or ``~/.cache/medrobust/bench/``, and loaded back with
``weights_only=True``. The cache key covers the architecture, the training settings and
the data file's hash, so a model trained differently is never mistaken for another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.data import Split
from medrobust.heads import make_head
from medrobust.models.adapter import ModelAdapter
from medrobust.models.checkpoints import load_weights
from medrobust.models.small_cnn import SmallCNN

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _torchvision(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision.models as tvm

        net: nn.Module = getattr(tvm, name)(weights=None, num_classes=2)
        return net

    return build


def _monai_resnet10() -> nn.Module:
    from monai.networks.nets import resnet10

    net: nn.Module = resnet10(spatial_dims=3, n_input_channels=1, num_classes=2)
    return net


@dataclass(frozen=True)
class ModelSpec:
    """One benchmark configuration: architecture, data file, image size and training recipe."""

    name: str
    subset: str
    file_size: int
    size: int
    spatial_dims: int
    build: Callable[[], nn.Module]
    train_steps: int
    train_batch: int = 64
    lr: float = 1e-3
    channels: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    skip_checksum: bool = False

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape in image space, e.g. (1, 28, 28) or (1, 64, 64, 64)."""
        return (1, *(self.size,) * self.spatial_dims)


ZOO: dict[str, ModelSpec] = {
    "smallcnn": ModelSpec(
        "smallcnn", "pneumoniamnist", 28, 28, 2, lambda: SmallCNN(1, 2, 2), train_steps=400, lr=2e-3, skip_checksum=True
    ),
    "breastcnn": ModelSpec("breastcnn", "breastmnist", 28, 28, 2, lambda: SmallCNN(1, 2, 2), train_steps=400, lr=2e-3),
    "resnet18": ModelSpec(
        "resnet18",
        "pneumoniamnist",
        28,
        224,
        2,
        _torchvision("resnet18"),
        train_steps=300,
        channels=3,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        skip_checksum=True,
    ),
    "densenet121": ModelSpec(
        "densenet121",
        "pneumoniamnist",
        28,
        224,
        2,
        _torchvision("densenet121"),
        train_steps=300,
        channels=3,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        skip_checksum=True,
    ),
    "monai3d": ModelSpec("monai3d", "adrenalmnist3d", 64, 64, 3, _monai_resnet10, train_steps=150, train_batch=16),
}


def cache_dir() -> Path:
    """Where trained benchmark weights live (never inside the repository)."""
    env = os.environ.get("MEDROBUST_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "medrobust" / "bench"


def load_or_train(
    spec: ModelSpec, train: Split, device: torch.device, steps: int | None = None, seed: int = 0
) -> tuple[ModelAdapter, dict[str, Any]]:
    """The trained model for ``spec`` wrapped in a :class:`ModelAdapter`, and how it was obtained."""
    steps = spec.train_steps if steps is None else steps
    recipe = {
        "model": spec.name,
        "steps": steps,
        "batch": spec.train_batch,
        "lr": spec.lr,
        "seed": seed,
        "sampling": "class-balanced",
        "size": spec.size,
        "data_md5": train.md5,
        "n_train": len(train.labels),
    }
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / f"{spec.name}-{key}.pt"
    torch.manual_seed(seed)
    net = spec.build()
    info: dict[str, Any] = {"recipe": recipe, "cache": str(path)}
    if path.is_file():
        load_weights(net, path)
        info["trained_seconds"] = 0.0
        log.info("loaded %s from %s", spec.name, path)
    else:
        t0 = time.perf_counter()
        _train(net.to(device), spec, train, device, steps, seed)
        info["trained_seconds"] = round(time.perf_counter() - t0, 2)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, tmp)
        os.replace(tmp, path)
        log.info("trained %s in %.1f s; cached at %s", spec.name, info["trained_seconds"], path)
    adapter = ModelAdapter(
        net.eval(),
        "binary",
        num_outputs=2,
        bounds=(0.0, 1.0),
        channels=spec.channels,
        mean=spec.mean,
        std=spec.std,
        input_shape=spec.input_shape,
        device=device,
        name=spec.name,
    )
    return adapter, info


def resize(x: Tensor, size: int) -> Tensor:
    """Resize every spatial side of a batch to ``size`` (bilinear/trilinear), inside [0, 1]."""
    if x.shape[-1] == size:
        return x
    mode = "bilinear" if x.ndim == 4 else "trilinear"
    return F.interpolate(x, size=(size,) * (x.ndim - 2), mode=mode, align_corners=False).clamp(0.0, 1.0)


def _as_float(x: Tensor) -> Tensor:
    """uint8 pixels to [0, 1] floats (already-float batches pass through)."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


def _train(net: nn.Module, spec: ModelSpec, train: Split, device: torch.device, steps: int, seed: int) -> None:
    """Adam on the head's loss with class-balanced batches (the train splits are imbalanced)."""
    head = make_head("binary", 2)
    classes = [torch.nonzero(train.labels == c).squeeze(1) for c in range(2)]
    per_class = spec.train_batch // 2
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=spec.lr)
    prep = ModelAdapter(
        net, head, bounds=(0.0, 1.0), channels=spec.channels, mean=spec.mean, std=spec.std, device=device
    )
    net.train()
    for step in range(steps):
        idx = torch.cat([c[torch.randint(len(c), (per_class,), generator=gen)] for c in classes])
        x = resize(_as_float(train.images[idx]), spec.size).to(device)
        y = train.labels[idx].to(device)
        opt.zero_grad(set_to_none=True)
        loss = head.loss(prep(x), y).mean()
        loss.backward()
        opt.step()
        if (step + 1) % 50 == 0 or step + 1 == steps:
            log.info("%s step %d/%d: loss %.4f", spec.name, step + 1, steps, float(loss.detach()))
    net.eval()
