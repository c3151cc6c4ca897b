"""The benchmark's data: MedMNIST splits as image-space tensors in [0, 1], resized on request.

Read with medrobust's MedMNIST loader from the shared folder; nothing is downloaded. The
PneumoniaMNIST copy there is a modified file, so its checksum is skipped explicitly (and
the report says so).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from medrobust.datasets.base import stratified_indices
from medrobust.datasets.medmnist import medmnist

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "medmnist"


@dataclass(frozen=True)
class Split:
    """Images (N, 1, *spatial): float32 in [0, 1], or uint8 when loaded ``raw``; labels (N,) int64."""

    name: str
    images: Tensor
    labels: Tensor
    md5: str
    checksum: str


def data_root() -> Path:
    """``MEDROBUST_DATA``/medmnist when set, else the shared folder next to the repository."""
    env = os.environ.get("MEDROBUST_DATA")
    return Path(env) / "medmnist" if env else DEFAULT_ROOT


def load_split(
    subset: str,
    split: str,
    *,
    file_size: int = 28,
    size: int | None = None,
    n: int | None = None,
    skip_checksum: bool = False,
    raw: bool = False,
) -> Split:
    """The ``split`` of MedMNIST ``subset`` (file at ``file_size``): a stratified ``n``, resized to ``size``.

    ``size`` resizes every spatial side (bilinear/trilinear), clamped back into [0, 1] so the
    data stays inside its bounds. ``raw`` keeps the file's uint8 pixels (a quarter of the
    memory: the 3D train split is 1.2 GB as floats), for training batches scaled one at a time.
    """
    ds = medmnist(subset, root=data_root(), split=split, size=file_size, skip_checksum=skip_checksum)
    index = list(range(len(ds))) if n is None or n >= len(ds) else stratified_indices(ds.labels(), n, seed=0).tolist()
    y = torch.as_tensor(ds.labels()[index], dtype=torch.int64).reshape(-1)
    if raw:
        with np.load(data_root() / str(ds.info.extra["file"]), allow_pickle=False) as z:
            images = torch.from_numpy(z[f"{split}_images"][index]).unsqueeze(1)
        extra = ds.info.extra
        return Split(ds.info.name, images, y, str(extra.get("md5", "")), str(extra.get("checksum", "")))
    x = torch.stack([ds[i][0] for i in index])
    if size is not None and x.shape[-1] != size:
        mode = "bilinear" if x.ndim == 4 else "trilinear"
        x = F.interpolate(x, size=(size,) * (x.ndim - 2), mode=mode, align_corners=False).clamp_(0.0, 1.0)
    extra = ds.info.extra
    return Split(ds.info.name, x.contiguous(), y, str(extra.get("md5", "")), str(extra.get("checksum", "")))
