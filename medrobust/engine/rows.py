"""Turn one batch's tensors into host-side row tables (pandas), one row per sample.

``clean`` rows: one per sample (labels, metadata, clean prediction and scores).
``attack`` rows: one per sample x attack x budget (correct, prediction, scores, norms), kept
on the device as the sweep runs and copied to the host once per batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from medrobust.attacks.norms import flat_norm
from medrobust.heads import Head, HeadKind


def label_columns(head: Head, y: Tensor) -> dict[str, np.ndarray]:
    """Label column(s): ``y`` for class tasks, ``y_0..y_{L-1}`` for multi-label."""
    arr = y.detach().cpu().numpy()
    if head.kind == HeadKind.MULTILABEL:
        return {f"y_{j}": arr[:, j].astype(np.int64) for j in range(arr.shape[1])}
    return {"y": arr.reshape(-1).astype(np.int64)}


def prediction_columns(head: Head, logits: Tensor, y: Tensor) -> dict[str, np.ndarray]:
    """Correct flag, prediction(s) and score(s) for ``logits``."""
    pred = head.predict(logits).cpu().numpy()
    scores = head.scores(logits).float().cpu().numpy()
    cols: dict[str, np.ndarray] = {"correct": head.correct(logits, y).cpu().numpy()}
    if head.kind == HeadKind.MULTILABEL:
        cols.update({f"pred_{j}": pred[:, j] for j in range(pred.shape[1])})
    else:
        cols["pred"] = pred.reshape(-1)
    cols.update({f"score_{j}": scores[:, j] for j in range(scores.shape[1])})
    return cols


def clean_frame(
    head: Head,
    index: np.ndarray,
    ids: Sequence[str],
    y: Tensor,
    logits: Tensor,
    meta: Mapping[str, Sequence[str]],
    extra: Mapping[str, Tensor] | None = None,
) -> pd.DataFrame:
    """One row per sample: index, id, labels, clean prediction, ``extra`` columns, metadata."""
    cols: dict[str, object] = {"sample": index, "sample_id": list(ids)}
    cols.update(label_columns(head, y))
    cols.update(prediction_columns(head, logits, y))
    cols.update({k: v.detach().cpu().numpy() for k, v in (extra or {}).items()})
    cols.update({f"meta_{k}": list(v) for k, v in meta.items()})
    return pd.DataFrame(cols)


def attack_columns(head: Head, x: Tensor, x_adv: Tensor, y: Tensor, logits: Tensor) -> dict[str, Tensor]:
    """One attack at one budget as device tensors (no host sync): correct, prediction, scores, norms."""
    delta = (x_adv - x).float()
    pred = head.predict(logits)
    cols: dict[str, Tensor] = {"correct": head.correct(logits, y)}
    if head.kind == HeadKind.MULTILABEL:
        cols.update({f"pred_{j}": pred[:, j] for j in range(pred.shape[1])})
    else:
        cols["pred"] = pred.reshape(-1)
    scores = head.scores(logits).float()
    cols.update({f"score_{j}": scores[:, j] for j in range(scores.shape[1])})
    cols["linf"] = flat_norm(delta, "linf")
    cols["l2"] = flat_norm(delta, "l2")
    return cols


def attack_frame(index: np.ndarray, blocks: Sequence[tuple[str, float, str, dict[str, Tensor]]]) -> pd.DataFrame:
    """The batch's attack rows from its ``(attack, eps, eps_label, columns)`` blocks: one host copy per column.

    A column only some blocks have (``correct_fraction``, from a shift's random mode) is NaN in the others.
    """
    if not blocks:
        return pd.DataFrame()
    n = len(index)
    names = list(dict.fromkeys(name for b in blocks for name in b[3]))
    cols: dict[str, object] = {
        "sample": np.tile(np.asarray(index), len(blocks)),
        "attack": np.repeat([b[0] for b in blocks], n),
        "eps": np.repeat(np.asarray([b[1] for b in blocks], dtype=np.float64), n),
        "eps_label": np.repeat([b[2] for b in blocks], n),
    }
    for name in names:
        cols[name] = torch.cat([b[3][name] if name in b[3] else _missing(b[3], n) for b in blocks]).cpu().numpy()
    return pd.DataFrame(cols)


def _missing(columns: dict[str, Tensor], n: int) -> Tensor:
    """A NaN column of ``n`` rows, on the device of a block's other ``columns``."""
    device = next(iter(columns.values())).device
    return torch.full((n,), float("nan"), device=device)
