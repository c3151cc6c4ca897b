"""NIfTI file space: the stored-value grid of a volume (``scl_slope``/``scl_inter`` over an integer datatype)
and the stages the model takes over (window, resize)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from medrobust.datasets.file_space import Grid, Resize, Stage, Window, one_grid
from medrobust.datasets.transforms import Intensity
from medrobust.errors import ConfigError, DataError


def nifti_grid(path: Path) -> Grid:
    """The grid of one file: its integer datatype's range, scaled by ``scl_slope`` and ``scl_inter``."""
    try:
        img: Any = nib.load(path)
    except Exception as exc:  # nibabel raises many types for bad files
        raise DataError(str(path), f"not a readable NIfTI file ({type(exc).__name__})") from None
    dtype = np.dtype(img.header.get_data_dtype())
    if dtype.kind not in "iu":
        raise DataError(str(path), f"stores {dtype} values: file space needs an integer datatype")
    # nibabel moves scl_slope/scl_inter from the header into the array proxy when it loads a file
    slope, inter = getattr(img.dataobj, "slope", None), getattr(img.dataobj, "inter", None)
    slope = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else float(slope)
    inter = 0.0 if inter is None or not np.isfinite(inter) else float(inter)
    info = np.iinfo(dtype)
    return Grid(slope, inter, int(info.min), int(info.max))


def nifti_file_space(
    paths: Sequence[Path], intensity: Intensity, size: int | Sequence[int] | None
) -> tuple[Grid, tuple[Stage, ...]]:
    """The dataset's one grid and the model-side stages (window, resize) for NIfTI file space."""
    grid = one_grid([(str(p), nifti_grid(p)) for p in paths])
    if intensity.mode in ("minmax", "percentile"):
        raise ConfigError(
            f"window={intensity.mode} scales each volume by its own range, which file space cannot move into the "
            "model; give a preset, [centre, width] or raw"
        )
    stages: list[Stage] = []
    if intensity.mode == "window":
        stages.append(Window(intensity.center, intensity.width))
    if size is not None:
        stages.append(Resize(size if isinstance(size, int) else tuple(int(s) for s in size)))
    return grid, tuple(stages)
