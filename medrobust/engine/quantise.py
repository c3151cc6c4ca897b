"""The ``+quantised`` curve of file-space data: each held adversarial example moved onto the stored-value grid.

Per budget, two storable candidates inside the budget are tried (L-inf): every change rounded to
the nearest stored step, and, where that no longer breaks the model, every change rounded away
from zero (capped at the budget): a one-step integer search that keeps more of the attack than
plain rounding and costs one extra forward pass. L2 truncates toward zero (one candidate: rounding
outward could leave the ball). A sample broken at one budget keeps its example at every larger
one, so the curve is monotone like every curve of the sweep.
"""

from __future__ import annotations

import torch
from torch import Tensor

from medrobust.datasets.file_space import Grid
from medrobust.models.adapter import ModelAdapter


class Quantised:
    """Each sample's worst storable example so far, and its logits."""

    def __init__(self, x: Tensor, logits: Tensor) -> None:
        self.x, self.logits = x.clone(), logits.clone()

    def update(
        self,
        model: ModelAdapter,
        grid: Grid,
        x: Tensor,
        held_x: Tensor,
        y: Tensor,
        target: Tensor | None,
        eps: float | Tensor,
        norm: str,
    ) -> None:
        """Move the held examples at ``eps`` onto the grid; keep the old one where it already broke the model."""
        snapped = grid.snap(held_x, x, eps, norm)
        logits = model.logits(snapped)
        if norm == "linf":
            missed = robust(model, logits, y, target)  # rounding lost the attack here: try the outward candidate
            outward = grid.snap(held_x, x, eps, norm, outward=True)
            o_logits = model.logits(outward)
            take = missed & ~robust(model, o_logits, y, target)
            snapped = torch.where(_per_sample(take, x), outward, snapped)
            logits = torch.where(_per_sample(take, logits), o_logits, logits)
        keep_new = robust(model, self.logits, y, target)
        self.x = torch.where(_per_sample(keep_new, x), snapped, self.x)
        self.logits = torch.where(_per_sample(keep_new, logits), logits.to(self.logits.dtype), self.logits)


def robust(model: ModelAdapter, logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """Per sample: not yet broken (correct, and when targeted not already the target), on the device."""
    mask = model.head.correct(logits, y)
    if target is not None:
        mask = mask & (target != y.reshape(target.shape))
    return mask


def _per_sample(mask: Tensor, like: Tensor) -> Tensor:
    return mask.reshape(-1, *([1] * (like.ndim - 1)))
