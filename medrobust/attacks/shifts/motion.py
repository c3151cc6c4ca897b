"""MRI rigid motion: k-space assembled from segments of the image moved to different poses.

Follows torchio's ``Motion`` (Shaw et al., 2019): the subject moves ``MOVES`` times during
the acquisition, at times ``1/3, 2/3``; each segment of k-space lines along the last
spatial axis comes from the image in the pose of its time, the segment holding the centre
from the original pose. Reimplemented with ``affine_grid``/``grid_sample`` and ``torch.fft``
because torchio resamples per image with SimpleITK on the CPU; ``tests/test_shifts_kspace.py``
checks the k-space assembly and the translations against torchio with the same parameters
(torchio's third translation has the opposite sign; rotations turn about the grid's centre,
torchio's about voxel ``n / 2``, half a voxel away, so they are not compared). Resampling is
linear, each channel's minimum fills what moves in from outside (as in torchio), and the output is differentiable in
the pose, so the adversarial mode ascends it (no random search needed).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from medrobust.attacks.shifts.base import Shift
from medrobust.attacks.shifts.kspace import from_kspace, line_index, spatial_axes, to_kspace

MOVES = 2
"""Movements per acquisition (torchio's ``RandomMotion`` default); the times split k-space evenly."""


class Motion(Shift):
    """``MOVES`` rigid poses, each rotation angle and translation uniform in ``+-level`` (degrees, pixels).

    Unit parameters: per move, the angles (1 in 2D, 3 in 3D) then the translations (one per
    spatial axis), all in [-1, 1]. The adversarial mode ascends the loss in them.
    """

    name = "motion"
    PARAMETER = "largest rotation and translation"
    UNITS = "degrees (each angle) and pixels (each axis)"
    TABLE = (0.0, 1.0, 2.0, 4.0, 6.0, 10.0)

    def draw(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """Angles and translations uniform in [-1, 1], for every move."""
        dims = len(spatial_axes(x))
        k = MOVES * (_angles(dims) + dims)
        return torch.rand((x.shape[0], k), generator=gen, device=x.device, dtype=x.dtype) * 2 - 1

    def apply(self, x: Tensor, params: Tensor, level: Tensor, bounds: tuple[float, float]) -> Tensor:
        """Each move's pose resampled, its k-space segment swapped in, back to the image, clipped."""
        axes = spatial_axes(x)
        dims, fill = len(axes), x.amin(dim=axes, keepdim=True)
        spectrum = to_kspace(x)
        k, n = line_index(spectrum, x.ndim - 1), x.shape[-1]
        times = [(i + 1) / (MOVES + 1) for i in range(MOVES)]
        edges = [0, *(int(n * t) for t in times), n]
        order = list(range(MOVES + 1))  # the pose of each segment: 0 the original, m the m-th move
        centre = next((i for i, t in enumerate(times) if t > 0.5), MOVES)  # torchio's sort_spectra
        order[0], order[centre] = order[centre], order[0]
        poses = params.reshape(x.shape[0], MOVES, -1) * level[:, None, None]
        out = spectrum
        for segment, pose in enumerate(order):
            if pose == 0:
                continue
            p = poses[:, pose - 1]
            moved = to_kspace(fill + rigid(x - fill, p[:, : _angles(dims)], p[:, _angles(dims) :]))
            out = torch.where((k >= edges[segment]) & (k < edges[segment + 1]), moved, out)
        return from_kspace(out).clamp(*bounds)


def _angles(dims: int) -> int:
    """Rotation angles of a rigid pose in ``dims`` dimensions."""
    return 1 if dims == 2 else 3


def rigid(x: Tensor, degrees: Tensor, shift: Tensor) -> Tensor:
    """``x`` (N, C, *spatial) rotated about its centre by ``degrees`` and moved by ``shift`` pixels (per axis).

    Axes in the order of ``x``'s spatial dimensions; zeros fill from outside.
    """
    sizes = torch.tensor(x.shape[2:][::-1], device=x.device, dtype=x.dtype)  # grid order: W, H(, D)
    rot = _rotation(degrees * (math.pi / 180))  # (N, dims, dims) in grid order, in pixels
    to_pix, to_norm = torch.diag(sizes / 2), torch.diag(2 / sizes)
    theta = to_norm @ rot @ to_pix
    t = -(theta @ (shift.flip(1) * 2 / sizes)[:, :, None])  # output pose = input moved by +shift
    grid = F.affine_grid(torch.cat([theta, t], dim=2), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _rotation(radians: Tensor) -> Tensor:
    """Rotation matrices (N, d, d) from one angle (2D) or three (3D, about the grid's x, y, z in turn)."""
    c, s = radians.cos(), radians.sin()
    one, zero = torch.ones_like(c[:, 0]), torch.zeros_like(c[:, 0])

    def mat(rows: list[list[Tensor]]) -> Tensor:
        return torch.stack([torch.stack(r, dim=1) for r in rows], dim=1)

    if radians.shape[1] == 1:
        return mat([[c[:, 0], -s[:, 0]], [s[:, 0], c[:, 0]]])
    rx = mat([[one, zero, zero], [zero, c[:, 0], -s[:, 0]], [zero, s[:, 0], c[:, 0]]])
    ry = mat([[c[:, 1], zero, s[:, 1]], [zero, one, zero], [-s[:, 1], zero, c[:, 1]]])
    rz = mat([[c[:, 2], -s[:, 2], zero], [s[:, 2], c[:, 2], zero], [zero, zero, one]])
    return rz @ ry @ rx
