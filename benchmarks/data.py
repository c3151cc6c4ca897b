"""The benchmark's data: MedMNIST splits as image-space tensors in [0, 1], resized on request.

Read with medrobust's MedMNIST loader from the shared folder; nothing is downloaded. The
PneumoniaMNIST copy there is a modified file, so its checksum is skipped explicitly (and
the report says so).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from medrobust.datasets.base import stratified_indices
from medrobust.datasets.medmnist import medmnist

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "medmnist"


@dataclass(frozen=True)
class Split:
    """Images (N, 1, *spatial) float32 in [0, 1], labels (N,) int64, and where they came from."""

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
    subset: str, split: str, *, file_size: int = 28, size: int | None = None, n: int | None = None, skip_checksum: bool = False
) -> Split:
    """The ``split`` of MedMNIST ``subset`` (file at ``file_size``): a stratified ``n``, resized to ``size``.

    ``size`` resizes every spatial side (bilinear/trilinear), clamped back into [0, 1] so the
    data stays inside its bounds.
    """
    ds = medmnist(subset, root=data_root(), split=split, size=file_size, skip_checksum=skip_checksum)
    index = range(len(ds)) if n is None or n >= len(ds) else stratified_indices(ds.labels(), n, seed=0).tolist()
    x = torch.stack([ds[int(i)][0] for i in index])
    y = torch.as_tensor(ds.labels()[list(index)], dtype=torch.int64).reshape(-1)
    if size is not None and x.shape[-1] != size:
        mode = "bilinear" if x.ndim == 4 else "trilinear"
        x = F.interpolate(x, size=(size,) * (x.ndim - 2), mode=mode, align_corners=False).clamp_(0.0, 1.0)
    extra = ds.info.extra
    return Split(ds.info.name, x.contiguous(), y, str(extra.get("md5", "")), str(extra.get("checksum", "")))
