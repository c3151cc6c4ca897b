"""File space: what a valid file can hold, and the model-side stages a file-space sample still needs.

In file space (``space="file"``) a sample is the stored pixel data at native resolution in
physical units (the modality LUT applied: HU for CT). :class:`Grid` is the file's stored-value
grid (``physical = slope * stored + intercept`` with stored values in the range ``BitsStored``
and ``PixelRepresentation`` allow), so an attacked image can be rounded back to values a file
can store. :class:`Window` and :class:`Resize` describe what the loader does in model space and
the model's preprocessing does in file space (:mod:`medrobust.models.preprocessing` runs them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from pydicom.dataset import Dataset
from torch import Tensor

from medrobust.errors import DataError

SPACES = ("model", "file")
"""``model``: the loader windows and resizes (attacks see [0, 1] model inputs); ``file``: stored values."""


@dataclass(frozen=True)
class Window:
    """The DICOM linear VOI window onto [0, 1] (``invert`` for MONOCHROME1: bright means dense)."""

    center: float
    width: float
    invert: bool = False

    def describe(self) -> dict[str, object]:
        """Plain description for the manifest."""
        return {"stage": "window", "center": self.center, "width": self.width, "invert": self.invert}


@dataclass(frozen=True)
class Resize:
    """Resize to ``size`` (bilinear, antialiased when shrinking; trilinear in 3D), as the loader does."""

    size: int | tuple[int, ...]

    def describe(self) -> dict[str, object]:
        """Plain description for the manifest."""
        return {"stage": "resize", "size": self.size if isinstance(self.size, int) else list(self.size)}


Stage = Window | Resize


QUANTISED = "+quantised"
"""Suffix of the curve of an attack's examples rounded onto the stored-value grid (``pgd-linf+quantised``)."""


@dataclass(frozen=True)
class Grid:
    """Stored values ``low..high`` (integers) seen as ``slope * stored + intercept`` physical values."""

    slope: float
    intercept: float
    low: int
    high: int

    @property
    def bounds(self) -> tuple[float, float]:
        """The physical range a valid file can hold (the attack's bounds in file space)."""
        ends = (self.slope * self.low + self.intercept, self.slope * self.high + self.intercept)
        return (min(ends), max(ends))

    @property
    def step(self) -> float:
        """The smallest physical change a file can store."""
        return abs(self.slope)

    def describe(self) -> dict[str, object]:
        """Plain description for the manifest and the summary."""
        return {"slope": self.slope, "intercept": self.intercept, "stored_low": self.low, "stored_high": self.high}

    def stored(self, x: Tensor) -> Tensor:
        """Physical values ``x`` as stored integers (rounded, clipped to the representable range)."""
        return torch.round((x - self.intercept) / self.slope).clamp(self.low, self.high)

    def snap(self, x_adv: Tensor, x: Tensor, eps: float | Tensor, norm: str, outward: bool = False) -> Tensor:
        """``x_adv`` moved onto the grid without leaving the budget around ``x`` (itself on the grid).

        L-inf rounds each change to the nearest storable step (``outward``: away from zero, the
        search's second candidate) and caps it at the largest whole step within ``eps``; L2 and L1
        truncate each change toward zero, which never grows the norm.
        """
        k = (x_adv - x) / self.step
        if norm == "linf":
            e = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
            e = e if e.shape == x.shape else e.reshape(-1, *([1] * (x.ndim - 1)))  # element-wise: a masked budget
            cap = torch.floor(e / self.step + 1e-6)
            steps = torch.sign(k) * torch.ceil(k.abs() - 1e-6) if outward else torch.round(k)
            k = torch.maximum(torch.minimum(steps, cap), -cap)
        else:
            k = torch.trunc(k)
        lo, hi = self.bounds
        return (x + k * self.step).clamp(lo, hi)


def header_grid(ds: Dataset, source: str) -> Grid:
    """The stored-value grid of one DICOM header; a file without a linear integer one is a :class:`DataError`."""
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        raise DataError(source, "has floating-point pixel data: file space needs stored integers")
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise DataError(source, "is a colour image: file space is for greyscale stored values")
    if "ModalityLUTSequence" in ds:
        raise DataError(source, "has a modality LUT table: file space needs a linear rescale (slope, intercept)")
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    if slope == 0:
        raise DataError(source, "has RescaleSlope 0: its stored values do not map to physical ones")
    return Grid(slope, float(ds.get("RescaleIntercept", 0.0) or 0.0), low, high)


def one_grid(grids: Sequence[tuple[str, Grid]]) -> Grid:
    """The grid every file shares; the first file that differs is named."""
    first_source, first = grids[0]
    for source, grid in grids[1:]:
        if grid != first:
            raise DataError(
                source,
                f"stores values on another grid ({grid.describe()}) than {first_source!r} ({first.describe()}): "
                "file space needs one grid per dataset",
            )
    return first
