"""Contrast: intensities scaled around each image's mean (per channel) by ``1 +- level``."""

from __future__ import annotations

import torch
from torch import Tensor

from medrobust.attacks.shifts.base import Shift, expand, random_sign


class Contrast(Shift):
    """``mean + f x (x - mean)`` with ``f = 1 + d x level``, ``d`` in [-1, 1] (random draws: ``d = +-1``)."""

    name = "contrast"
    PARAMETER = "contrast change |f - 1|"
    UNITS = "relative factor"
    TABLE = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)

    def draw(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """``d = +-1`` at random: the table's contrast change, up or down."""
        return random_sign(x, gen)

    def apply(self, x: Tensor, params: Tensor, level: Tensor, bounds: tuple[float, float]) -> Tensor:
        """Scale each channel around its spatial mean."""
        axes = tuple(range(2, x.ndim))
        mean = x.mean(dim=axes, keepdim=True)
        factor = 1 + expand(params[:, 0] * level, x)
        return (mean + factor * (x - mean)).clamp(*bounds)
