"""Intensity scaling (named windows, centre/width, min-max, physical units) and resizing.

Shared by the DICOM and NIfTI readers so a window means the same thing in both. Windows
map physical units (e.g. Hounsfield units) to ``[0, 1]`` with the DICOM linear VOI
function; ``raw`` keeps physical units, clipped to declared bounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from medrobust.errors import ConfigError

# Centre and width in Hounsfield units (common radiology presets).
WINDOWS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "abdomen": (40.0, 400.0),
}
CT_BOUNDS = (-1024.0, 3071.0)
MODES = ("voi", "minmax", "percentile", "raw")


@dataclass(frozen=True)
class Intensity:
    """How physical values become image-space values: a window, min-max, percentile or raw."""

    mode: str  # "window", "voi", "minmax", "percentile", "raw"
    center: float = 0.0
    width: float = 1.0
    bounds: tuple[float, float] = (0.0, 1.0)
    name: str = ""

    def describe(self) -> str:
        """Units in words, for ``DataInfo.units`` and the manifest."""
        if self.mode == "window":
            return f"{self.name or 'custom'} window (centre {self.center:g}, width {self.width:g}) mapped to [0, 1]"
        if self.mode == "raw":
            return f"physical units (modality LUT applied), clipped to {self.bounds}"
        if self.mode == "voi":
            return "the file's own VOI LUT or window mapped to [0, 1] (min-max where a file has none)"
        if self.mode == "percentile":
            return "per-image 0.5-99.5 percentile range mapped to [0, 1]"
        return "per-image min-max mapped to [0, 1]"

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Scale physical values ``x`` (any shape) into this intensity's bounds."""
        if self.mode == "window":
            return linear_window(x, self.center, self.width)
        if self.mode == "raw":
            return np.clip(x, *self.bounds)
        if self.mode == "percentile":
            lo, hi = np.percentile(x, [0.5, 99.5])
            return to_unit(x, float(lo), float(hi))
        return to_unit(x, float(x.min()), float(x.max()))


FILE_VALUES = Intensity("raw", bounds=(-math.inf, math.inf), name="file")
"""File space reads physical values as they are; the files' stored-value grid bounds them."""


def parse_intensity(
    window: str | Sequence[float] | None,
    bounds: Sequence[float] | None = None,
    *,
    default: str = "minmax",
    allow_voi: bool = False,
) -> Intensity:
    """``window``: a preset (lung, mediastinum, bone, brain, abdomen), ``[centre, width]``,
    ``"centre,width"``, ``minmax``, ``percentile``, ``raw`` (physical units within ``bounds``)
    or, for DICOM, ``voi`` (the file's own VOI LUT)."""
    spec: str | Sequence[float] = default if window is None else window
    if isinstance(spec, str) and "," in spec:
        spec = [float(v) for v in spec.split(",")]
    if bounds is not None and spec != "raw":
        raise ConfigError("bounds apply to window=raw only (windows always map to [0, 1])")
    if isinstance(spec, str):
        key = spec.lower()
        if key in WINDOWS:
            return Intensity("window", *WINDOWS[key], name=key)
        if key == "raw":
            lo, hi = (float(b) for b in (bounds if bounds is not None else CT_BOUNDS))
            if not lo < hi:
                raise ConfigError(f"bounds must be (low, high) with low < high, got {bounds}")
            return Intensity("raw", bounds=(lo, hi), name="raw")
        if key == "voi" and not allow_voi:
            raise ConfigError("window=voi needs DICOM files (their own VOI LUT)")
        if key in MODES:
            return Intensity(key, name=key)
        raise ConfigError(
            f"unknown window {spec!r}; choose from {', '.join([*WINDOWS, *MODES])} or give [centre, width]"
        )
    values = [float(v) for v in spec]
    if len(values) != 2 or values[1] < 1:
        raise ConfigError(f"a custom window is [centre, width] with width >= 1, got {list(spec)}")
    return Intensity("window", values[0], values[1], name="custom")


def linear_window(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """The DICOM linear VOI function (PS3.3 C.11.2.1.2.1), output scaled to ``[0, 1]``."""
    if width <= 1:
        return (x > center - 0.5).astype(np.float64)
    return np.clip((x - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def to_unit(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``[lo, hi]`` linearly onto ``[0, 1]``, clipping outside (zeros when ``hi <= lo``)."""
    if hi <= lo:
        return np.zeros_like(x, dtype=np.float64)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def resize(image: Tensor, size: int | Sequence[int] | None) -> Tensor:
    """Resize a ``(C, *spatial)`` image to ``size`` (one int for every axis, or one per axis).

    Bilinear (2D, antialiased when shrinking) or trilinear (3D) interpolation with
    ``align_corners=False``, then clipped to the input's range so bounds still hold.
    """
    if size is None:
        return image
    dims = image.ndim - 1
    target = (int(size),) * dims if isinstance(size, int | float) else tuple(int(s) for s in size)
    if len(target) != dims:
        raise ConfigError(f"size {size} does not fit a {dims}D image")
    if any(s < 1 for s in target):
        raise ConfigError(f"size must be positive, got {size}")
    if tuple(image.shape[1:]) == target:
        return image
    mode = "bilinear" if dims == 2 else "trilinear"
    shrinking = dims == 2 and any(t < s for t, s in zip(target, image.shape[1:], strict=True))
    out = F.interpolate(image[None].float(), size=target, mode=mode, align_corners=False, antialias=shrinking)[0]
    return out.clamp(float(image.min()), float(image.max()))


def as_tensor(array: np.ndarray) -> Tensor:
    """A float32, contiguous torch copy of ``array``."""
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
