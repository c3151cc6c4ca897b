"""DICOM file space: one stored-value grid for the dataset, and the window and resize the model takes over.

The headers are read once (no pixel data) to find the grid (:func:`header_grid`) and the stages
that reproduce the model-space loader in the model: the window (a preset, ``[centre, width]`` or
the files' own linear VOI window) with MONOCHROME1 inversion, then the resize.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from medrobust.datasets.file_space import Grid, Resize, Stage, Window, header_grid, one_grid
from medrobust.datasets.transforms import Intensity
from medrobust.errors import ConfigError, DataError


def file_space_of(
    samples: Sequence[Sequence[Path]], intensity: Intensity, size: int | Sequence[int] | None
) -> tuple[Grid, tuple[Stage, ...]]:
    """The dataset's grid and the model-side stages for ``samples`` (each a list of its files)."""
    headers = [(str(p), _header(p)) for paths in samples for p in paths]
    grid = one_grid([(source, header_grid(ds, source)) for source, ds in headers])
    stages: list[Stage] = []
    if intensity.mode in ("minmax", "percentile"):
        raise ConfigError(
            f"window={intensity.mode} scales each image by its own range, which file space cannot move into the model; "
            "choose a preset, [centre, width], voi or raw"
        )
    if intensity.mode != "raw":
        center, width = (intensity.center, intensity.width) if intensity.mode == "window" else _voi_window(headers)
        stages.append(Window(center, width, invert=_inverted(headers)))
    if size is not None:
        stages.append(Resize(size if isinstance(size, int) else tuple(int(s) for s in size)))
    return grid, tuple(stages)


def _header(path: Path) -> Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many types for damaged headers
        raise DataError(str(path), f"not a readable DICOM file ({type(exc).__name__})") from None


def _voi_window(headers: Sequence[tuple[str, Dataset]]) -> tuple[float, float]:
    """The one linear window every file declares (``window=voi`` in file space)."""
    found: tuple[float, float] | None = None
    first = ""
    for source, ds in headers:
        if "VOILUTSequence" in ds or str(ds.get("VOILUTFunction", "LINEAR")).upper() != "LINEAR":
            raise DataError(source, "has a VOI LUT table or a non-linear VOI function: give window=[centre, width]")
        if "WindowCenter" not in ds or "WindowWidth" not in ds:
            raise DataError(source, "declares no window (WindowCenter/WindowWidth): give window=[centre, width]")
        window = (_first(ds.WindowCenter), _first(ds.WindowWidth))
        if found is None:
            found, first = window, source
        elif window != found:
            raise DataError(
                source, f"declares the window {window}, not {found} as {first!r}: give window=[centre, width]"
            )
    assert found is not None
    return found


def _inverted(headers: Sequence[tuple[str, Dataset]]) -> bool:
    kinds = {str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper() for _, ds in headers}
    if len(kinds) > 1:
        raise DataError(headers[0][0], f"the files mix photometric interpretations {sorted(kinds)}")
    return kinds == {"MONOCHROME1"}


def _first(value: object) -> float:
    """A multi-valued window attribute's first value (the file's default window)."""
    if isinstance(value, str | bytes) or not hasattr(value, "__len__"):
        return float(value)  # type: ignore[arg-type]
    return float(value[0])  # type: ignore[index]
