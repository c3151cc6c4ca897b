"""How visible an edit is in file space: mean absolute change in physical units, PSNR and SSIM in the model's window.

A reader judging whether a radiologist would see an adversarial CT needs more than the budget:
the change per voxel in HU and the image similarity in the window the model (and a reader) looks
through. PSNR and SSIM are MONAI's metrics (Gaussian window 11, sigma 1.5), computed on the device
for every row of file-space data; an image left unchanged has SSIM 1 and no PSNR (NaN, not inf).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.metrics import PSNRMetric, SSIMMetric
from torch import Tensor

from medrobust.datasets.file_space import Stage, Window
from medrobust.models.preprocessing import window

COLUMNS = ("mean_abs_change", "psnr", "ssim")
"""The row columns this module adds (file-space data only)."""


def perceptibility(
    x: Tensor, x_adv: Tensor, stages: Sequence[Stage], bounds: tuple[float, float], similarity: bool = True
) -> dict[str, Tensor]:
    """Per sample: mean |x_adv - x| (physical units), PSNR and SSIM of the windowed images (else over ``bounds``).

    PSNR and SSIM are computed only for the images that changed (an unchanged one has SSIM 1 and
    no PSNR), and only with ``similarity`` (the sweep asks for them on the storable, ``+quantised``
    examples: SSIM's Gaussian window is the costly part on a CPU). Without it they are NaN.
    """
    delta = (x_adv - x).abs().flatten(1)
    n = x.shape[0]
    psnr = torch.full((n,), float("nan"), device=x.device)
    ssim = torch.full((n,), float("nan") if not similarity else 1.0, device=x.device)
    changed = (delta.amax(1) > 0).nonzero().squeeze(1) if similarity else None  # one sync per budget
    if changed is not None and changed.numel():
        a, b, peak = _viewed(x[changed], x_adv[changed], stages, bounds)
        with torch.no_grad():
            p = _tensor(PSNRMetric(max_val=peak, reduction="none")(b, a))
            win_size = min(11, *x.shape[2:])  # a volume thinner than the window: the window shrinks to fit
            dims = x.ndim - 2
            q = _tensor(SSIMMetric(spatial_dims=dims, data_range=peak, win_size=win_size, reduction="none")(b, a))
        psnr[changed] = torch.where(torch.isfinite(p), p, torch.full_like(p, float("nan"))).float()
        ssim[changed] = q.float()
    return {"mean_abs_change": delta.mean(1).float(), "psnr": psnr, "ssim": ssim}


def _viewed(
    x: Tensor, x_adv: Tensor, stages: Sequence[Stage], bounds: tuple[float, float]
) -> tuple[Tensor, Tensor, float]:
    """Both images through the model's window (peak 1), else in physical units over the bounds' range."""
    win = next((s for s in stages if isinstance(s, Window)), None)
    if win is not None:
        return window(x.float(), win), window(x_adv.float(), win), 1.0
    return x.float(), x_adv.float(), float(bounds[1] - bounds[0])


def _tensor(out: object) -> Tensor:
    """A MONAI metric's per-sample values as one flat tensor (its return type also allows lists)."""
    if not isinstance(out, Tensor):
        raise TypeError(f"expected a tensor from the MONAI metric, got {type(out).__name__}")
    return out.reshape(-1)
