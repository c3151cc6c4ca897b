"""NIfTI volumes (``.nii``, ``.nii.gz``) read with nibabel, labelled by a CSV.

Each volume is reoriented to the closest canonical (RAS+) orientation, its scaled data
(``scl_slope``/``scl_inter`` applied) is mapped to image space by a window, min-max or
percentile scaling, or kept in physical units within declared bounds, and resized on
request. Volumes come out as ``(1, X, Y, Z)``, MONAI's channel-first order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from torch import Tensor

from medrobust.datasets.csv_labels import read_labels
from medrobust.datasets.file_space import SPACES, Grid, Stage
from medrobust.datasets.files import Entry, FileDataset
from medrobust.datasets.masks import Region, region_of
from medrobust.datasets.nifti_space import nifti_file_space
from medrobust.datasets.policy import BadFiles, Confinement
from medrobust.datasets.transforms import FILE_VALUES, Intensity, as_tensor, parse_intensity
from medrobust.errors import ConfigError, DataError


def nifti(
    root: str | Path,
    labels: str | Path,
    *,
    label_columns: str | Sequence[str] | None = None,
    task: str | None = None,
    label_names: Sequence[str] | None = None,
    meta_columns: Sequence[str] | None = None,
    window: str | Sequence[float] | None = "minmax",
    bounds: Sequence[float] | None = None,
    size: int | Sequence[int] | None = None,
    volume: int | None = None,
    canonical: bool = True,
    on_error: str = "raise",
    cache: bool = False,
    cache_bytes: int | None = None,
    allow_outside_root: bool = False,
    space: str = "model",
    mask: str | float | None = None,
) -> FileDataset:
    """3D volumes under ``root`` named by the ``file`` column of the labels CSV ``labels``.

    ``window``: ``minmax`` (default), ``percentile``, a preset such as ``brain``, ``[centre, width]``
    or ``raw`` (physical units clipped to ``bounds``). ``volume`` picks one volume of a 4D file.
    Files are streamed (``cache``/``cache_bytes`` keep some decoded) and must lie under ``root``
    unless ``allow_outside_root``. ``space="file"``: the stored values in physical units at native
    resolution, bounded by the datatype's range (see :mod:`medrobust.datasets.nifti_space`);
    ``mask`` (file space): ``body`` or a threshold in physical units, attacks change only pixels above it.
    """
    if space not in SPACES:
        raise ConfigError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    if space == "file" and bounds is not None:
        raise ConfigError("space=file takes its bounds from the files (what their datatype can hold): drop bounds")
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(str(base), "NIfTI folder not found")
    intensity = parse_intensity(window, bounds, default="minmax")
    loaded = FILE_VALUES if space == "file" else intensity
    bad = BadFiles(on_error)
    confine = Confinement(base, allow_outside_root=allow_outside_root)
    table = read_labels(
        labels,
        keys=("file", "path"),
        bad=bad,
        label_columns=label_columns,
        task=task,
        label_names=label_names,
        meta_columns=meta_columns,
    )
    entries: list[Entry] = []
    for row in table.rows:
        path = confine.check(base / row.key, source=table.source(row), named=row.key)
        if not path.is_file():
            bad.report(table.source(row), f"names file {row.key!r}, which does not exist under {str(base)!r}")
            continue
        entries.append(Entry(str(path), row.key, row.label, _Load(path, loaded, volume, canonical), row.meta))
    if not entries:
        raise DataError(str(table.path), f"no usable rows ({len(bad.skipped)} bad input(s) skipped)")
    grid: Grid | None = None
    stages: tuple[Stage, ...] = ()
    bounds_, units = intensity.bounds, intensity.describe()
    if space == "file":
        grid, stages = nifti_file_space([e.load.path for e in entries], intensity, size)  # type: ignore[attr-defined]
        bounds_, size = grid.bounds, None
        units = f"physical units (scl_slope/scl_inter applied) at native resolution, on the grid {grid.describe()}"
    data = FileDataset(
        entries,
        name=f"nifti:{base.name}",
        spec=table.spec,
        bounds=bounds_,
        units=units,
        bad=bad,
        size=size,
        spatial_dims=3,
        cache=cache,
        cache_bytes=cache_bytes,
        id_prefix="nii",
        settings={
            "window": intensity.name or intensity.mode,
            "size": size,
            "volume": volume,
            "canonical": canonical,
            "space": space,
            "mask": mask if mask is None or not Path(str(mask)).expanduser().is_dir() else "folder",
        },
        stages=stages,
        grid=grid,
    )
    data.restrict(_region(data, mask, space))  # a mask folder is the user's own, named explicitly
    return data


def _region(data: FileDataset, mask: str | float | None, space: str) -> Region | None:
    """The data's region mask; a mask folder holds a mask volume under each image file's own name."""
    folder = Path(str(mask)).expanduser() if isinstance(mask, str) else None
    if folder is None or not folder.is_dir():
        return region_of(mask, space)
    images = [(e.source, data[i][0]) for i, e in enumerate(data.entries)]
    loads = []
    for e in data.entries:
        path = folder / e.key
        if not path.is_file():
            raise DataError(str(path), f"no mask for {e.key!r} in the mask folder")
        source = e.load
        assert isinstance(source, _Load)
        loads.append((str(path), _Load(path, FILE_VALUES, source.volume, source.canonical)))
    return region_of(mask, space, images, loads)


class _Load:
    """Reads one NIfTI file into a ``(1, X, Y, Z)`` tensor in image space."""

    def __init__(self, path: Path, intensity: Intensity, volume: int | None, canonical: bool) -> None:
        self.path = path
        self.intensity = intensity
        self.volume = volume
        self.canonical = canonical

    def __call__(self) -> tuple[Tensor, dict[str, str]]:
        source = str(self.path)
        try:
            img: Any = nib.load(self.path)
            if self.canonical:
                img = nib.as_closest_canonical(img)
            data = np.asarray(img.get_fdata(dtype=np.float32), dtype=np.float64)
        except Exception as exc:  # nibabel raises many types for bad files (ImageFileError, EOFError, zlib, ...)
            raise DataError(source, f"not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
        if data.ndim == 4 and self.volume is not None:
            if not 0 <= self.volume < data.shape[3]:
                raise DataError(source, f"volume={self.volume} but the file has {data.shape[3]} volumes")
            data = data[..., self.volume]
        elif data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        if data.ndim != 3:
            hint = "; set volume=K to take one volume" if data.ndim == 4 else ""
            raise DataError(source, f"expected a 3D volume, got a {data.ndim}D image of shape {data.shape}{hint}")
        if not np.isfinite(data).all():
            raise DataError(source, f"has {int((~np.isfinite(data)).sum())} NaN or infinite voxels")
        return as_tensor(self.intensity.apply(data)[None]), {}
