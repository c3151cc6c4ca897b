"""DICOM files and series read with pydicom, labelled by a CSV naming files or UIDs.

Pixels go through the modality LUT (RescaleSlope/Intercept: Hounsfield units for CT),
then a window (lung, mediastinum, bone, brain, abdomen, ``[centre, width]``, or the
file's own VOI LUT) onto ``[0, 1]``, or stay in physical units within declared bounds.
MONOCHROME1 is inverted; multi-frame files and series (ordered by ImagePositionPatient)
become 3D volumes ``(C, slices, rows, columns)``. Metadata comes from the header (sex,
age band, manufacturer, body part, modality: the clinical allow-list of
:mod:`medrobust.datasets.identifiers`); names, IDs, birth dates and UIDs are never kept.
Files are read only under ``root`` (see :mod:`medrobust.datasets.policy`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from torch import Tensor

from medrobust.datasets.csv_labels import read_labels
from medrobust.datasets.dicom_pixels import decode_pixels
from medrobust.datasets.dicom_space import file_space_of
from medrobust.datasets.file_space import SPACES, Grid, Stage
from medrobust.datasets.files import Entry, FileDataset
from medrobust.datasets.identifiers import identifying_value, is_clinical, normalize_column
from medrobust.datasets.masks import Region, region_of
from medrobust.datasets.policy import BadFiles, Confinement
from medrobust.datasets.transforms import FILE_VALUES, Intensity, as_tensor, parse_intensity, to_unit
from medrobust.errors import ConfigError, DataError

log = logging.getLogger(__name__)


KEY_COLUMNS = ("file", "SOPInstanceUID", "SeriesInstanceUID")


def dicom(
    root: str | Path,
    labels: str | Path,
    *,
    label_columns: str | Sequence[str] | None = None,
    task: str | None = None,
    label_names: Sequence[str] | None = None,
    meta_columns: Sequence[str] | None = None,
    window: str | Sequence[float] | None = "voi",
    bounds: Sequence[float] | None = None,
    size: int | Sequence[int] | None = None,
    age_band: int = 10,
    on_error: str = "raise",
    cache: bool = False,
    cache_bytes: int | None = None,
    allow_outside_root: bool = False,
    space: str = "model",
    mask: str | float | None = None,
) -> FileDataset:
    """DICOM data under ``root`` labelled by the CSV ``labels``.

    The CSV names each sample in a ``file`` column (a path under ``root``; multi-frame
    files become volumes), a ``SOPInstanceUID`` column (one image) or a
    ``SeriesInstanceUID`` column (all files of the series stacked into a volume).
    ``window``: ``voi`` (default), a preset, ``[centre, width]``, ``minmax``, ``percentile``
    or ``raw`` (physical units clipped to ``bounds``, default (-1024, 3071) HU).
    Files are streamed (``cache``/``cache_bytes`` keep some decoded) and must lie under ``root``
    unless ``allow_outside_root``.
    ``space``: ``model`` (default: attacks see the windowed, resized image) or ``file`` (attacks
    see the stored values in physical units at native resolution, bounded by what the file can
    store; the window and resize move into the model, see :mod:`medrobust.datasets.file_space`).
    ``mask`` (file space): ``body`` or a threshold in physical units; attacks change only pixels above it.
    """
    if space not in SPACES:
        raise ConfigError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    if space == "file" and bounds is not None:
        raise ConfigError("space=file takes its bounds from the files (what their stored values can hold): drop bounds")
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(str(base), "DICOM folder not found")
    intensity = parse_intensity(window, bounds, default="voi", allow_voi=True)
    loaded = FILE_VALUES if space == "file" else intensity  # file space: physical values, nothing scaled
    bad = BadFiles(on_error)
    confine = Confinement(base, allow_outside_root=allow_outside_root)
    table = read_labels(
        labels,
        keys=KEY_COLUMNS,
        bad=bad,
        label_columns=label_columns,
        task=task,
        label_names=label_names,
        meta_columns=meta_columns,
    )
    kind = next(k for k in KEY_COLUMNS if normalize_column(k) == normalize_column(table.key_column))
    entries: list[Entry] = []
    if kind == "file":
        for row in table.rows:
            path = confine.check(base / row.key, source=table.source(row), named=row.key)
            if not path.is_file():
                bad.report(table.source(row), f"names file {row.key!r}, which does not exist under {str(base)!r}")
                continue
            entries.append(Entry(str(path), f"file:{row.key}", row.label, _FileLoad(path, loaded, age_band), row.meta))
    else:
        by_sop, by_series = _scan(base, bad, confine)
        index = by_sop if kind == "SOPInstanceUID" else by_series
        for row in table.rows:
            paths = index.get(row.key)
            if not paths:
                bad.report(table.source(row), f"names a {kind} that no DICOM file under {str(base)!r} has")
                continue
            if kind == "SOPInstanceUID":
                entries.append(
                    Entry(str(paths[0]), f"sop:{row.key}", row.label, _FileLoad(paths[0], loaded, age_band), row.meta)
                )
            else:
                source = f"the series of {table.source(row)}"
                entries.append(
                    Entry(
                        source,
                        f"series:{row.key}",
                        row.label,
                        _SeriesLoad(paths, loaded, age_band, source),
                        row.meta,
                    )
                )
    if not entries:
        raise DataError(str(table.path), f"no usable rows ({len(bad.skipped)} bad input(s) skipped)")
    grid: Grid | None = None
    stages: tuple[Stage, ...] = ()
    bounds_, units = intensity.bounds, intensity.describe()
    if space == "file":
        grid, stages = file_space_of([e.load.paths for e in entries], intensity, size)  # type: ignore[attr-defined]
        bounds_, size = grid.bounds, None
        units = f"physical units (modality LUT applied) at native resolution, stored on the grid {grid.describe()}"
    data = FileDataset(
        entries,
        name=f"dicom:{base.name}",
        spec=table.spec,
        bounds=bounds_,
        units=units,
        bad=bad,
        size=size,
        cache=cache,
        cache_bytes=cache_bytes,
        id_prefix="dcm",
        settings={
            "window": intensity.name or intensity.mode,
            "center": intensity.center,
            "width": intensity.width,
            "size": size,
            "key": kind,
            "space": space,
            "mask": mask if mask is None or not Path(str(mask)).expanduser().is_dir() else "folder",
        },
        stages=stages,
        grid=grid,
    )
    data.restrict(_region(data, mask, space))  # a mask folder is the user's own, named explicitly
    return data


def _region(data: FileDataset, mask: str | float | None, space: str) -> Region | None:
    """The data's region mask; a mask folder holds a mask file under each image file's own name."""
    folder = Path(str(mask)).expanduser() if isinstance(mask, str) else None
    if folder is None or not folder.is_dir():
        return region_of(mask, space)
    if any(not e.key.startswith("file:") for e in data.entries):
        raise ConfigError("a mask folder needs rows naming files (one mask file per image file)")
    images = [(e.source, data[i][0]) for i, e in enumerate(data.entries)]
    loads = []
    for e in data.entries:
        path = folder / e.key.removeprefix("file:")
        if not path.is_file():
            raise DataError(str(path), f"no mask for {e.key.removeprefix('file:')!r} in the mask folder")
        loads.append((str(path), partial(_stored_values, path)))
    return region_of(mask, space, images, loads)


def _stored_values(path: Path) -> tuple[Tensor, dict[str, str]]:
    """A mask file's stored values (no modality LUT: 0 is outside), shaped as the loader shapes images."""
    _, frames = read_dicom(path)
    image = frames[None].astype(np.float32)
    return as_tensor(image[:, 0] if image.shape[1] == 1 else image), {}


def read_dicom(path: Path) -> tuple[Dataset, np.ndarray]:
    """The dataset and its frames ``(F, rows, cols[, 3])``; every failure is a :class:`DataError`."""
    source = str(path)
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        raise DataError(source, "not a DICOM file (no 'DICM' marker; is it another kind of file?)") from None
    except Exception as exc:  # pydicom raises many types for damaged headers
        raise DataError(
            source, f"not a readable DICOM file: truncated or corrupt header ({type(exc).__name__}: {exc})"
        ) from None
    if not any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise DataError(
            source,
            f"has no pixel data (Modality {ds.get('Modality', 'unknown')}): not an image, or the file is truncated",
        )
    frames = decode_pixels(ds, source)  # a failure names the decoder plugins pydicom has for the syntax
    if int(ds.get("NumberOfFrames", 1) or 1) == 1:
        frames = frames[None]
    return ds, frames


def _to_image(ds: Dataset, frames: np.ndarray, intensity: Intensity, source: str) -> np.ndarray:
    """Frames into image space, channels first: ``(C, F, rows, cols)``."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if int(ds.get("SamplesPerPixel", 1)) == 3:
        if intensity.mode == "raw":
            raise DataError(source, "is a colour image; window=raw is for greyscale physical units")
        bits = int(ds.get("BitsStored", 8))
        return np.clip(frames.astype(np.float64) / (2**bits - 1), 0.0, 1.0).transpose(3, 0, 1, 2)
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise DataError(source, f"photometric interpretation {photometric} is not supported (greyscale or RGB only)")
    physical = np.asarray(apply_modality_lut(frames, ds), dtype=np.float64)
    return _scale(physical, ds, intensity, source)[None]


def _scale(physical: np.ndarray, ds: Dataset, intensity: Intensity, source: str) -> np.ndarray:
    """Physical values into image space; MONOCHROME1 is inverted so bright means dense."""
    if intensity.mode == "voi" and "VOILUTSequence" in ds:
        lut = np.asarray(ds.VOILUTSequence[0].LUTData, dtype=np.float64)
        out = to_unit(
            np.asarray(apply_voi_lut(np.rint(physical).astype(np.int64), ds, prefer_lut=True), dtype=np.float64),
            float(lut.min()),
            float(lut.max()),
        )
    elif intensity.mode == "voi" and "WindowCenter" in ds and "WindowWidth" in ds:
        lo, hi = apply_voi_lut(np.array([-1e12, 1e12]), ds, prefer_lut=False)
        out = to_unit(np.asarray(apply_voi_lut(physical, ds, prefer_lut=False), dtype=np.float64), float(lo), float(hi))
    elif intensity.mode == "voi":
        out = Intensity("minmax").apply(physical)
    else:
        out = intensity.apply(physical)
        if intensity.mode == "raw":
            outside = int(((physical < intensity.bounds[0]) | (physical > intensity.bounds[1])).sum())
            if outside:
                log.info("%s: %d values outside %s clipped", source, outside, intensity.bounds)
            return out
    if str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1":
        out = 1.0 - out
    return out


def header_meta(ds: Dataset, age_band: int = 10) -> dict[str, str]:
    """Subgroup metadata from the header, through the clinical allow-list; identifier-like values become unknown."""
    sex = str(ds.get("PatientSex", "") or "").strip().upper()
    meta = {
        "sex": sex if sex in ("F", "M", "O") else "unknown",
        "age_band": age_band_of(str(ds.get("PatientAge", "") or ""), age_band),
        "manufacturer": _text(ds, "Manufacturer"),
        "body_part": _text(ds, "BodyPartExamined"),
        "modality": _text(ds, "Modality"),
    }
    return {k: "unknown" if identifying_value(v) else v for k, v in meta.items() if is_clinical(k)}


def age_band_of(age: str, width: int = 10) -> str:
    """``045Y`` into ``40-49``; ages from 90 on are pooled as ``90+``; unknown as ``unknown``."""
    text = age.strip().upper()
    if len(text) != 4 or not text[:3].isdigit() or text[3] not in "DWMY":
        return "unknown"
    years = int(text[:3]) / {"D": 365.25, "W": 52.18, "M": 12.0, "Y": 1.0}[text[3]]
    if years >= 90:
        return "90+"
    lo = int(years // width) * width
    return f"{lo}-{min(lo + width - 1, 89)}"


def _text(ds: Dataset, keyword: str) -> str:
    value = str(ds.get(keyword, "") or "").strip()
    return value[:64] if value else "unknown"


class _FileLoad:
    """Reads one DICOM file: a 2D image ``(C, H, W)``, or a volume when it has several frames."""

    def __init__(self, path: Path, intensity: Intensity, age_band: int) -> None:
        self.path = path
        self.paths = [path]
        self.intensity = intensity
        self.age_band = age_band

    def __call__(self) -> tuple[Tensor, dict[str, str]]:
        ds, frames = read_dicom(self.path)
        image = _to_image(ds, frames, self.intensity, str(self.path))
        if image.shape[1] == 1:
            image = image[:, 0]
        return as_tensor(image), header_meta(ds, self.age_band)


class _SeriesLoad:
    """Reads a series of single-frame files into one volume ``(1, slices, H, W)``."""

    def __init__(self, paths: Sequence[Path], intensity: Intensity, age_band: int, source: str) -> None:
        self.paths = list(paths)
        self.intensity = intensity
        self.age_band = age_band
        self.source = source

    def __call__(self) -> tuple[Tensor, dict[str, str]]:
        slices = []
        for path in self.paths:
            ds, frames = read_dicom(path)
            if frames.shape[0] != 1 or int(ds.get("SamplesPerPixel", 1)) != 1:
                raise DataError(str(path), "a series slice must be a single-frame greyscale image")
            slices.append((_position(ds, path), path, ds, frames[0]))
        slices.sort(key=lambda s: s[0])
        positions = [s[0] for s in slices]
        if len(set(positions)) != len(positions):
            raise DataError(self.source, "two slices share one position; the series cannot be ordered")
        shape = slices[0][3].shape
        for _, path, _, pixels in slices:
            if pixels.shape != shape:
                raise DataError(str(path), f"slice of shape {pixels.shape} differs from the series' {shape}")
        first = slices[0][2]
        physical = np.stack([np.asarray(apply_modality_lut(px, ds), dtype=np.float64) for _, _, ds, px in slices])
        photometric = str(first.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
        if photometric not in ("MONOCHROME1", "MONOCHROME2"):
            raise DataError(self.source, f"photometric interpretation {photometric} is not supported in a series")
        return as_tensor(_scale(physical, first, self.intensity, self.source)[None]), header_meta(first, self.age_band)


def _position(ds: Dataset, path: Path) -> float:
    """Where a slice lies along the series' normal (ImagePositionPatient), else its InstanceNumber."""
    ipp, iop = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")
    if ipp is not None and iop is not None and len(ipp) == 3 and len(iop) == 6:
        normal = np.cross(np.asarray(iop[:3], dtype=float), np.asarray(iop[3:], dtype=float))
        return float(np.dot(normal, np.asarray(ipp, dtype=float)))
    if ds.get("InstanceNumber") is not None:
        return float(ds.InstanceNumber)
    raise DataError(str(path), "has neither ImagePositionPatient nor InstanceNumber to order its series by")


def _scan(base: Path, bad: BadFiles, confine: Confinement) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """Index every file under ``base`` by SOP and Series Instance UID (headers only; links out of root refused)."""
    by_sop: dict[str, list[Path]] = defaultdict(list)
    by_series: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")):
        confine.check(path, source=str(path))
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID", "SeriesInstanceUID"])
        except InvalidDicomError:
            bad.report(str(path), "not a DICOM file (no 'DICM' marker; is it another kind of file?)")
            continue
        except Exception as exc:  # pydicom raises many types for damaged headers
            bad.report(str(path), f"not a readable DICOM file: truncated or corrupt header ({type(exc).__name__})")
            continue
        if "SOPInstanceUID" in ds:
            by_sop[str(ds.SOPInstanceUID)].append(path)
        if "SeriesInstanceUID" in ds:
            by_series[str(ds.SeriesInstanceUID)].append(path)
    return dict(by_sop), dict(by_series)
