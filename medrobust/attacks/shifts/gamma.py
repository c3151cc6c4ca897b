"""Gamma: ``u ** g`` on intensities ``u`` normalised to the bounds, ``log g`` within +-level."""

from __future__ import annotations

import torch
from torch import Tensor

from medrobust.attacks.shifts.base import Shift, expand, random_sign

TINY = 1e-6
"""Floor of the normalised intensity inside the power (keeps its gradient finite)."""


class Gamma(Shift):
    """``lo + (hi - lo) x u ** g`` with ``g = exp(d x level)``, ``d`` in [-1, 1] (random draws: ``d = +-1``)."""

    name = "gamma"
    PARAMETER = "|log gamma|"
    UNITS = "natural log of the exponent"
    TABLE = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)

    def draw(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """``d = +-1`` at random: the table's gamma, brighter or darker."""
        return random_sign(x, gen)

    def apply(self, x: Tensor, params: Tensor, level: Tensor, bounds: tuple[float, float]) -> Tensor:
        """The power law on intensities normalised to the bounds, mapped back."""
        lo, hi = bounds
        u = ((x - lo) / (hi - lo)).clamp(0, 1)
        g = torch.exp(expand(params[:, 0] * level, x))
        out = torch.where(u > 0, u.clamp_min(TINY) ** g, torch.zeros_like(u))
        return (lo + (hi - lo) * out).clamp(lo, hi)
