"""Centred k-space of a batch (N, C, *spatial): the FFT over the spatial axes, zero frequency in the middle.

Shared by the MRI artefacts (motion, ghosting, spike). Batched on the tensor's device, as
torchio's ``FourierTransform`` does per channel (``fftshift(fftn(x))`` and back).
"""

from __future__ import annotations

import torch
from torch import Tensor


def spatial_axes(x: Tensor) -> tuple[int, ...]:
    """The spatial axes of ``x`` (N, C, *spatial); refuses anything but 2D and 3D images."""
    if x.ndim not in (4, 5):
        raise ValueError(f"k-space shifts take 2D or 3D images (N, C, H, W[, D]), got shape {tuple(x.shape)}")
    return tuple(range(2, x.ndim))


def to_kspace(x: Tensor) -> Tensor:
    """The centred spectrum of ``x`` over its spatial axes (complex)."""
    axes = spatial_axes(x)
    return torch.fft.fftshift(torch.fft.fftn(x, dim=axes), dim=axes)


def from_kspace(spectrum: Tensor) -> Tensor:
    """The real image of a centred spectrum (the inverse of :func:`to_kspace`, imaginary part dropped)."""
    axes = spatial_axes(spectrum)
    return torch.fft.ifftn(torch.fft.ifftshift(spectrum, dim=axes), dim=axes).real


def line_index(spectrum: Tensor, axis: int) -> Tensor:
    """Indices ``0..n-1`` along ``axis`` of ``spectrum``, shaped to broadcast against it."""
    n = spectrum.shape[axis]
    shape = [1] * spectrum.ndim
    shape[axis] = n
    return torch.arange(n, device=spectrum.device).reshape(shape)
