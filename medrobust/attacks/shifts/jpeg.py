"""JPEG compression: the image quantised to 8 bits within the bounds, encoded at a quality, decoded.

Pillow's libjpeg does the work (torchvision's ``encode_jpeg`` is deprecated from 0.29). The
codec runs on the CPU, so this is the one shift that leaves the device: one copy to the host
and back per candidate, and one host read of the qualities. 3-channel images are coded in colour; any
other channel count one channel at a time in grey; 3D volumes one depth slice at a time.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from medrobust.attacks.shifts.base import Shift, full_level

LEVELS = 255
"""The 8-bit grid the codec sees: ``lo + (hi - lo) x k / 255``."""


class JPEG(Shift):
    """Quality ``100 - t x level`` (libjpeg's 1..100), ``t`` in [0, 1] (random mode ``t = 1``).

    The output has no gradient in the quality: the adversarial mode searches ``t`` at random
    (a milder compression can change the prediction more).
    """

    name = "jpeg"
    PARAMETER = "100 - quality"
    UNITS = "JPEG quality points (libjpeg scale 1..100): qualities 100, 80, 60, 40, 25, 10"
    TABLE = (0.0, 20.0, 40.0, 60.0, 75.0, 90.0)
    LOW = 0.0
    DIFFERENTIABLE = False
    RANDOM = False

    def draw(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """``t = 1``: the table's quality."""
        return full_level(x)

    def search(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """``t`` uniform in [0, 1]: a quality anywhere between the table's and 100."""
        return torch.rand((x.shape[0], 1), generator=gen, device=x.device, dtype=x.dtype)

    def apply(self, x: Tensor, params: Tensor, level: Tensor, bounds: tuple[float, float]) -> Tensor:
        """Every sample coded at its own quality; back on ``x``'s device, inside the bounds."""
        if x.ndim not in (4, 5):
            raise ValueError(f"jpeg takes 2D or 3D images (N, C, H, W[, D]), got shape {tuple(x.shape)}")
        lo, hi = bounds
        quality = (100 - params[:, 0] * level).round().clamp(1, 100).long().tolist()  # the codec's host read
        u8 = ((x.detach() - lo) / (hi - lo) * LEVELS).round().clamp(0, LEVELS).to(torch.uint8).cpu().numpy()
        coded = np.stack([_codec(img, q) for img, q in zip(u8, quality, strict=True)])
        return lo + (hi - lo) * torch.from_numpy(coded).to(device=x.device, dtype=x.dtype) / LEVELS


def _codec(img: np.ndarray, quality: int) -> np.ndarray:
    """One sample (C, *spatial) uint8 through JPEG at ``quality``: in colour if C is 3, else per channel."""
    c, *spatial = img.shape
    h, w = spatial[-2:]
    slices = img.reshape(c, -1, h, w).transpose(1, 0, 2, 3)  # (D, C, H, W); D = 1 in 2D
    if c == 3:
        out = np.stack([_jpeg(s.transpose(1, 2, 0), quality).transpose(2, 0, 1) for s in slices])
    else:
        out = np.stack([[_jpeg(plane, quality) for plane in s] for s in slices])
    return out.transpose(1, 0, 2, 3).reshape(img.shape)


def _jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    """One 8-bit plane (H, W) or RGB image (H, W, 3) encoded at ``quality`` and decoded."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer))
