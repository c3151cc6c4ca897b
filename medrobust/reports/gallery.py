"""The gallery figure: clean image, adversarial image and amplified difference per sample,
with true label and the prediction before and after (pixels only, from ``gallery.npz``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from medrobust.reports.format import class_text
from medrobust.results.gallery import Gallery

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def gallery_figure(
    gallery: Gallery,
    attack: str,
    clean: pd.DataFrame,
    rows: pd.DataFrame,
    label_names: Sequence[str],
    bounds: Sequence[float] = (0.0, 1.0),
    window: Mapping[str, Any] | None = None,
) -> Figure:
    """Three rows (clean, adversarial, amplified difference), one column per sample.

    ``window``: a file-space run's window stage (``center``, ``width``, ``invert``): images are shown
    through it, as the model sees them, and the difference is labelled in the data's physical units.
    """
    from matplotlib.figure import Figure

    adv = gallery.adversarial[attack]
    k = len(gallery.sample)
    lo, hi = float(bounds[0]), float(bounds[1])
    span = hi - lo if hi > lo else 1.0
    invert = False
    if window is not None:  # the DICOM linear window: [c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2] onto [0, 1]
        width = max(float(window["width"]) - 1.0, 1.0)
        lo, span, invert = float(window["center"]) - 0.5 - width / 2, width, bool(window.get("invert", False))
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
        _show(axes[0, j], gallery.clean[j], lo, span, invert)
        _show(axes[1, j], adv[j], lo, span, invert)
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
    amplified = f"±{m:.3g} (physical)" if window is not None else f"×{span / (2 * m):.0f}"
    axes[2, 0].set_ylabel(f"difference\n{amplified}", fontsize=8)
    return fig


def _record(frame: pd.DataFrame, sample: int) -> dict[str, Any]:
    """The row of ``frame`` (indexed by sample) for ``sample`` as a dict, or empty."""
    if sample not in frame.index:
        return {}
    return {str(k): v for k, v in frame.loc[sample].to_dict().items()}


def _show(ax: Any, img: np.ndarray, lo: float, span: float, invert: bool = False) -> None:
    """Draw one ``(C, H, W)`` image scaled from ``[lo, lo + span]`` to the screen: grey or RGB."""
    scaled = np.clip((img - lo) / span, 0.0, 1.0)
    if invert:
        scaled = 1.0 - scaled
    if scaled.shape[0] == 3:
        ax.imshow(np.transpose(scaled, (1, 2, 0)), interpolation="nearest")
    else:
        ax.imshow(scaled[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
