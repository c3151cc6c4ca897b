"""Image folders: PNG/JPEG (any format Pillow reads) in class subfolders, or with a labels CSV.

8-bit images become ``[0, 1]`` floats (16-bit ones are divided by 65535). Grey images
have one channel and colour ones three; ``channels`` converts every image to one or three.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from medrobust.datasets.csv_labels import label_spec, read_labels
from medrobust.datasets.files import Entry, FileDataset
from medrobust.datasets.policy import BadFiles, Confinement
from medrobust.datasets.transforms import as_tensor
from medrobust.errors import ConfigError, DataError

log = logging.getLogger(__name__)

_GREY = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def folder(
    root: str | Path,
    *,
    labels: str | Path | None = None,
    label_columns: str | Sequence[str] | None = None,
    task: str | None = None,
    label_names: Sequence[str] | None = None,
    meta_columns: Sequence[str] | None = None,
    channels: int | None = None,
    size: int | Sequence[int] | None = None,
    on_error: str = "raise",
    cache: bool = False,
    cache_bytes: int | None = None,
    allow_outside_root: bool = False,
) -> FileDataset:
    """Images under ``root``: one subfolder per class, or a labels CSV with a ``file`` column.

    ``channels`` (1 or 3) converts every image; by default the first image decides.
    ``size`` resizes every image (bilinear, antialiased). ``on_error``: ``raise`` or ``skip``.
    Files are streamed (``cache``/``cache_bytes`` keep some decoded) and must lie under ``root``
    unless ``allow_outside_root``.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(str(base), "image folder not found")
    if channels not in (None, 1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels}")
    bad = BadFiles(on_error)
    reader = _ImageReader(channels)
    confine = Confinement(base, allow_outside_root=allow_outside_root)
    entries: list[Entry] = []
    if labels is not None:
        table = read_labels(
            labels,
            keys=("file", "path"),
            bad=bad,
            label_columns=label_columns,
            task=task,
            label_names=label_names,
            meta_columns=meta_columns,
        )
        spec = table.spec
        for row in table.rows:
            path = confine.check(base / row.key, source=table.source(row), named=row.key)
            if not path.is_file():
                bad.report(table.source(row), f"names file {row.key!r}, which does not exist under {str(base)!r}")
                continue
            entries.append(Entry(str(path), row.key, row.label, reader.loader(path), row.meta))
    else:
        if label_columns is not None or meta_columns is not None:
            raise ConfigError("label_columns and meta_columns need a labels CSV (labels=...)")
        classes = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
        loose = [p.name for p in base.iterdir() if p.is_file() and not p.name.startswith(".")]
        if loose:
            log.info("%s: %d file(s) outside the class subfolders are not samples", base, len(loose))
        if not classes:
            raise DataError(str(base), "has no class subfolders (and no labels CSV was given)")
        spec = label_spec(classes, label_columns=["folder"], task=task, label_names=label_names)
        for cls in classes:
            if cls not in spec.names:
                bad.report(
                    str(base / cls), f"class folder {cls!r} is not one of the declared classes {list(spec.names)}"
                )
                continue
            label = np.array(spec.names.index(cls), dtype=np.int64)
            for path in sorted(p for p in (base / cls).rglob("*") if p.is_file() and not p.name.startswith(".")):
                confine.check(path, source=str(path))
                rel = path.relative_to(base).as_posix()
                entries.append(Entry(str(path), rel, label, reader.loader(path), {}))
    if not entries:
        raise DataError(str(base), f"no images found ({len(bad.skipped)} bad input(s) skipped)")
    return FileDataset(
        entries,
        name=f"folder:{base.name}",
        spec=spec,
        bounds=(0.0, 1.0),
        units="intensity in [0, 1] (8-bit / 255, 16-bit / 65535)",
        bad=bad,
        size=size,
        spatial_dims=2,
        cache=cache,
        cache_bytes=cache_bytes,
        id_prefix="img",
        settings={"channels": channels, "size": size, "labels": "csv" if labels is not None else "subfolders"},
    )


class _ImageReader:
    """Reads images with Pillow; the first image fixes the channel count unless one was given."""

    def __init__(self, channels: int | None) -> None:
        self.channels = channels

    def loader(self, path: Path) -> _Load:
        return _Load(self, path)

    def read(self, path: Path) -> Tensor:
        try:
            with Image.open(path) as img:
                img.load()
                mode = img.mode
                channels = self.channels or (1 if mode in _GREY else 3)
                array = _pixels(img, channels)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise DataError(str(path), f"not a readable image file ({type(exc).__name__}: {exc})") from None
        if self.channels is None:
            self.channels = channels
        return as_tensor(array)


class _Load:
    """A picklable loader for one image file."""

    def __init__(self, reader: _ImageReader, path: Path) -> None:
        self.reader = reader
        self.path = path

    def __call__(self) -> tuple[Tensor, dict[str, str]]:
        return self.reader.read(self.path), {}


def _pixels(img: Image.Image, channels: int) -> np.ndarray:
    """``(C, H, W)`` floats in ``[0, 1]``."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L") and channels == 1:
        arr = np.asarray(img, dtype=np.float64)
        if arr.max() > 65535 or arr.min() < 0:
            raise ValueError(f"integer pixels span [{arr.min():g}, {arr.max():g}], beyond 16 bits")
        return (arr / 65535.0)[None]
    if img.mode == "F":
        raise ValueError("floating-point images are not supported; save 8- or 16-bit PNGs")
    arr = np.asarray(img.convert("L" if channels == 1 else "RGB"), dtype=np.float64) / 255.0
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)
