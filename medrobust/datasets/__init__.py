"""Datasets in image space with declared bounds, task, label names and metadata."""

from medrobust.datasets.base import (
    ArrayDataset,
    DataInfo,
    MedicalDataset,
    Subset,
    collate,
    stratified_indices,
)
from medrobust.datasets.dicom import dicom
from medrobust.datasets.files import FileDataset
from medrobust.datasets.folder import folder
from medrobust.datasets.medmnist import MedMNISTDataset, medmnist
from medrobust.datasets.nifti import nifti
from medrobust.datasets.synthetic import synthetic

__all__ = [
    "ArrayDataset",
    "DataInfo",
    "FileDataset",
    "MedMNISTDataset",
    "MedicalDataset",
    "Subset",
    "collate",
    "dicom",
    "folder",
    "medmnist",
    "nifti",
    "stratified_indices",
    "synthetic",
]
