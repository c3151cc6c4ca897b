"""MedMNIST 2D and 3D subsets from the official ``.npz`` files, checked against their MD5.

Files keep their official names (``breastmnist.npz``, ``breastmnist_64.npz``) in a local
root. ``download=True`` fetches a missing file from Zenodo (or a mirror); a checksum
mismatch is an error unless ``skip_checksum=True``. Images are uint8 in the file and
``[0, 1]`` floats per sample: ``(C, H, W)`` in 2D, ``(1, D, H, W)`` in 3D.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import torch

from medrobust.datasets.base import DataInfo, MedicalDataset, Sample, check_label_values
from medrobust.datasets.medmnist_info import SPLITS, SUBSETS, ZENODO, MedMNISTInfo
from medrobust.errors import ConfigError, DataError
from medrobust.heads import HeadKind

log = logging.getLogger(__name__)

TASKS = {
    "binary-class": HeadKind.BINARY,
    "multi-class": HeadKind.MULTICLASS,
    "ordinal-regression": HeadKind.MULTICLASS,  # graded classes; the head treats them as classes
    "multi-label": HeadKind.MULTILABEL,
}


def default_root() -> Path:
    """``$MEDMNIST_ROOT``, else ``~/.medmnist`` (where the ``medmnist`` package keeps its files)."""
    return Path(os.environ.get("MEDMNIST_ROOT", Path.home() / ".medmnist"))


def medmnist(
    subset: str,
    *,
    root: str | Path | None = None,
    split: str = "test",
    size: int = 28,
    download: bool = False,
    mirror: str | None = None,
    skip_checksum: bool = False,
) -> MedMNISTDataset:
    """The ``split`` (train, val, test) of MedMNIST ``subset`` at ``size`` (28, 64, 128, 224; 3D: 28, 64)."""
    info = SUBSETS.get(str(subset).lower())
    if info is None:
        raise ConfigError(f"unknown MedMNIST subset {subset!r}; choose from {', '.join(sorted(SUBSETS))}")
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if size not in info.sizes:
        raise ConfigError(f"{info.name} comes in sizes {', '.join(map(str, info.sizes))}, not {size}")
    path = (Path(root) if root is not None else default_root()).expanduser() / info.file_name(size)
    if not path.is_file():
        if not download:
            raise DataError(
                str(path),
                f"not found; copy {info.file_name(size)} there, or fetch it from {info.url(size)} with "
                "-D download=true (download=True in Python)",
            )
        fetch_checked(info.url(size, mirror or ZENODO), path, info.md5[size], skip_checksum)
    digest = md5sum(path)
    checksum = "verified"
    if digest != info.md5[size]:
        if not skip_checksum:
            raise DataError(
                str(path),
                f"MD5 {digest} does not match the official {info.md5[size]} for {info.file_name(size)} "
                "(a modified, partial or other-version copy); pass -D skip_checksum=true "
                "(skip_checksum=True in Python) to use it anyway",
            )
        log.warning(
            "%s: MD5 %s differs from the official %s; used anyway (skip_checksum)", path, digest, info.md5[size]
        )
        checksum = "skipped: MD5 does not match the official file"
    return MedMNISTDataset(path, info, split, size, digest, checksum)


class MedMNISTDataset(MedicalDataset):
    """One split of one MedMNIST file, held as uint8 and scaled to ``[0, 1]`` per sample."""

    def __init__(self, path: Path, info: MedMNISTInfo, split: str, size: int, digest: str, checksum: str) -> None:
        self.skipped = []
        self.split = split
        self.size = size
        self._key = f"medmnist:{info.name}:{size}:{split}:{digest}"
        images, labels = _read_split(path, split)
        kind = TASKS[info.task]
        self.info = DataInfo(
            name=f"{info.name}{'' if size == 28 else f'_{size}'}-{split}",
            task=kind,
            label_names=info.labels,
            bounds=(0.0, 1.0),
            spatial_dims=info.spatial_dims,
            units="intensity in [0, 1] (uint8 / 255)",
            modality=info.modality,
            extra={
                "medmnist_task": info.task,
                "file": path.name,
                "md5": digest,
                "checksum": checksum,
                "license": info.license,
            },
        )
        expected = (size,) * info.spatial_dims
        if info.spatial_dims == 2 and info.channels == 3:
            ok = images.ndim == 4 and images.shape[1:] == (*expected, 3)
            images = images.transpose(0, 3, 1, 2) if ok else images
        else:
            ok = images.ndim == 1 + info.spatial_dims and images.shape[1:] == expected
            images = images[:, None] if ok else images
        if not ok:
            raise DataError(
                f"{path} [{split}]",
                f"images of shape {images.shape} do not match {info.name} at size {size} ({info.channels} channel(s), {info.spatial_dims}D)",  # noqa: E501
            )
        if images.dtype != np.uint8:
            raise DataError(f"{path} [{split}]", f"expected uint8 images, got {images.dtype}")
        labels = labels.astype(np.int64)
        if kind != HeadKind.MULTILABEL:
            labels = labels.reshape(len(labels), -1)[:, 0] if labels.ndim == 2 and labels.shape[1] == 1 else labels
        if len(labels) != len(images):
            raise DataError(f"{path} [{split}]", f"{len(images)} images but {len(labels)} labels")
        problem = check_label_values(labels, self.info)
        if problem:
            raise DataError(f"{path} [{split}]", problem)
        self.images = np.ascontiguousarray(images)
        self.label_array = labels

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> Sample:
        # numpy, single-threaded: torch's intra-op threads make this tiny op slow on busy CPUs
        image = np.divide(self.images[index], np.float32(255.0), dtype=np.float32)
        return torch.from_numpy(image), torch.as_tensor(self.label_array[index]), {}

    def labels(self) -> np.ndarray:
        return self.label_array

    def sample_id(self, index: int) -> str:
        return f"{self.info.name}-{index}"

    def fingerprint(self) -> str:
        return hashlib.sha256(self._key.encode()).hexdigest()


def _read_split(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in (f"{split}_images", f"{split}_labels") if k not in z.files]
            if missing:
                raise DataError(str(path), f"has no {', '.join(missing)} (keys: {', '.join(z.files)})")
            return z[f"{split}_images"], z[f"{split}_labels"]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(str(path), f"not a readable .npz file ({type(exc).__name__}: {exc})") from None


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    """The MD5 of a file, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fetch(url: str, dest: Path) -> None:
    """Copy ``url`` (https or file) to ``dest``; the caller checks the checksum."""
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out)


def fetch_checked(url: str, path: Path, md5: str, skip_checksum: bool = False) -> None:
    """Download into a temporary file beside ``path``, check its MD5, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        log.info("downloading %s to %s", url, path)
        try:
            fetch(url, tmp)
        except OSError as exc:
            raise DataError(url, f"download failed ({exc})") from None
        digest = md5sum(tmp)
        if digest != md5 and not skip_checksum:
            raise DataError(url, f"downloaded file has MD5 {digest}, not the official {md5}; it was not kept")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
