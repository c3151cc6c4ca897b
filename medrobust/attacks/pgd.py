"""PGD (L-inf, L2): random start, restarts, targeted mode, early stopping per sample.

Samples that become adversarial are recorded at their first success and dropped from
the batch, so the cost falls as the model breaks. Dropping them needs to know how many
are left; on a GPU that one small synchronisation happens every ``compact_every`` steps.
"""

from __future__ import annotations

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
from medrobust.heads import Head


class PGD(IterativeAttack):
    """Projected gradient descent (Madry et al. 2018) within an L-inf or L2 ball.

    Args:
        norm: ``"linf"`` or ``"l2"``.
        steps: gradient steps per restart.
        rel_stepsize: step size as a fraction of eps (default ``2.5 / steps``).
        abs_stepsize: fixed step size in image units; overrides ``rel_stepsize``.
        random_start: start from a random point in the ball.
        restarts: independent runs; a sample keeps its first success, else its highest loss.
        targeted: ``y`` holds target classes; the attack succeeds when they are predicted.
        target: in a sweep, the class every sample is pushed towards (implies targeted).
        loss: per-sample loss to maximise (default: the head's, CE or BCE).
        early_stop: stop attacking a sample once it is adversarial.
        seed: seed for the random starts.
        compact_every: steps between dropping finished samples (default 1 on CPU, 4 on GPU).
        bpda, eot, surrogate: the adaptive options (:mod:`medrobust.attacks.adaptive`).
    """

    name = "pgd"

    def __init__(
        self,
        norm: str = "linf",
        steps: int = 10,
        rel_stepsize: float | None = None,
        abs_stepsize: float | None = None,
        random_start: bool = True,
        restarts: int = 1,
        targeted: bool = False,
        target: int | None = None,
        loss: LossFn | None = None,
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
        self.norm = check_norm(norm)
        self.steps = steps
        self.rel_stepsize = 2.5 / steps if rel_stepsize is None else rel_stepsize
        self.abs_stepsize = abs_stepsize
        self.random_start = random_start
        self.restarts = restarts
        self.targeted = targeted or target is not None
        self.target = target
        self.loss = loss
        self.early_stop = early_stop
        self.seed = seed
        self.compact_every = compact_every

    def loss_fn(self, head: Head) -> LossFn | None:
        """The user's loss, else the head's (``None``)."""
        return self.loss

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
        """One PGD run; returns adversarial inputs, logits, success flags and final losses."""
        n = x.shape[0]
        alpha = e * self.rel_stepsize if self.abs_stepsize is None else torch.full_like(e, self.abs_stepsize)
        if start is not None:
            xa = clip_to_ball(start.detach().to(x.device, x.dtype), x, e, self.norm, model.bounds)
        elif self.random_start:
            xa = torch.clamp(x + random_start(x, e, self.norm, gen), *model.bounds)
        else:
            xa = x.clone()
        out_x = xa.clone()
        out_logits: Tensor | None = None
        out_loss = torch.full((n,), float("-inf"), device=x.device)
        done = torch.zeros(n, dtype=torch.bool, device=x.device)
        active = torch.arange(n, device=x.device)
        x0, y0, e0, a0 = x, y, e, alpha
        every = self.compact_every or (1 if x.device.type == "cpu" else 4)
        for step in range(self.steps):
            logits, loss, grad = loss_grad(model, xa, y0, fn, self.eot)
            if out_logits is None:
                out_logits = torch.empty((n, logits.shape[1]), device=x.device)
            if self.early_stop:
                hit = model.head.is_adversarial(logits, y0, self.targeted)
                new = hit & ~done[active]
                _write(out_x, active, new, xa)
                _write(out_logits, active, new, logits)
                _write(out_loss, active, new, loss)
                done[active] = done[active] | hit
            xa = clip_to_ball(xa + a0 * ascent_direction(grad, self.norm), x0, e0, self.norm, model.bounds)
            if self.early_stop and (step + 1) % every == 0 and step + 1 < self.steps:
                keep = (~done[active]).nonzero().squeeze(1)
                if keep.numel() == 0:
                    return out_x, out_logits, done, out_loss
                active, xa, x0, y0, e0, a0 = (t[keep] for t in (active, xa, x0, y0, e0, a0))
        with torch.no_grad():
            logits = model(xa).float()
            loss = fn(logits, y0).float()
        if out_logits is None:
            out_logits = torch.empty((n, logits.shape[1]), device=x.device)
        last = ~done[active]
        _write(out_x, active, last, xa)
        _write(out_logits, active, last, logits)
        _write(out_loss, active, last, loss)
        done[active] = done[active] | model.head.is_adversarial(logits, y0, self.targeted)
        return out_x, out_logits, done, out_loss


def _write(dst: Tensor, rows: Tensor, mask: Tensor, src: Tensor) -> None:
    """``dst[rows[i]] = src[i]`` where ``mask[i]``, without a host synchronisation."""
    shape = (-1,) + (1,) * (src.ndim - 1)
    dst[rows] = torch.where(mask.reshape(shape), src.to(dst.dtype), dst[rows])
