"""The gallery: a few clean/adversarial pixel pairs kept by the sweep, saved as ``gallery.npz``.

Pixels only (never header data or ids); 3D volumes keep their middle 2D slice. The
figure shows clean image, adversarial image and amplified difference with true label
and the prediction before and after.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from torch import Tensor

from medrobust.harness.atomic import write_bytes
from medrobust.harness.reports.format import class_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

GALLERY = "gallery.npz"
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
        path = Path(folder) / GALLERY
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
        path = Path(folder) / GALLERY
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


def gallery_figure(
    gallery: Gallery,
    attack: str,
    clean: pd.DataFrame,
    rows: pd.DataFrame,
    label_names: Sequence[str],
    bounds: Sequence[float] = (0.0, 1.0),
) -> Figure:
    """Three rows (clean, adversarial, amplified difference), one column per sample."""
    from matplotlib.figure import Figure

    adv = gallery.adversarial[attack]
    k = len(gallery.sample)
    lo, hi = float(bounds[0]), float(bounds[1])
    span = hi - lo if hi > lo else 1.0
    diff = (adv - gallery.clean).mean(axis=1)  # signed difference, averaged over channels
    m = float(np.abs(diff).max()) or span
    a_rows = rows[rows["attack"] == attack]
    last = a_rows[a_rows["eps"] == a_rows["eps"].max()].set_index("sample") if len(a_rows) else a_rows
    by_sample = clean.set_index("sample")
    fig = Figure(figsize=(1.55 * k + 0.9, 5.2), dpi=90)
    axes = fig.subplots(3, k, squeeze=False)
    fig.subplots_adjust(left=0.9 / (1.55 * k + 0.9), right=0.99, bottom=0.01, top=0.9, wspace=0.08, hspace=0.35)
    for j in range(k):
        s = int(gallery.sample[j])
        rec = _record(by_sample, s)
        adv_rec = _record(last, s)
        truth = class_text(rec, "y", label_names) if rec else "?"
        before = class_text(rec, "pred", label_names) if rec else "?"
        after = class_text(adv_rec, "pred", label_names) if adv_rec else "?"
        _show(axes[0, j], gallery.clean[j], lo, span)
        _show(axes[1, j], adv[j], lo, span)
        axes[2, j].imshow(diff[j], cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
        axes[0, j].set_title(f"#{s} true: {truth}\nclean → {before}", fontsize=7)
        if rec and not bool(rec.get("correct", True)):
            axes[1, j].set_title("wrong when clean:\nnot attacked", fontsize=7, color="0.4")
        else:
            axes[1, j].set_title(f"adversarial → {after}", fontsize=7, color="#b00020" if after != before else "black")
        for i in range(3):
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    axes[0, 0].set_ylabel("clean", fontsize=8)
    axes[1, 0].set_ylabel("adversarial", fontsize=8)
    axes[2, 0].set_ylabel(f"difference\n×{span / (2 * m):.0f}", fontsize=8)
    return fig


def _record(frame: pd.DataFrame, sample: int) -> dict[str, Any]:
    """The row of ``frame`` (indexed by sample) for ``sample`` as a dict, or empty."""
    if sample not in frame.index:
        return {}
    return {str(k): v for k, v in frame.loc[sample].to_dict().items()}


def _show(ax: Any, img: np.ndarray, lo: float, span: float) -> None:
    """Draw one ``(C, H, W)`` image scaled from the bounds to the screen: grey or RGB."""
    scaled = np.clip((img - lo) / span, 0.0, 1.0)
    if scaled.shape[0] == 3:
        ax.imshow(np.transpose(scaled, (1, 2, 0)), interpolation="nearest")
    else:
        ax.imshow(scaled[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
