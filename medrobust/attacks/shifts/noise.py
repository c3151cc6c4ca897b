"""Gaussian noise: additive, sigma in image units (the table's value times the bounds' range).

For images in [0, 1] the table holds sigma itself; for other bounds (CT in HU, say) it is
scaled by their range, so one table serves every modality.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from medrobust.attacks.shifts.base import Shift, expand

STEP = 0.5
"""Adversarial step, as a fraction of the field's norm."""


class Noise(Shift):
    """Additive Gaussian noise of standard deviation ``level x (hi - lo)`` image units.

    The unit parameter is the noise field itself (standard normal). The adversarial mode
    moves it along the loss gradient on the sphere of its expected norm ``sqrt(numel)``: the
    worst field with the energy of a noise draw at that sigma (an upper bound on what such
    noise can do, no longer Gaussian-looking).
    """

    name = "noise"
    PARAMETER = "sigma"
    UNITS = "image units, per unit of the bounds' range"
    TABLE = (0.0, 0.02, 0.04, 0.06, 0.08, 0.10)

    def draw(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """A standard normal field of ``x``'s shape."""
        return torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)

    def apply(self, x: Tensor, params: Tensor, level: Tensor, bounds: tuple[float, float]) -> Tensor:
        """Add the field scaled to sigma, clipped to the bounds."""
        lo, hi = bounds
        return (x + params * expand(level, x) * (hi - lo)).clamp(lo, hi)

    def project(self, params: Tensor) -> Tensor:
        """Onto the sphere of radius ``sqrt(numel)`` per sample (the expected norm of a draw)."""
        flat = params.reshape(params.shape[0], -1)
        radius = math.sqrt(flat.shape[1])
        return (flat * radius / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)).reshape(params.shape)

    def ascend(self, params: Tensor, grad: Tensor) -> Tensor:
        """A step of half the radius along the normalised gradient, back onto the sphere."""
        flat = grad.reshape(grad.shape[0], -1)
        unit = flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)
        step = unit * STEP * math.sqrt(flat.shape[1])
        return self.project(params + step.reshape(params.shape))
