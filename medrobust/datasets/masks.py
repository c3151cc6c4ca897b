"""Region masks for file space: where an attack may change pixels (``x_adv - x`` is zero elsewhere).

``mask="body"`` (or a threshold in physical units) leaves the air around the patient alone: an
edit there is trivially visible. A mask folder holds one mask file per sample under the same
relative name as its image (a lesion or organ segmentation, nonzero inside), read with the same
reader and checked up front to have the image's shape.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from medrobust.errors import ConfigError, DataError

MaskLoad = Callable[[], tuple[Tensor, dict[str, str]]]
"""Reads one mask file as the image loader reads an image (file-space values)."""


@dataclass(frozen=True)
class BodyMask:
    """Perturb only the body: pixels denser than ``threshold`` in physical units (air is about -1000 HU)."""

    threshold: float = -500.0

    def __call__(self, x: Tensor, index: np.ndarray) -> Tensor:
        """1 inside the body, 0 outside, in ``x``'s shape and dtype."""
        return (x > self.threshold).to(x.dtype)

    def describe(self) -> dict[str, object]:
        """Plain description for the manifest."""
        return {"mask": "body", "threshold": self.threshold}

    def digest(self) -> str:
        """What the data fingerprint adds: another threshold is another run."""
        return f"body:{self.threshold!r}"


@dataclass(frozen=True)
class FileMasks:
    """One mask file per sample (nonzero inside), read once, checked against the image's shape."""

    masks: Sequence[Tensor] = field(repr=False)

    def __call__(self, x: Tensor, index: np.ndarray) -> Tensor:
        """The masks of the samples ``index`` on ``x``'s device, 1 inside and 0 outside."""
        return torch.stack([self.masks[int(i)] for i in index]).to(device=x.device, dtype=x.dtype)

    def describe(self) -> dict[str, object]:
        """Plain description for the manifest (no file names: they may carry patient names)."""
        return {"mask": "files", "samples": len(self.masks)}

    def digest(self) -> str:
        """What the data fingerprint adds: the masks' content, so other masks are another run."""
        h = hashlib.sha256()
        for m in self.masks:
            h.update(m.numpy().tobytes())
        return f"files:{h.hexdigest()}"


Region = BodyMask | FileMasks


def region_of(
    mask: str | float | None,
    space: str,
    images: Sequence[tuple[str, Tensor]] | None = None,
    mask_loads: Sequence[tuple[str, MaskLoad]] | None = None,
) -> Region | None:
    """``mask``: ``body``, a threshold in physical units, a folder (its files loaded by ``mask_loads``), or none.

    ``images`` (source, image) and ``mask_loads`` (mask source, loader) are per sample, in order.
    """
    if mask is None:
        return None
    if space != "file":
        raise ConfigError("mask needs space=file: it restricts edits of the stored values")
    if isinstance(mask, bool) or not isinstance(mask, str | int | float):
        raise ConfigError(f"mask must be 'body', a threshold in physical units or a folder, got {mask!r}")
    if not isinstance(mask, str):
        return BodyMask(float(mask))
    if mask.strip().lower() == "body":
        return BodyMask()
    if not Path(mask).expanduser().is_dir():
        raise ConfigError(f"mask must be 'body', a threshold in physical units or a folder; {mask!r} is none")
    if images is None or mask_loads is None:
        raise ConfigError("a mask folder needs samples named by file (one mask per image file)")
    masks = []
    for (_, image), (mask_source, load) in zip(images, mask_loads, strict=True):
        values = load()[0]
        if tuple(values.shape) != tuple(image.shape):
            raise DataError(mask_source, f"mask of shape {tuple(values.shape)} for an image of {tuple(image.shape)}")
        masks.append((values != 0).to(torch.float32))
    return FileMasks(masks)
