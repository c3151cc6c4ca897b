"""The dataset contract: ``(image, label, meta)`` in image space with declared bounds.

Every dataset declares its bounds, task (head kind), label names and dimensionality,
supports a deterministic stratified subset, and has a content fingerprint.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from medrobust.datasets.file_space import Grid, Stage
from medrobust.datasets.masks import Region
from medrobust.errors import DataError
from medrobust.heads import HeadKind

log = logging.getLogger(__name__)

Sample = tuple[Tensor, Tensor, dict[str, str]]


@dataclass(frozen=True)
class DataInfo:
    """What a dataset declares about itself."""

    name: str
    task: HeadKind
    label_names: tuple[str, ...]
    bounds: tuple[float, float] = (0.0, 1.0)
    spatial_dims: int = 2
    units: str = "intensity in [0, 1]"
    extra: Mapping[str, Any] = field(default_factory=dict)
    stages: tuple[Stage, ...] = ()
    """What the model's preprocessing must do before the network (file space: the window and resize)."""
    grid: Grid | None = None
    """The stored-value grid of file-space data: adversarial images are also rounded onto it."""
    region: Region | None = None
    """File space: where attacks may change pixels (``x_adv - x`` is zero elsewhere)."""
    modality: str | None = None
    """The images' DICOM modality code (``CT``, ``MR``, ``DX``, ``US``...) where known: which acquisition shifts fit."""

    def __post_init__(self) -> None:
        if not isinstance(self.task, HeadKind):  # "multiclass" as a user writes it
            try:
                object.__setattr__(self, "task", HeadKind(str(self.task).lower()))
            except ValueError:
                kinds = ", ".join(k.value for k in HeadKind)
                raise DataError(self.name, f"unknown task {self.task!r}; choose from {kinds}") from None

    @property
    def num_classes(self) -> int:
        """Classes (multiclass, binary) or findings (multilabel)."""
        return len(self.label_names)


class MedicalDataset(Dataset[Sample], ABC):
    """Base class for every medrobust dataset."""

    info: DataInfo
    skipped: list[dict[str, str]]

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __getitem__(self, index: int) -> Sample: ...

    @abstractmethod
    def labels(self) -> np.ndarray:
        """All labels without loading images: (N,) ints or (N, L) 0/1."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A content hash that changes whenever images, labels or selection change."""

    def sample_id(self, index: int) -> str:
        """A stable, non-identifying id for sample ``index``."""
        return str(index)

    def subset(self, n: int | None, seed: int = 0, stratify: bool = True) -> MedicalDataset:
        """A deterministic subset of ``n`` samples, stratified by label when possible; all (with a warning) if fewer."""
        if n is not None and n > len(self):
            log.warning(
                "%s has %d samples, fewer than n=%d: all %d are evaluated", self.info.name, len(self), n, len(self)
            )
        if n is None or n >= len(self):
            return self
        if n <= 0:
            raise DataError(self.info.name, f"subset size must be positive, got {n}")
        idx = stratified_indices(self.labels(), n, seed) if stratify else _random_indices(len(self), n, seed)
        return Subset(self, idx)


class Subset(MedicalDataset):
    """A fixed selection of another dataset's samples."""

    def __init__(self, parent: MedicalDataset, indices: Sequence[int] | np.ndarray) -> None:
        self.parent = parent
        self.indices = np.asarray(indices, dtype=np.int64)
        self.info = parent.info
        self.skipped = parent.skipped

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        return self.parent[int(self.indices[index])]

    def labels(self) -> np.ndarray:
        return self.parent.labels()[self.indices]

    def sample_id(self, index: int) -> str:
        return self.parent.sample_id(int(self.indices[index]))

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.parent.fingerprint().encode())
        h.update(self.indices.tobytes())
        return h.hexdigest()


class ArrayDataset(MedicalDataset):
    """An in-memory dataset: images (N, C, *spatial) float, labels, optional meta columns."""

    def __init__(
        self,
        images: np.ndarray | Tensor,
        labels: np.ndarray | Tensor,
        info: DataInfo,
        meta: Mapping[str, Sequence[str]] | None = None,
        ids: Sequence[str] | None = None,
        source: str | None = None,
    ) -> None:
        self.images = torch.as_tensor(np.asarray(images), dtype=torch.float32)
        self.label_array = np.asarray(labels)
        self.info = info
        self.meta = {k: [str(v) for v in vals] for k, vals in (meta or {}).items()}
        self.ids = list(ids) if ids is not None else None
        self.skipped = []
        validate_arrays(self.images, self.label_array, info, source or info.name)
        for key, vals in self.meta.items():
            if len(vals) != len(self.images):
                raise DataError(
                    source or info.name, f"meta column {key!r} has {len(vals)} values for {len(self.images)} images"
                )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> Sample:
        y = torch.as_tensor(self.label_array[index])
        meta = {k: v[index] for k, v in self.meta.items()}
        return self.images[index], y, meta

    def labels(self) -> np.ndarray:
        return self.label_array

    def sample_id(self, index: int) -> str:
        return self.ids[index] if self.ids is not None else str(index)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(self.images.numpy().tobytes())
        h.update(np.ascontiguousarray(self.label_array).tobytes())
        for key in sorted(self.meta):
            h.update(key.encode())
            h.update("\x00".join(self.meta[key]).encode())
        return h.hexdigest()


def validate_arrays(images: Tensor, labels: np.ndarray, info: DataInfo, source: str) -> None:
    """Raise :class:`DataError` for empty data, NaN/inf pixels, bad shapes or labels."""
    if images.shape[0] == 0:
        raise DataError(source, "the dataset is empty")
    if images.ndim != info.spatial_dims + 2:
        raise DataError(
            source,
            f"expected images of shape (N, C, {'H, W' if info.spatial_dims == 2 else 'D, H, W'}), got {tuple(images.shape)}",  # noqa: E501
        )
    if len(labels) != images.shape[0]:
        raise DataError(source, f"{images.shape[0]} images but {len(labels)} labels")
    finite = torch.isfinite(images.reshape(images.shape[0], -1)).all(dim=1)
    if not bool(finite.all()):
        first = int((~finite).nonzero()[0])
        raise DataError(source, f"sample {first} has NaN or infinite pixels")
    lo, hi = info.bounds
    if float(images.min()) < lo - 1e-6 or float(images.max()) > hi + 1e-6:
        raise DataError(
            source,
            f"pixel values span [{float(images.min()):.4g}, {float(images.max()):.4g}], outside the declared bounds {info.bounds}",  # noqa: E501
        )
    problem = check_label_values(labels, info)
    if problem:
        raise DataError(source, problem)


def check_label_values(labels: np.ndarray, info: DataInfo) -> str | None:
    """Describe the first label that does not fit the declared task, else ``None``."""
    if info.task == HeadKind.MULTILABEL:
        if labels.ndim != 2 or labels.shape[1] != info.num_classes:
            return f"expected multi-label targets of shape (N, {info.num_classes}), got {labels.shape}"
        if not np.isin(labels, (0, 1)).all():
            return "multi-label targets must be 0 or 1"
        return None
    flat = labels.reshape(len(labels), -1)
    if flat.shape[1] != 1:
        return f"expected one class index per sample, got labels of shape {labels.shape}"
    flat = flat[:, 0]
    bad = (flat < 0) | (flat >= info.num_classes) | (flat != np.round(flat))
    if bad.any():
        i = int(np.nonzero(bad)[0][0])
        return f"sample {i} has label {flat[i]}, outside the declared classes 0..{info.num_classes - 1}"
    return None


def stratified_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` indices drawn per label in proportion to its frequency, seeded, sorted."""
    rng = np.random.default_rng(seed)
    keys = labels.reshape(len(labels), -1)
    keys_str = np.array(["".join(map(str, row.astype(int))) for row in keys])
    groups = {k: np.nonzero(keys_str == k)[0] for k in np.unique(keys_str)}
    total = len(labels)
    quota = {k: int(np.floor(n * len(v) / total)) for k, v in groups.items()}
    rest = n - sum(quota.values())
    order = sorted(groups, key=lambda k: -(n * len(groups[k]) / total - quota[k]))
    for k in order[:rest]:
        quota[k] += 1
    chosen = [rng.choice(groups[k], size=min(quota[k], len(groups[k])), replace=False) for k in sorted(groups)]
    return np.sort(np.concatenate(chosen))


def _random_indices(total: int, n: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))


def collate(batch: Sequence[Sample]) -> tuple[Tensor, Tensor, dict[str, list[str]]]:
    """Stack images and labels; turn meta dicts into columns."""
    images = torch.stack([b[0] for b in batch])
    labels = torch.stack([torch.as_tensor(b[1]) for b in batch])
    keys = batch[0][2].keys()
    meta = {k: [b[2].get(k, "") for b in batch] for k in keys}
    return images, labels, meta
