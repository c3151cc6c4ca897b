"""Saturation: RGB photos blended with their grey image, as torchvision's ``adjust_saturation``."""

from __future__ import annotations

import torch
from torch import Tensor

from medrobust.attacks.shifts.base import Shift, expand, random_sign
from medrobust.attacks.shifts.color import check_rgb, grey


class Saturation(Shift):
    """``grey + f x (x - grey)``, ``f = 1 + d x level``, ``d`` in [-1, 1] (random draws ``d = +-1``).

    ``f = 0`` is the grey image, ``f = 2`` twice the colour. RGB only: other channel counts
    are refused (see :mod:`medrobust.attacks.shifts.color`).
    """

    name = "saturation"
    PARAMETER = "saturation change |f - 1|"
    UNITS = "relative factor on the distance from grey"
    TABLE = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)

    def draw(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """``d = +-1`` at random: the table's change, more or less colour."""
        return random_sign(x, gen)

    def apply(self, x: Tensor, params: Tensor, level: Tensor, bounds: tuple[float, float]) -> Tensor:
        """Blend each pixel with its grey level, clipped to the bounds."""
        check_rgb(self.name, x)
        g = grey(x)
        return (g + expand(1 + params[:, 0] * level, x) * (x - g)).clamp(*bounds)
