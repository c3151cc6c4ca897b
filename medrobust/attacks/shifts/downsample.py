"""Downsampling: resize down by a factor (area averaging) and back up (linear), as a lower-resolution scan.

Output sizes are integers, so the factor cannot be read from the device without a host
synchronisation. Instead every factor is rounded down onto :data:`LADDER`, a fixed list
known on the host: each rung is computed for the whole batch once per run and chosen per
sample on the device, so nothing leaves the device and no size depends on a tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from medrobust.attacks.shifts.base import Shift, expand, full_level

LADDER = (1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)
"""The factors a sample can get (a factor is rounded down onto them; below the first, none)."""
SLACK = 1e-6
"""Tolerance when rounding a factor down onto the ladder (a table value lands on its rung)."""


class Downsample(Shift):
    """Resize by ``1 / f`` and back, ``f = 1 + t x (level - 1)`` rounded down onto :data:`LADDER`.

    ``t`` lies in [0, 1]; the random mode uses ``t = 1`` (the table's factor). Sizes are
    integers, so the output has no gradient in ``f``: the adversarial mode searches ``t`` at
    random (a smaller reduction can change the prediction more). Per axis the reduced size is
    ``max(1, round(n / f))``.
    """

    name = "downsample"
    PARAMETER = "factor"
    UNITS = "original size / reduced size, per spatial axis"
    TABLE = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
    LOW = 0.0
    DIFFERENTIABLE = False
    RANDOM = False

    def draw(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """``t = 1``: the table's factor."""
        return full_level(x)

    def search(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """``t`` uniform in [0, 1]: a factor anywhere in [1, level]."""
        return torch.rand((x.shape[0], 1), generator=gen, device=x.device, dtype=x.dtype)

    def apply(self, x: Tensor, params: Tensor, level: Tensor, bounds: tuple[float, float]) -> Tensor:
        """Every rung is computed for the batch; each sample keeps the highest at or below its factor."""
        return self.shifter(x, bounds)(params, level)

    def shifter(self, x: Tensor, bounds: tuple[float, float]) -> Callable[[Tensor, Tensor], Tensor]:
        """The rungs' resized copies of ``x`` made once; each call only picks among them."""
        if x.ndim not in (4, 5):
            raise ValueError(f"downsample takes 2D or 3D images (N, C, H, W[, D]), got shape {tuple(x.shape)}")
        rungs = [(f, down_up(x, f).clamp(*bounds)) for f in LADDER if f <= max(self.TABLE) + SLACK]

        def pick(params: Tensor, level: Tensor) -> Tensor:
            factor = 1 + params[:, 0] * (level.to(x.dtype) - 1)
            out = x.clamp(*bounds)
            for f, image in rungs:
                out = torch.where(expand(factor >= f - SLACK, x), image, out)
            return out

        return pick


def down_up(x: Tensor, factor: float) -> Tensor:
    """``x`` (N, C, *spatial) area-averaged to ``round(n / factor)`` per axis, then linearly back to its size."""
    spatial = tuple(x.shape[2:])
    small = [max(1, round(n / factor)) for n in spatial]
    mode = "bilinear" if len(spatial) == 2 else "trilinear"
    down = F.interpolate(x, size=small, mode="area")
    return F.interpolate(down, size=spatial, mode=mode, align_corners=False)
