"""APGD (Croce & Hein 2020): PGD with momentum and an automatic, per-sample step size.

Losses: the head's own (cross-entropy, or BCE for sigmoid heads), DLR (softmax heads with
at least 3 classes) and a margin loss built on :meth:`Head.margin` (any head, including
one-logit binary and multi-label, where DLR is undefined). L-inf and L2. Same guarantees
as :class:`~medrobust.attacks.pgd.PGD`: budget, bounds, seed, per-sample eps, frozen
parameters, early stopping with compaction, no host synchronisation between compactions.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from medrobust.attacks.adaptive import loss_grad
from medrobust.attacks.base import (
    AttackableModel,
    LossFn,
)
from medrobust.attacks.bpda import BpdaSpec
from medrobust.attacks.iterative import IterativeAttack
from medrobust.attacks.norms import (
    ascent_direction,
    check_norm,
    clip_to_ball,
    random_start,
)
from medrobust.errors import ConfigError
from medrobust.heads import Head, HeadKind

ApgdLoss = Literal["ce", "dlr", "margin"]
LOSSES: tuple[ApgdLoss, ...] = ("ce", "dlr", "margin")


def dlr_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Difference of logits ratio (N,): scale-invariant, needs at least 3 softmax logits."""
    z = logits.float()
    top = z.sort(dim=1, descending=True).values
    yl = y.long().reshape(-1, 1)
    true = z.gather(1, yl).squeeze(1)
    first_is_true = z.argmax(dim=1) == yl.squeeze(1)
    best_other = torch.where(first_is_true, top[:, 1], top[:, 0])
    return -(true - best_other) / (top[:, 0] - top[:, 2] + 1e-12)


def margin_loss(head: Head) -> LossFn:
    """Minus the head's margin: positive once the prediction is wrong; never saturates."""
    return lambda logits, y: -head.margin(logits.float(), y)


def second_loss(head: Head) -> ApgdLoss:
    """The loss AutoAttack pairs with CE for this head: DLR with >= 3 classes, else margin."""
    return "dlr" if head.kind == HeadKind.MULTICLASS and head.num_logits >= 3 else "margin"


def checkpoints(steps: int) -> list[int]:
    """Iterations at which APGD may halve its step: p_0=0, p_1=0.22, p_j+1 = p_j + max(p_j - p_j-1 - 0.03, 0.06)."""
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    marks = (math.ceil(round(q * steps, 9)) for q in p[1:])
    return sorted({m for m in marks if 0 < m <= steps})


class APGD(IterativeAttack):
    """Auto-PGD within an L-inf or L2 ball (Croce & Hein, ICML 2020).

    Args:
        norm: ``"linf"`` or ``"l2"``.
        loss: ``"ce"`` (the head's loss), ``"dlr"`` (>= 3 softmax logits) or ``"margin"``.
        steps: iterations per restart (each is one forward and one backward pass).
        restarts: independent runs from random starts; a sample keeps its first success.
        rho: a step is halved at a checkpoint when at most ``rho`` of the steps since the
            last one increased the loss (or the best loss has not moved since then).
        targeted: ``y`` holds target classes (CE or margin loss only).
        target: in a sweep, the class every sample is pushed towards (implies targeted).
        early_stop: stop attacking a sample once it is adversarial.
        seed: seed for the random starts.
        compact_every: steps between dropping finished samples (default 1 on CPU, 4 on GPU).
        bpda, eot, surrogate: the adaptive options (:mod:`medrobust.attacks.adaptive`).
    """

    name = "apgd"
    strength = 2

    def __init__(
        self,
        norm: str = "linf",
        loss: str = "ce",
        steps: int = 100,
        restarts: int = 1,
        rho: float = 0.75,
        targeted: bool = False,
        target: int | None = None,
        early_stop: bool = True,
        seed: int = 0,
        compact_every: int | None = None,
        bpda: BpdaSpec | None = None,
        eot: int = 1,
        surrogate: AttackableModel | None = None,
    ) -> None:
        if steps < 1 or restarts < 1:
            raise ValueError("steps and restarts must be >= 1")
        self.set_adaptive(bpda, eot, surrogate)
        if loss not in LOSSES:
            raise ValueError(f"unknown APGD loss {loss!r}; choose from {LOSSES}")
        self.norm = check_norm(norm)
        self.loss: ApgdLoss = loss
        self.steps = steps
        self.restarts = restarts
        self.rho = rho
        self.targeted = targeted or target is not None
        self.target = target
        if self.targeted and loss == "dlr":
            raise ValueError("targeted APGD supports the ce and margin losses (targeted DLR is not implemented)")
        self.early_stop = early_stop
        self.seed = seed
        self.compact_every = compact_every

    @property
    def label(self) -> str:
        """E.g. ``apgd-ce-linf``, ``apgd-dlr-linf``, ``apgd-margin-l2``."""
        return f"{self.name}-{self.loss}{self.tag}-{self.norm}"

    def loss_fn(self, head: Head) -> LossFn:
        """The per-sample loss this attack ascends for ``head`` (before targeting)."""
        if self.loss == "ce":
            return head.loss
        if self.loss == "margin":
            return margin_loss(head)
        if head.sigmoid or head.num_logits < 3:
            raise ConfigError(
                f"{self.label}: the DLR loss needs a softmax head with at least 3 classes "
                f"(this {head.kind.value} head has {head.num_logits} logit(s)); use loss=margin"
            )
        return dlr_loss

    def _once(
        self,
        model: AttackableModel,
        x: Tensor,
        y: Tensor,
        e: Tensor,
        gen: torch.Generator,
        fn: LossFn,
        start: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One APGD run: the first adversarial point per sample, else its highest-loss point."""
        n = x.shape[0]
        dev = x.device
        head = model.head
        xa = x + random_start(x, e, self.norm, gen) if start is None else start.detach().to(dev, x.dtype)
        xa = clip_to_ball(xa, x, e, self.norm, model.bounds)
        logits, loss, grad = loss_grad(model, xa, y, fn, self.eot)
        # outputs, indexed by the original sample
        out_x = xa.clone()
        out_logits = logits.clone()
        out_loss = loss.clone()
        done = head.is_adversarial(logits, y, self.targeted)
        # per-sample state, compacted together (the ``active`` rows of the batch)
        s: dict[str, Tensor] = {
            "active": torch.arange(n, device=dev),
            "x": x,
            "y": y,
            "e": e,
            "xa": xa,
            "prev": xa.clone(),
            "grad": grad,
            "best_x": xa.clone(),
            "best_grad": grad.clone(),
            "best_loss": loss.clone(),
            "step": 2.0 * e,
            "last_loss": loss.clone(),
            "increases": torch.zeros(n, device=dev),
            "best_at_check": loss.clone(),
            "reduced": torch.ones(n, dtype=torch.bool, device=dev),
        }
        marks = set(checkpoints(self.steps))
        last_mark = 0
        every = self.compact_every or (1 if dev.type == "cpu" else 4)
        for i in range(self.steps):
            a = 1.0 if i == 0 else 0.75
            xa, prev = s["xa"], s["prev"]
            z = clip_to_ball(
                xa + s["step"] * ascent_direction(s["grad"], self.norm), s["x"], s["e"], self.norm, model.bounds
            )
            nxt = clip_to_ball(xa + a * (z - xa) + (1 - a) * (xa - prev), s["x"], s["e"], self.norm, model.bounds)
            s["prev"], s["xa"] = xa, nxt
            logits, loss, grad = loss_grad(model, nxt, s["y"], fn, self.eot)
            s["grad"] = grad
            active = s["active"]
            hit = head.is_adversarial(logits, s["y"], self.targeted)
            better = loss > s["best_loss"]
            s["best_x"] = _where(better, nxt, s["best_x"])
            s["best_grad"] = _where(better, grad, s["best_grad"])
            s["best_loss"] = torch.where(better, loss, s["best_loss"])
            # outputs: the first success wins; until then, the highest loss so far
            new = hit & ~done[active]
            keep_best = ~done[active] & ~hit & better
            take = new | keep_best
            _write(out_x, active, take, nxt)
            _write(out_logits, active, take, logits)
            _write(out_loss, active, take, loss)
            done[active] = done[active] | hit
            s["increases"] = s["increases"] + (loss > s["last_loss"]).float()
            s["last_loss"] = loss
            if i + 1 in marks:
                span = i + 1 - last_mark
                last_mark = i + 1
                few = s["increases"] <= self.rho * span
                stuck = ~s["reduced"] & (s["best_at_check"] >= s["best_loss"])
                halve = few | stuck
                s["reduced"] = halve
                s["best_at_check"] = s["best_loss"].clone()
                s["increases"] = torch.zeros_like(s["increases"])
                s["step"] = torch.where(halve.reshape(-1, *([1] * (s["step"].ndim - 1))), s["step"] / 2, s["step"])
                s["xa"] = _where(halve, s["best_x"], s["xa"])
                s["grad"] = _where(halve, s["best_grad"], s["grad"])
            if self.early_stop and (i + 1) % every == 0 and i + 1 < self.steps:
                keep = (~done[active]).nonzero().squeeze(1)
                if keep.numel() == 0:
                    break
                if keep.numel() < active.numel():
                    s = {k: v[keep] for k, v in s.items()}
        return out_x, out_logits, done, out_loss


def _where(mask: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Per-sample select between two batches of the same shape."""
    return torch.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)


def _write(dst: Tensor, rows: Tensor, mask: Tensor, src: Tensor) -> None:
    """``dst[rows[i]] = src[i]`` where ``mask[i]``, without a host synchronisation."""
    shape = (-1,) + (1,) * (src.ndim - 1)
    dst[rows] = torch.where(mask.reshape(shape), src.to(dst.dtype), dst[rows])
