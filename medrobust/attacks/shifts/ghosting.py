"""MRI ghosting: every ``n``-th k-space plane along the phase-encode axis scaled by ``1 - s``.

Follows torchio's ``Ghosting`` (periodic motion, pulsatile flow: ``n`` ghosts along the
phase-encode axis, the central plane restored). Reimplemented in ``torch.fft`` because
torchio works per image on the CPU; ``tests/test_shifts_kspace.py`` checks it against
torchio with the same parameters. The phase-encode axis is the first spatial one (H, or D
in 3D).
"""

from __future__ import annotations

import torch
from torch import Tensor

from medrobust.attacks.shifts.base import Shift, expand
from medrobust.attacks.shifts.kspace import from_kspace, line_index, to_kspace

GHOSTS = (4, 10)
"""Fewest and most ghosts of a draw (torchio's ``RandomGhosting`` default)."""
AXIS = 2
"""The phase-encode axis of (N, C, *spatial): the first spatial one."""


class Ghosting(Shift):
    """Planes ``0, n, 2n, ...`` of the centred spectrum times ``1 - t x level`` (not the centre plane).

    Unit parameters: ``t`` in [0, 1] (random mode ``t = 1``) and ``u`` in [0, 1], the number
    of ghosts ``n = 4 + round(6 u)`` (random). Linear in ``t``: the adversarial mode ascends it.
    """

    name = "ghosting"
    PARAMETER = "intensity s"
    UNITS = "fraction of the ghosted planes' k-space signal removed"
    TABLE = (0.0, 0.2, 0.35, 0.5, 0.7, 0.9)
    LOW = 0.0

    def draw(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """``t = 1`` and a random number of ghosts."""
        u = torch.rand((x.shape[0], 1), generator=gen, device=x.device, dtype=x.dtype)
        return torch.cat([torch.ones_like(u), u], dim=1)

    def project(self, params: Tensor) -> Tensor:
        """Both unit parameters into [0, 1]."""
        return params.clamp(0.0, 1.0)

    def apply(self, x: Tensor, params: Tensor, level: Tensor, bounds: tuple[float, float]) -> Tensor:
        """Scale the ghosted planes of each sample's spectrum, back to the image, clipped."""
        spectrum = to_kspace(x)
        ghosts = GHOSTS[0] + (params[:, 1].detach() * (GHOSTS[1] - GHOSTS[0])).round()
        k = line_index(spectrum, AXIS)
        planes = (k % expand(ghosts, spectrum).long() == 0) & (k != spectrum.shape[AXIS] // 2)
        s = expand(params[:, 0] * level, spectrum)
        return from_kspace(spectrum * (1 - s * planes.to(x.dtype))).clamp(*bounds)
