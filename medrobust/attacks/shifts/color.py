"""What the colour shifts share: RGB images only, and HSV conversion in torch (torchvision's formulas).

A colour shift on a grey (1-channel) image would be the identity and report a robustness it
never tested, so the colour shifts refuse anything but 3 channels.
"""

from __future__ import annotations

import torch
from torch import Tensor

LUMA = (0.2989, 0.587, 0.114)
"""Grey-level weights of R, G, B (torchvision's ``rgb_to_grayscale``)."""


def check_rgb(name: str, x: Tensor) -> None:
    """Refuse ``x`` (N, C, *spatial) unless it has 3 channels, saying why."""
    if x.ndim < 4 or x.shape[1] != 3:
        raise ValueError(
            f"{name} is a colour shift for RGB images (N, 3, H, W[, D]), got shape {tuple(x.shape)}: "
            "on grey images it would change nothing"
        )


def grey(x: Tensor) -> Tensor:
    """The luma of RGB ``x`` (N, 3, *spatial) as (N, 1, *spatial)."""
    w = torch.tensor(LUMA, device=x.device, dtype=x.dtype).reshape(1, 3, *([1] * (x.ndim - 2)))
    return (x * w).sum(dim=1, keepdim=True)


def rgb_to_hsv(u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Hue (turns, [0, 1)), saturation and value of RGB ``u`` (N, 3, *spatial) in [0, 1]."""
    r, g, b = u.unbind(1)
    v, low = u.amax(1), u.amin(1)
    chroma = v - low
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    s = chroma / torch.where(v > 0, v, torch.ones_like(v))
    h = torch.where(v == r, (g - b) / safe, torch.where(v == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    return torch.where(chroma > 0, (h / 6) % 1, torch.zeros_like(h)), s, v


def hsv_to_rgb(h: Tensor, s: Tensor, v: Tensor) -> Tensor:
    """RGB (N, 3, *spatial) from hue (turns), saturation and value (N, *spatial)."""
    n = torch.tensor([5.0, 3.0, 1.0], device=h.device, dtype=h.dtype).reshape(1, 3, *([1] * (h.ndim - 1)))
    k = (n + 6 * h[:, None]) % 6
    return v[:, None] * (1 - s[:, None] * torch.minimum(k, 4 - k).clamp(0, 1))
