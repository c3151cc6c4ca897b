"""The adapter as an ART estimator, so any ART attack runs on exactly the same model.

ART sees image space: the adapter's preprocessing runs inside the wrapped module, clip
values are the adapter's bounds, and the loss fits the head. ART's classifiers are
single-label softmax classifiers, so binary heads are handed over as two logits whose
argmax is the head's prediction at its threshold; multi-label heads cannot be served.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from medrobust.errors import ConfigError, ModelError
from medrobust.heads import Head, HeadKind
from medrobust.models.adapter import ModelAdapter


class ArtLogits(nn.Module):
    """The adapter's logits in ART's form: (N, K) softmax logits with argmax = prediction.

    A one-logit binary head ``z`` becomes ``[logit(t), z]``; a two-logit binary head
    ``[z0, z1]`` becomes ``[z0 + logit(t), z1]``. Cross-entropy on these equals the
    binary cross-entropy (two logits: the same CE) when the threshold ``t`` is 0.5.
    """

    def __init__(self, adapter: ModelAdapter) -> None:
        super().__init__()
        self.adapter = adapter
        head = adapter.head
        self.shift = math.log(head.threshold / (1 - head.threshold)) if head.kind == HeadKind.BINARY else 0.0

    def forward(self, x: Tensor) -> Tensor:
        z = self.adapter(x)
        if self.adapter.head.kind != HeadKind.BINARY:
            return z
        if z.shape[1] == 1:
            return torch.cat([torch.full_like(z, self.shift), z], dim=1)
        return torch.stack([z[:, 0] + self.shift, z[:, 1]], dim=1)


def art_classes(head: Head) -> int:
    """Number of classes ART sees for ``head``; :class:`ConfigError` where ART cannot serve it."""
    if head.kind == HeadKind.MULTILABEL:
        raise ConfigError(
            "ART cannot serve multi-label heads (its classifiers assume one label per sample); "
            "use the native attacks (pgd, apgd, square) for multi-label models"
        )
    return 2 if head.kind == HeadKind.BINARY else head.num_logits


def to_art(adapter: ModelAdapter) -> Any:
    """An ART ``PyTorchClassifier`` over ``adapter``: image-space input, clip values = bounds.

    Preprocessing runs inside the wrapped module (ART's own preprocessing is identity), the
    loss is cross-entropy on :class:`ArtLogits`, and the device is the adapter's.
    """
    from art.estimators.classification import PyTorchClassifier

    if adapter.input_shape is None:
        raise ModelError(f"model {adapter.name}: declare input_shape before handing it to ART")
    return PyTorchClassifier(
        model=ArtLogits(adapter),
        loss=nn.CrossEntropyLoss(),
        input_shape=tuple(adapter.input_shape),
        nb_classes=art_classes(adapter.head),
        clip_values=(float(adapter.bounds[0]), float(adapter.bounds[1])),
        channels_first=True,
        device_type="gpu" if adapter.device.type == "cuda" else "cpu",
    )


def art_predict(estimator: Any, x: Tensor) -> Tensor:
    """ART's class predictions (N,) for image-space ``x``."""
    out = estimator.predict(x.detach().cpu().numpy().astype(np.float32), batch_size=max(1, len(x)))
    return torch.as_tensor(np.asarray(out)).argmax(dim=1)


def verify_art(adapter: ModelAdapter, x: Tensor, estimator: Any | None = None) -> int:
    """Check that ART's clean predictions equal the adapter's on ``x``; return the count.

    Raises :class:`ModelError` naming the first disagreeing sample.
    """
    est = estimator if estimator is not None else to_art(adapter)
    with adapter.evaluating():
        theirs = art_predict(est, x)
    ours = adapter.head.predict(adapter.logits(x)).reshape(-1).cpu()
    bad = (theirs != ours).nonzero().reshape(-1)
    if bad.numel():
        raise ModelError(
            f"model {adapter.name}: ART's predictions differ from the adapter's on {bad.numel()} "
            f"of {len(x)} samples (first at index {int(bad[0])})"
        )
    return len(x)
