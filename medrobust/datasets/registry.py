"""Datasets by kind name, for configs and the CLI: ``build_dataset("synthetic", n=256)``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from medrobust.datasets.base import MedicalDataset
from medrobust.datasets.dicom import dicom
from medrobust.datasets.folder import folder
from medrobust.datasets.medmnist import medmnist
from medrobust.datasets.nifti import nifti
from medrobust.datasets.synthetic import synthetic
from medrobust.errors import ConfigError

DatasetFactory = Callable[..., MedicalDataset]
_REGISTRY: dict[str, DatasetFactory] = {
    "synthetic": synthetic,
    "medmnist": medmnist,
    "dicom": dicom,
    "nifti": nifti,
    "folder": folder,
}


def register(kind: str, factory: DatasetFactory) -> None:
    """Make a dataset kind available to configs and ``medrobust run --data``."""
    _REGISTRY[kind] = factory


def available() -> list[str]:
    """Kinds accepted by :func:`build_dataset`."""
    return sorted(_REGISTRY)


def build_dataset(kind: str, **params: Any) -> MedicalDataset:
    """Build the dataset of ``kind`` with ``params``; unknown kinds and bad params are clear errors."""
    factory = _REGISTRY.get(kind)
    if factory is None:
        raise ConfigError(f"unknown data kind {kind!r}; choose from {', '.join(available())}")
    try:
        inspect.signature(factory).bind(**params)
    except TypeError as exc:
        raise ConfigError(f"data kind {kind!r}: {exc}") from None
    return factory(**params)
