"""Hue: the colour wheel of RGB photos turned, as torchvision's ``adjust_hue`` (in HSV), per sample."""

from __future__ import annotations

import torch
from torch import Tensor

from medrobust.attacks.shifts.base import Shift, random_sign
from medrobust.attacks.shifts.color import check_rgb, hsv_to_rgb, rgb_to_hsv


class Hue(Shift):
    """Hue turned by ``d x level`` degrees, ``d`` in [-1, 1] (random draws ``d = +-1``).

    Intensities are normalised to the bounds for HSV and mapped back. RGB only: other channel
    counts are refused (see :mod:`medrobust.attacks.shifts.color`).
    """

    name = "hue"
    PARAMETER = "hue rotation"
    UNITS = "degrees of the colour wheel"
    TABLE = (0.0, 5.0, 10.0, 15.0, 20.0, 30.0)

    def draw(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """``d = +-1`` at random: the table's turn, either way round."""
        return random_sign(x, gen)

    def apply(self, x: Tensor, params: Tensor, level: Tensor, bounds: tuple[float, float]) -> Tensor:
        """Turn the hue in HSV and convert back, inside the bounds."""
        check_rgb(self.name, x)
        lo, hi = bounds
        h, s, v = rgb_to_hsv(((x - lo) / (hi - lo)).clamp(0, 1))
        turn = (params[:, 0] * level / 360).reshape(-1, *([1] * (h.ndim - 1)))
        return (lo + (hi - lo) * hsv_to_rgb((h + turn) % 1, s, v)).clamp(lo, hi)
