"""A dataset of image files: every file is read and checked once up front, then streamed.

The DICOM, NIfTI and image-folder readers turn their inputs into :class:`Entry` objects;
:class:`FileDataset` loads each one, resizes it, checks it (finite, dimensionality, shape,
bounds), applies the bad-file policy, and fingerprints what it kept. The pixels are then
dropped: each ``__getitem__`` reads and decodes its file again (DataLoader workers decode in
parallel), so memory stays bounded. ``cache=True`` or ``cache_bytes=N`` keeps decoded images
of the up-front pass, first come first kept, until the byte budget is full; the rest stream.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from medrobust.datasets.base import DataInfo, MedicalDataset, Sample
from medrobust.datasets.csv_labels import LabelSpec
from medrobust.datasets.file_space import Grid, Stage
from medrobust.datasets.masks import Region
from medrobust.datasets.policy import BadFiles
from medrobust.datasets.transforms import resize
from medrobust.errors import ConfigError, DataError

log = logging.getLogger(__name__)

Loader = Callable[[], tuple[Tensor, dict[str, str]]]
DEFAULT_CACHE_BYTES = 1 << 30  # the budget of cache=True without cache_bytes: 1 GiB of decoded images


@dataclass(frozen=True)
class Entry:
    """One sample to read: how errors name it, a stable key, its label and metadata, its loader."""

    source: str
    key: str
    label: np.ndarray
    load: Loader
    meta: dict[str, str] = field(default_factory=dict)


class FileDataset(MedicalDataset):
    """Samples read from files, validated up front, streamed (or cached within a byte budget).

    Bad inputs raise or are listed in ``skipped``. ``cached_bytes`` is what the cache holds now.
    """

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
        cache: bool = False,
        cache_bytes: int | None = None,
        id_prefix: str = "file",
        settings: Mapping[str, Any] | None = None,
        stages: tuple[Stage, ...] = (),
        grid: Grid | None = None,
    ) -> None:
        self.skipped = bad.skipped
        self._size = size
        self._bounds = bounds
        budget = cache_budget(cache, cache_bytes)
        self._cached: dict[int, Tensor] = {}
        self.cached_bytes = 0
        kept: list[Entry] = []
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
            nbytes = max(image.element_size() * image.nelement(), image.untyped_storage().nbytes())
            if self.cached_bytes + nbytes <= budget:
                self._cached[len(kept) - 1] = image
                self.cached_bytes += nbytes
            del image
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
        self._shape = shape
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
            stages=stages,
            grid=grid,
            modality=_modality(self.meta),
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

    def restrict(self, region: Region | None) -> None:
        """Attach a file-space region mask; its content joins the fingerprint, so another mask is another run."""
        if region is None:
            return
        self.info = replace(self.info, region=region)
        self._fingerprint = hashlib.sha256((self._fingerprint + region.digest()).encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def images(self) -> list[Tensor]:
        """The decoded images the cache holds now, in index order (empty when streaming)."""
        return [self._cached[i] for i in sorted(self._cached)]

    def __getitem__(self, index: int) -> Sample:
        index = range(len(self.entries))[index]
        image = self._cached.get(index)
        if image is None:
            entry = self.entries[index]
            image = self._read(entry)[0]
            if tuple(image.shape) != self._shape:
                raise DataError(
                    entry.source, f"now reads as shape {tuple(image.shape)}, not the {self._shape} checked up front"
                )
        return image, torch.as_tensor(self.label_array[index]), dict(self.meta[index])

    def labels(self) -> np.ndarray:
        return self.label_array

    def sample_id(self, index: int) -> str:
        return self._ids[index]

    def fingerprint(self) -> str:
        return self._fingerprint


def cache_budget(cache: bool, cache_bytes: int | None) -> int:
    """Bytes of decoded images to keep: 0 (stream), ``cache_bytes``, or the default budget for ``cache=True``."""
    if cache_bytes is not None:
        if isinstance(cache_bytes, bool) or not isinstance(cache_bytes, int) or cache_bytes < 0:
            raise ConfigError(f"cache_bytes must be a whole number of bytes >= 0, got {cache_bytes!r}")
        return cache_bytes
    if not isinstance(cache, bool):
        raise ConfigError(f"cache must be true or false (use cache_bytes for a byte budget), got {cache!r}")
    return DEFAULT_CACHE_BYTES if cache else 0


def _modality(metas: list[dict[str, str]]) -> str | None:
    """The most common DICOM ``modality`` among the samples' headers, if they name one."""
    seen = Counter(m.get("modality", "") for m in metas)
    seen.pop("", None)
    seen.pop("unknown", None)
    return seen.most_common(1)[0][0].upper() if seen else None
