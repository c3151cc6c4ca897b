"""FGSM (L-inf) and its L2 counterpart FGM: one gradient step of size eps."""

from __future__ import annotations

import torch
from torch import Tensor

from medrobust.attacks.adaptive import Adaptive, loss_grad
from medrobust.attacks.base import Attack, AttackableModel, AttackOutput, LossFn, objective
from medrobust.attacks.bpda import BpdaSpec
from medrobust.attacks.norms import ascent_direction, check_norm, clip_to_ball, per_sample


class FGSM(Adaptive, Attack):
    """Fast gradient (sign) method: ``x + eps · direction(∇loss)``, clipped to bounds.

    ``bpda``, ``eot`` and ``surrogate`` are the adaptive options (:mod:`medrobust.attacks.adaptive`).
    """

    name = "fgsm"
    strength = 0

    def __init__(
        self,
        norm: str = "linf",
        targeted: bool = False,
        target: int | None = None,
        loss: LossFn | None = None,
        bpda: BpdaSpec | None = None,
        eot: int = 1,
        surrogate: AttackableModel | None = None,
    ) -> None:
        self.set_adaptive(bpda, eot, surrogate)
        self.norm = check_norm(norm)
        self.targeted = targeted or target is not None
        self.target = target
        self.loss = loss

    def run(
        self, model: AttackableModel, x: Tensor, y: Tensor, eps: float | Tensor, *, seed: int | None = None
    ) -> AttackOutput:
        x = x.detach().to(model.device)
        y = y.to(model.device)
        e = per_sample(eps, x)
        with self.source(model, 0 if seed is None else seed) as src, src.evaluating(freeze=True):  # type: ignore[attr-defined]
            fn = objective(src, self.loss, self.targeted)
            grad = loss_grad(src, x, y, fn, self.eot)[2]
            x_adv = clip_to_ball(x + e * ascent_direction(grad, self.norm), x, e, self.norm, src.bounds)
            with torch.no_grad():
                logits = src(x_adv).float()
        success = src.head.is_adversarial(logits, y, self.targeted)
        return self.on_target(model, AttackOutput(x_adv.detach(), logits, success), y)
