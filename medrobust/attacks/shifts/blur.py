"""Gaussian blur: sigma in pixels (voxels), separable along every spatial axis, 2D and 3D."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from medrobust.attacks.shifts.base import Shift, full_level


class Blur(Shift):
    """Isotropic Gaussian blur of ``sigma = t x level`` pixels, ``t`` in [0, 1] (random mode: ``t = 1``).

    The kernel's radius is fixed by the table's largest sigma (no host sync); edges replicate.
    The adversarial mode ascends the loss in ``t``: a lighter blur can hurt more.
    """

    name = "blur"
    PARAMETER = "sigma"
    UNITS = "pixels"
    TABLE = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
    LOW = 0.0
    RANDOM = False

    def draw(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """``t = 1``: the table's sigma."""
        return full_level(x)

    def apply(self, x: Tensor, params: Tensor, level: Tensor, bounds: tuple[float, float]) -> Tensor:
        """Blur every sample with its own sigma (a delta kernel as sigma goes to 0)."""
        if x.ndim not in (4, 5):
            raise ValueError(f"blur takes 2D or 3D images (N, C, H, W[, D]), got shape {tuple(x.shape)}")
        sigma = (params[:, 0] * level).clamp_min(1e-3)
        return gaussian_blur(x, sigma, radius=math.ceil(3 * max(self.TABLE))).clamp(*bounds)


def gaussian_blur(x: Tensor, sigma: Tensor, radius: int) -> Tensor:
    """Blur ``x`` (N, C, *spatial) with per-sample ``sigma`` (N,), one grouped 1D pass per axis."""
    n, c, *spatial = x.shape
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(taps[None, :] ** 2) / (2 * sigma[:, None].to(x.dtype) ** 2))
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (N*C, K)
    conv = F.conv2d if len(spatial) == 2 else F.conv3d
    out = x.reshape(1, n * c, *spatial)
    for axis in range(len(spatial)):
        shape = [n * c, 1] + [1] * len(spatial)
        shape[2 + axis] = 2 * radius + 1
        pad = [0, 0] * len(spatial)
        pad[2 * (len(spatial) - 1 - axis)] = radius
        pad[2 * (len(spatial) - 1 - axis) + 1] = radius
        out = conv(F.pad(out, pad, mode="replicate"), kernel.reshape(shape), groups=n * c)
    return out.reshape(x.shape)
