"""Head kinds: what the logits mean, the loss attacks maximise, what "correct" is.

Medical models are often not softmax classifiers. The head decides the loss, the
prediction rule at the operating threshold, and the scores that feed AUROC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch
import torch.nn.functional as F
from torch import Tensor


class HeadKind(str, Enum):
    """The three head kinds medrobust understands."""

    MULTICLASS = "multiclass"
    BINARY = "binary"
    MULTILABEL = "multilabel"


@dataclass(frozen=True)
class Head:
    """A classification head: kind, number of logits, operating threshold.

    ``binary`` heads have one logit (sigmoid) or two (softmax, class 1 positive);
    ``multilabel`` heads have one sigmoid per finding. ``num_classes`` is the number of
    classes (multiclass, binary: 2) or of findings (multilabel).
    """

    kind: HeadKind
    num_logits: int
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.kind == HeadKind.BINARY and self.num_logits not in (1, 2):
            raise ValueError("a binary head has one logit or two")
        if self.kind == HeadKind.MULTICLASS and self.num_logits < 2:
            raise ValueError("a multiclass head needs at least 2 logits")
        if self.num_logits < 1:
            raise ValueError("a head needs at least one logit")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError("the operating threshold must lie in (0, 1)")

    @property
    def num_classes(self) -> int:
        """Classes (multiclass, binary) or findings (multilabel)."""
        return 2 if self.kind == HeadKind.BINARY else self.num_logits

    @property
    def sigmoid(self) -> bool:
        """True when each logit is read through its own sigmoid."""
        return self.kind == HeadKind.MULTILABEL or self.num_logits == 1

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """Per-sample loss (N,) that an untargeted attack maximises."""
        if self.sigmoid:
            target = y.to(logits.dtype).reshape(logits.shape)
            return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1)
        return F.cross_entropy(logits, y.long().reshape(-1), reduction="none")

    def scores(self, logits: Tensor) -> Tensor:
        """Probabilities (N, num_logits): softmax, or one sigmoid per logit."""
        return torch.sigmoid(logits) if self.sigmoid else torch.softmax(logits, dim=1)

    def positive_score(self, logits: Tensor) -> Tensor:
        """Scores that feed AUROC: (N,) for binary, (N, K) otherwise."""
        s = self.scores(logits)
        if self.kind == HeadKind.BINARY:
            return s[:, -1]
        return s

    def predict(self, logits: Tensor) -> Tensor:
        """Predicted labels: (N,) class index, or (N, L) 0/1 findings."""
        if self.kind == HeadKind.MULTILABEL:
            return (torch.sigmoid(logits) >= self.threshold).long()
        if self.kind == HeadKind.BINARY:
            return (self.positive_score(logits) >= self.threshold).long()
        return logits.argmax(dim=1)

    def correct(self, logits: Tensor, y: Tensor) -> Tensor:
        """Bool (N,): the prediction matches the label (every finding, for multilabel)."""
        pred = self.predict(logits)
        if self.kind == HeadKind.MULTILABEL:
            return (pred == y.long().reshape(pred.shape)).all(dim=1)
        return pred == y.long().reshape(-1)

    def is_adversarial(self, logits: Tensor, y: Tensor, targeted: bool = False) -> Tensor:
        """Bool (N,): untargeted, the prediction is wrong; targeted, it equals ``y``."""
        return self.correct(logits, y) if targeted else ~self.correct(logits, y)

    def margin(self, logits: Tensor, y: Tensor) -> Tensor:
        """Per-sample margin (N,); positive means correct. Used by margin losses and checks."""
        if self.sigmoid:
            sign = y.to(logits.dtype).reshape(logits.shape) * 2 - 1
            z = logits - math.log(self.threshold / (1 - self.threshold))  # logit(threshold): no tensor per call
            return (sign * z).min(dim=1).values
        yl = y.long().reshape(-1)
        if self.kind == HeadKind.BINARY:  # two logits: positive iff softmax[1] >= threshold
            z = logits[:, 1] - logits[:, 0] - math.log(self.threshold / (1 - self.threshold))
            return torch.where(yl == 1, z, -z)
        true = logits.gather(1, yl[:, None]).squeeze(1)
        other = logits.clone()
        other.scatter_(1, yl[:, None], float("-inf"))
        return true - other.max(dim=1).values

    def check_labels(self, y: Tensor) -> str | None:
        """Return a problem description when labels do not fit this head, else ``None``."""
        if self.kind == HeadKind.MULTILABEL:
            if y.ndim != 2 or y.shape[1] != self.num_logits:
                return f"expected multi-label targets of shape (N, {self.num_logits}), got {tuple(y.shape)}"
            if not torch.all((y == 0) | (y == 1)):
                return "multi-label targets must be 0 or 1"
            return None
        flat = y.reshape(-1)
        if y.ndim > 1 and y.shape[-1] != 1:
            return f"expected one class index per sample, got shape {tuple(y.shape)}"
        if torch.any(flat < 0) or torch.any(flat >= self.num_classes):
            bad = flat[(flat < 0) | (flat >= self.num_classes)][0].item()
            return f"label {bad} is outside the {self.num_classes} declared classes 0..{self.num_classes - 1}"
        return None


def make_head(kind: HeadKind | str, num_outputs: int, threshold: float = 0.5) -> Head:
    """Build a :class:`Head` from a kind name and the model's number of outputs."""
    return Head(HeadKind(kind), num_outputs, threshold)
