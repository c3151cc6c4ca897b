"""Adversarial NIfTI out: a copy of a volume with its attacked stored values, in the file's own axes and datatype.

nibabel recomputes ``scl_slope``/``scl_inter`` from the data when it saves, which would move the
values off the file's grid; the copy is therefore saved with the stored integers and the source's
scaling is written back into the header bytes (NIfTI-1: ``scl_slope`` at byte 112, ``scl_inter`` at
116), so reading it gives exactly ``slope * stored + intercept``. Headers carry no patient fields
beyond ``descrip``, which names medrobust.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from torch import Tensor

from medrobust.datasets.file_space import Grid
from medrobust.errors import DataError

_SCL_OFFSET = 112


def write_nifti_copy(source: Path, image: Tensor, grid: Grid, out_dir: Path, tag: str, canonical: bool) -> Path:
    """``image`` (file space, ``(1, X, Y, Z)`` as the loader oriented it) stored as a copy of ``source``."""
    img: Any = nib.load(source)
    if not isinstance(img, nib.Nifti1Image) or len(img.shape) != 3:
        raise DataError(str(source), "only 3D NIfTI-1 volumes can be written back")
    stored = grid.stored(image.detach().cpu().double()).numpy()[0]
    if canonical:  # back from RAS+ to the file's own axes
        start = nib.orientations.io_orientation(img.affine)
        back = nib.orientations.ornt_transform(nib.orientations.axcodes2ornt(("R", "A", "S")), start)
        stored = nib.orientations.apply_orientation(stored, back)
    if stored.shape != img.shape:
        raise DataError(str(source), f"cannot write a {stored.shape} volume over a file of shape {img.shape}")
    dtype = np.dtype(img.header.get_data_dtype())
    copy = nib.Nifti1Image(np.asarray(stored, dtype=dtype), img.affine, img.header.copy())
    copy.set_data_dtype(dtype)
    copy.header["descrip"] = b"medrobust adversarial example"
    name = hashlib.sha256(f"{source.name}|{tag}".encode()).hexdigest()[:16]
    target = out_dir / f"{name}.nii.gz"
    out_dir.mkdir(parents=True, exist_ok=True)
    copy.header["vox_offset"] = 352  # the 348-byte header, 4 bytes of (no) extensions, then the voxels
    raw = bytearray(copy.header.binaryblock + b"\0" * 4)
    raw[_SCL_OFFSET : _SCL_OFFSET + 8] = np.array(
        [grid.slope, grid.intercept], dtype=f"{copy.header.endianness}f4"
    ).tobytes()
    data = np.asarray(stored, dtype=dtype.newbyteorder(copy.header.endianness)).tobytes(order="F")
    with gzip.open(target, "wb") as f:
        f.write(bytes(raw) + data)
    return target
