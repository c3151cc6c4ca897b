"""MRI spike (herringbone) artefact: one k-space point raised by ``r`` times the spectrum's peak.

Follows torchio's ``Spike`` (one spike, added on one side of k-space at a position drawn
uniformly over the spectrum, per channel). Reimplemented in ``torch.fft`` because torchio
works per image on the CPU; ``tests/test_shifts_kspace.py`` checks it against torchio with
the same parameters.
"""

from __future__ import annotations

import torch
from torch import Tensor

from medrobust.attacks.shifts.base import Shift, expand
from medrobust.attacks.shifts.kspace import from_kspace, line_index, spatial_axes, to_kspace


class Spike(Shift):
    """``spectrum[p] += t x level x max|spectrum|`` per channel, ``p`` uniform, ``t`` in [0, 1].

    Unit parameters: ``t`` (random mode ``t = 1``) then the position as fractions of each
    spatial size. Linear in ``t``: the adversarial mode ascends it (the position stays the draw's).
    """

    name = "spike"
    PARAMETER = "intensity r"
    UNITS = "spike magnitude / the spectrum's largest magnitude (its DC term)"
    TABLE = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
    LOW = 0.0

    def draw(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """``t = 1`` and a uniform position in the spectrum."""
        pos = torch.rand((x.shape[0], len(spatial_axes(x))), generator=gen, device=x.device, dtype=x.dtype)
        return torch.cat([torch.ones_like(pos[:, :1]), pos], dim=1)

    def project(self, params: Tensor) -> Tensor:
        """Every unit parameter into [0, 1]."""
        return params.clamp(0.0, 1.0)

    def apply(self, x: Tensor, params: Tensor, level: Tensor, bounds: tuple[float, float]) -> Tensor:
        """Add the spike to each sample's spectrum at its position, back to the image, clipped."""
        spectrum = to_kspace(x)
        axes = spatial_axes(x)
        at = torch.ones(spectrum.shape, dtype=torch.bool, device=x.device)
        for j, axis in enumerate(axes):
            n = spectrum.shape[axis]
            index = (params[:, 1 + j].detach() * n).floor().long().clamp(0, n - 1)
            at = at & (line_index(spectrum, axis) == expand(index, spectrum))
        peak = spectrum.abs().amax(dim=axes, keepdim=True)
        r = expand(params[:, 0] * level, spectrum)
        return from_kspace(spectrum + at.to(x.dtype) * r * peak).clamp(*bounds)
