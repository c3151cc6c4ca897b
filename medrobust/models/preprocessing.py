"""Preprocessing from image space to the model's input: file-space stages, channel repeat, normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medrobust.datasets.file_space import Resize, Stage, Window


class Preprocess(nn.Module):
    """Map image-space tensors (N, C, *spatial) to the model's input.

    First the ``stages`` (file space: the window and resize the loader does in model space), then
    repeats a single grey channel to ``channels`` when the model wants more, then normalises with
    per-channel ``mean`` and ``std``. Differentiable (almost everywhere), so attacks see it.
    """

    def __init__(
        self,
        channels: int | None = None,
        mean: Sequence[float] | float | None = None,
        std: Sequence[float] | float | None = None,
        stages: Sequence[Stage] = (),
    ) -> None:
        super().__init__()
        self.stages = tuple(stages)
        self.channels = channels
        self.mean: Tensor | None
        self.std: Tensor | None
        self.register_buffer("mean", _as_vector(mean), persistent=False)
        self.register_buffer("std", _as_vector(std), persistent=False)
        if self.std is not None and torch.any(self.std <= 0):
            raise ValueError("std must be positive")

    def forward(self, x: Tensor) -> Tensor:
        for stage in self.stages:
            x = window(x, stage) if isinstance(stage, Window) else resize(x, stage)
        if self.channels is not None and x.shape[1] != self.channels:
            if x.shape[1] != 1:
                raise ValueError(f"input has {x.shape[1]} channels but the model expects {self.channels}")
            x = x.expand(-1, self.channels, *x.shape[2:])
        if self.mean is not None or self.std is not None:
            shape = (1, -1) + (1,) * (x.ndim - 2)
            if self.mean is not None:
                x = x - self.mean.to(x.dtype).reshape(shape)
            if self.std is not None:
                x = x / self.std.to(x.dtype).reshape(shape)
        return x

    def describe(self) -> dict[str, object]:
        """Plain description for the run manifest."""
        return {
            **({"stages": [s.describe() for s in self.stages]} if self.stages else {}),
            "channels": self.channels,
            "mean": None if self.mean is None else self.mean.tolist(),
            "std": None if self.std is None else self.std.tolist(),
        }


def _as_vector(v: Sequence[float] | float | None) -> Tensor | None:
    if v is None:
        return None
    if isinstance(v, int | float):
        v = [float(v)]
    return torch.tensor([float(a) for a in v], dtype=torch.float32)


def window(x: Tensor, stage: Window) -> Tensor:
    """The DICOM linear VOI function onto [0, 1], as :func:`medrobust.datasets.transforms.linear_window`."""
    if stage.width <= 1:
        out = (x > stage.center - 0.5).to(x.dtype)
    else:
        out = ((x - (stage.center - 0.5)) / (stage.width - 1) + 0.5).clamp(0.0, 1.0)
    return 1.0 - out if stage.invert else out


def resize(x: Tensor, stage: Resize) -> Tensor:
    """A batch resized as :func:`medrobust.datasets.transforms.resize` resizes one image, clipped per sample."""
    dims = x.ndim - 2
    size = stage.size
    target = (size,) * dims if isinstance(size, int) else tuple(size)
    if len(target) != dims:
        raise ValueError(f"resize to {size} does not fit a {dims}D input")
    if tuple(x.shape[2:]) == target:
        return x
    mode = "bilinear" if dims == 2 else "trilinear"
    shrinking = dims == 2 and any(t < s for t, s in zip(target, x.shape[2:], strict=True))
    out = F.interpolate(x, size=target, mode=mode, align_corners=False, antialias=shrinking)
    flat = x.detach().flatten(1)
    shape = (-1,) + (1,) * (x.ndim - 1)
    return torch.minimum(torch.maximum(out, flat.amin(1).reshape(shape)), flat.amax(1).reshape(shape))
