"""Datasets in image space with declared bounds, task, label names and metadata."""

from medrobust.datasets.base import (
    ArrayDataset,
    DataInfo,
    MedicalDataset,
    Subset,
    collate,
    stratified_indices,
)
from medrobust.datasets.synthetic import synthetic

__all__ = [
    "ArrayDataset",
    "DataInfo",
    "MedicalDataset",
    "Subset",
    "collate",
    "stratified_indices",
    "synthetic",
]
