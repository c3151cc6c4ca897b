"""Preprocessing from image space to the model's input: channel repeat, normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class Preprocess(nn.Module):
    """Map image-space tensors (N, C, *spatial) to the model's input.

    Repeats a single grey channel to ``channels`` when the model wants more, then
    normalises with per-channel ``mean`` and ``std``. Differentiable, so attacks see it.
    """

    def __init__(
        self,
        channels: int | None = None,
        mean: Sequence[float] | float | None = None,
        std: Sequence[float] | float | None = None,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.mean: Tensor | None
        self.std: Tensor | None
        self.register_buffer("mean", _as_vector(mean), persistent=False)
        self.register_buffer("std", _as_vector(std), persistent=False)
        if self.std is not None and torch.any(self.std <= 0):
            raise ValueError("std must be positive")

    def forward(self, x: Tensor) -> Tensor:
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
