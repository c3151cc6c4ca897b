"""The gallery: a few clean/adversarial pixel pairs kept by the sweep, saved as ``gallery.npz``.

Pixels only (never header data or ids); 3D volumes keep their middle 2D slice. The figure
is drawn by :func:`medrobust.reports.gallery.gallery_figure`.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor

from medrobust.results.atomic import write_bytes
from medrobust.results.folder import GALLERY, ResultsFolder

__all__ = ["GALLERY", "GALLERY_SIZE", "Gallery", "middle_slice"]

log = logging.getLogger(__name__)

GALLERY_SIZE = 8


@dataclass
class Gallery:
    """Up to :data:`GALLERY_SIZE` samples: clean pixels and, per attack, adversarial pixels.

    ``clean`` is ``(k, C, H, W)`` in image space; ``adversarial[attack]`` likewise, taken
    at the largest budget of the sweep; ``sample`` holds the rows' ``sample`` indices.
    """

    sample: np.ndarray
    clean: np.ndarray
    adversarial: dict[str, np.ndarray]

    @classmethod
    def from_examples(cls, index: Sequence[int] | np.ndarray, examples: Mapping[str, tuple[Tensor, Tensor]]) -> Gallery:
        """Build from :attr:`BatchRows.examples` (tensors on the host) and the batch's indices."""
        if not examples:
            raise ValueError("no examples to build a gallery from")
        first = next(iter(examples.values()))[0]
        k = int(first.shape[0])
        return cls(
            sample=np.asarray(index[:k], dtype=np.int64),
            clean=middle_slice(first.float().numpy()),
            adversarial={a: middle_slice(adv.float().numpy()) for a, (_, adv) in examples.items()},
        )

    def save(self, folder: str | Path) -> Path:
        """Write ``gallery.npz`` atomically (plain arrays, no pickled objects)."""
        path = ResultsFolder(folder).gallery
        names = list(self.adversarial)
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            sample=self.sample,
            clean=self.clean.astype(np.float32),
            attacks=np.asarray(names, dtype=np.str_),
            adversarial=np.stack([self.adversarial[a] for a in names]).astype(np.float32),
        )
        write_bytes(path, buf.getvalue())
        return path

    @classmethod
    def load(cls, folder: str | Path) -> Gallery | None:
        """Read ``gallery.npz`` from a results folder; ``None`` when absent or unreadable."""
        path = ResultsFolder(folder).gallery
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                names = [str(a) for a in z["attacks"]]
                adv = z["adversarial"]
                return cls(z["sample"], z["clean"], {a: adv[i] for i, a in enumerate(names)})
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            log.warning("%s: unreadable gallery, the report will have none (%s)", path, exc)
            return None


def middle_slice(x: np.ndarray) -> np.ndarray:
    """``(N, C, *spatial)`` to ``(N, C, H, W)``: the middle slice along each extra leading axis."""
    while x.ndim > 4:
        x = x[:, :, x.shape[2] // 2]
    return np.ascontiguousarray(x)
