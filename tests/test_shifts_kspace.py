"""The k-space shifts against torchio's transforms with the same parameters (the honesty check).

Ghosting, spike and motion are written in ``torch.fft`` so they run batched on the model's
device; torchio applies the same physics per image on the CPU. Wide bounds keep the clip out
of the comparison (a k-space artefact rings below zero).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medrobust.attacks.shifts.ghosting import Ghosting
from medrobust.attacks.shifts.motion import Motion
from medrobust.attacks.shifts.spike import Spike

tio = pytest.importorskip("torchio")
WIDE = (-10.0, 10.0)


def _volume() -> torch.Tensor:
    """A 12^3 volume, zero outside a block (torchio fills what moves in with the minimum, 0)."""
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(1, 1, 12, 12, 12)
    x[..., 3:9, 4:9, 2:10] = 0.1 + 0.8 * torch.rand(1, 1, 6, 5, 8, generator=g)
    return x


def test_ghosting_matches_torchio() -> None:
    x = _volume()
    ours = Ghosting().apply(x, torch.tensor([[0.5, 2 / 6]]), torch.tensor([1.0]), WIDE)  # 4 + 2 = 6 ghosts
    ref = tio.Ghosting(num_ghosts=6, axis=0, intensity=0.5, restore=None)(x[0])
    assert torch.allclose(ours[0], ref, atol=1e-5)
    assert not torch.allclose(ours, x, atol=1e-3)


def test_spike_matches_torchio() -> None:
    x = _volume()
    pos = torch.tensor([[0.3, 0.7, 0.1]])
    ours = Spike().apply(x, torch.cat([torch.ones(1, 1), pos], dim=1), torch.tensor([0.4]), WIDE)
    ref = tio.Spike(spikes_positions=pos.numpy(), intensity=0.4)(x[0])
    assert torch.allclose(ours[0], ref, atol=1e-5)
    assert not torch.allclose(ours, x, atol=1e-3)


def test_motion_matches_torchio_on_translations() -> None:
    x = _volume()
    t1, t2 = np.array([2.0, 0.0, 1.0]), np.array([0.0, 3.0, -1.0])
    params = torch.tensor([[0, 0, 0, *t1, 0, 0, 0, *t2]], dtype=torch.float32)  # per move: 3 angles, 3 shifts
    ours = Motion().apply(x, params, torch.tensor([1.0]), WIDE)
    flip = np.array([1.0, 1.0, -1.0])  # torchio's third translation points the other way
    motion = tio.Motion(
        degrees=np.zeros((2, 3)),
        translation=np.stack([t1 * flip, t2 * flip]),
        times=np.array([1 / 3, 2 / 3]),
        image_interpolation="linear",
    )
    assert torch.allclose(ours[0], motion(x[0]), atol=1e-4)
    assert not torch.allclose(ours, x, atol=1e-3)


def test_motion_is_differentiable_in_the_pose() -> None:
    x = _volume()[..., :8].repeat(2, 1, 1, 1, 1)
    params = torch.full((2, 12), 0.3, requires_grad=True)
    out = Motion().apply(x, params, torch.tensor([4.0, 4.0]), WIDE)
    (grad,) = torch.autograd.grad(out.square().sum(), params)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
