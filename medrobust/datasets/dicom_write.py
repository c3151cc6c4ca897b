"""Adversarial DICOM out: a copy of a sample's source file(s) with its attacked stored values.

Each copy keeps every attribute of its source except the pixel data (uncompressed, Explicit VR
Little Endian), a new SOP Instance UID and Series Instance UID derived deterministically from the
source's and the attack's (the same run writes the same UIDs), ``ImageType`` DERIVED and a
``DerivationDescription`` naming medrobust, the attack and the budget. The copies carry the
source's patient identifiers by necessity: they are written only on request, into a folder the
user names, never into a results folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid
from torch import Tensor

from medrobust.datasets.dicom import _position, read_dicom
from medrobust.datasets.file_space import Grid
from medrobust.errors import DataError


def derived_uid(uid: str, tag: str) -> str:
    """A UID for the derived copy of ``uid`` under ``tag`` (attack and budget): new, and the same each run."""
    return str(generate_uid(entropy_srcs=["medrobust", str(uid), tag]))


def ordered_sources(paths: Sequence[Path]) -> list[Path]:
    """A sample's files in the loader's slice order (a series by position; one file as it is)."""
    if len(paths) == 1:
        return list(paths)
    headers = [(p, pydicom.dcmread(p, stop_before_pixels=True)) for p in paths]
    return [p for p, _ in sorted(headers, key=lambda h: _position(h[1], h[0]))]


def write_copies(
    paths: Sequence[Path], image: Tensor, grid: Grid, out_dir: Path, tag: str, description: str
) -> list[Path]:
    """Write ``image`` (file space, ``(1, H, W)`` or ``(1, F, H, W)``) as copies of ``paths`` into ``out_dir``."""
    sources = ordered_sources(paths)
    stored = grid.stored(image.detach().cpu().double()).numpy().astype(np.int64)[0]
    frames = stored[None] if stored.ndim == 2 else stored
    if len(sources) > 1 and frames.shape[0] != len(sources):
        raise DataError(str(sources[0]), f"the series has {len(sources)} slices but the image {frames.shape[0]}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    per_file = [frames] if len(sources) == 1 else [frames[i : i + 1] for i in range(len(sources))]
    for source, values in zip(sources, per_file, strict=True):
        ds, original = read_dicom(source)
        target = out_dir / f"{derived_uid(str(ds.get('SOPInstanceUID', source.name)), tag)}.dcm"
        _replace_pixels(ds, values.reshape(original.shape[:3]), source)
        _mark_derived(ds, tag, description)
        # little-endian explicit VR whatever the source's encoding (a big-endian source is converted)
        pydicom.dcmwrite(target, ds, enforce_file_format=True, implicit_vr=False, little_endian=True)
        written.append(target)
    return written


def _replace_pixels(ds: Dataset, values: np.ndarray, source: Path) -> None:
    """Stored ``values`` (frames, rows, cols) as uncompressed pixel data of the source's integer type."""
    if "PALETTE" in str(ds.get("PhotometricInterpretation", "")).upper():
        raise DataError(str(source), "is a PALETTE COLOR image: its pixel data cannot be written back")
    bits = int(ds.get("BitsStored", 16))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    dtype = np.dtype(f"{'i' if signed else 'u'}{1 if int(ds.get('BitsAllocated', 16)) <= 8 else 2}")
    if values.min() < np.iinfo(dtype).min or values.max() > np.iinfo(dtype).max:
        raise DataError(str(source), f"stored values {values.min()}..{values.max()} do not fit its {dtype} pixel data")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    frames = values.astype(dtype)
    ds.set_pixel_data(
        frames[0] if frames.shape[0] == 1 and "NumberOfFrames" not in ds else frames,
        str(ds.get("PhotometricInterpretation", "MONOCHROME2")),
        bits,
        generate_instance_uid=False,
    )


def _mark_derived(ds: Dataset, tag: str, description: str) -> None:
    """New instance and series UIDs, DERIVED image type, and what derived it."""
    sop = UID(derived_uid(str(ds.get("SOPInstanceUID", "")), tag))
    ds.SOPInstanceUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    if "SeriesInstanceUID" in ds:
        ds.SeriesInstanceUID = derived_uid(str(ds.SeriesInstanceUID), tag)
    kept = list(ds.get("ImageType", ["ORIGINAL", "PRIMARY"]))
    ds.ImageType = ["DERIVED", *(kept[1:] or ["SECONDARY"])]
    ds.DerivationDescription = description[:1024]
