"""A dataset of image files: every file is read and checked once, then cached or re-read.

The DICOM, NIfTI and image-folder readers turn their inputs into :class:`Entry` objects;
:class:`FileDataset` loads each one, resizes it, checks it (finite, dimensionality, shape,
bounds), applies the bad-file policy, and fingerprints what it kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from medrobust.datasets.base import DataInfo, MedicalDataset, Sample
from medrobust.datasets.csv_labels import LabelSpec
from medrobust.datasets.policy import BadFiles
from medrobust.datasets.transforms import resize
from medrobust.errors import DataError

log = logging.getLogger(__name__)

Loader = Callable[[], tuple[Tensor, dict[str, str]]]


@dataclass(frozen=True)
class Entry:
    """One sample to read: how errors name it, a stable key, its label and metadata, its loader."""

    source: str
    key: str
    label: np.ndarray
    load: Loader
    meta: dict[str, str] = field(default_factory=dict)


class FileDataset(MedicalDataset):
    """Samples read from files, validated up front; bad ones raise or are listed in ``skipped``."""

    def __init__(
        self,
        entries: Sequence[Entry],
        *,
        name: str,
        spec: LabelSpec,
        bounds: tuple[float, float],
        units: str,
        bad: BadFiles,
        size: int | Sequence[int] | None = None,
        spatial_dims: int | None = None,
        cache: bool = True,
        id_prefix: str = "file",
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.skipped = bad.skipped
        self._size = size
        self._bounds = bounds
        self._cache = cache
        kept: list[Entry] = []
        images: list[Tensor] = []
        metas: list[dict[str, str]] = []
        shape: tuple[int, ...] | None = None
        h = hashlib.sha256(
            json.dumps({"name": name, "settings": dict(settings or {})}, sort_keys=True, default=str).encode()
        )
        for entry in entries:
            try:
                image, header = self._read(entry)
                dims = image.ndim - 1
                if spatial_dims is not None and dims != spatial_dims:
                    raise DataError(
                        entry.source, f"expected a {spatial_dims}D image, got {dims}D of shape {tuple(image.shape)}"
                    )
                if shape is not None and tuple(image.shape) != shape:
                    what = "dimensionality" if len(image.shape) != len(shape) else "shape"
                    raise DataError(
                        entry.source,
                        f"image {what} {tuple(image.shape)} differs from the first image's {shape} (channels first); "
                        "set size= to resize every image, or channels=",
                    )
            except DataError as exc:
                bad.catch(exc)
                continue
            shape = shape or tuple(image.shape)
            spatial_dims = dims
            kept.append(entry)
            metas.append({**entry.meta, **header})
            h.update(entry.key.encode())
            h.update(image.numpy().tobytes())
            h.update(entry.label.tobytes())
            if cache:
                images.append(image)
        if not kept:
            raise DataError(
                name, f"no usable samples: all {len(entries)} were bad ({len(self.skipped)} listed as skipped)"
            )
        if self.skipped:
            log.warning("%s: %d bad input(s) skipped; they are listed in the run manifest", name, len(self.skipped))
        columns = sorted({k for m in metas for k in m})
        self.meta = [{k: m.get(k, "unknown") for k in columns} for m in metas]
        for m in self.meta:
            h.update(json.dumps(m, sort_keys=True).encode())
        self.entries = kept
        self.images = images
        self.label_array = np.stack([e.label for e in kept])
        self._fingerprint = h.hexdigest()
        self._ids = [f"{id_prefix}-{hashlib.sha256(e.key.encode()).hexdigest()[:12]}" for e in kept]
        self.info = DataInfo(
            name=name,
            task=spec.task,
            label_names=spec.names,
            bounds=bounds,
            spatial_dims=int(spatial_dims or 2),
            units=units,
            extra={"shape": list(shape or ()), "skipped": len(self.skipped), **dict(settings or {})},
        )

    def _read(self, entry: Entry) -> tuple[Tensor, dict[str, str]]:
        """Load, resize and check one entry (finite, within bounds)."""
        image, header = entry.load()
        if not bool(torch.isfinite(image).all()):
            raise DataError(entry.source, "has NaN or infinite values")
        image = resize(image.float(), self._size)
        lo, hi = self._bounds
        if float(image.min()) < lo - 1e-6 or float(image.max()) > hi + 1e-6:
            raise DataError(
                entry.source,
                f"values span [{float(image.min()):.4g}, {float(image.max()):.4g}], outside the bounds {self._bounds}",
            )
        return image.contiguous(), header

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> Sample:
        image = self.images[index] if self._cache else self._read(self.entries[index])[0]
        return image, torch.as_tensor(self.label_array[index]), dict(self.meta[index])

    def labels(self) -> np.ndarray:
        return self.label_array

    def sample_id(self, index: int) -> str:
        return self._ids[index]

    def fingerprint(self) -> str:
        return self._fingerprint
