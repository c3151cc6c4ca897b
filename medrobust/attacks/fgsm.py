"""FGSM (L-inf) and its L2 counterpart FGM: one gradient step of size eps."""

from __future__ import annotations

import torch
from torch import Tensor

from medrobust.attacks.base import Attack, AttackableModel, AttackOutput, LossFn, objective
from medrobust.attacks.norms import ascent_direction, check_norm, clip_to_ball, per_sample


class FGSM(Attack):
    """Fast gradient (sign) method: ``x + eps · direction(∇loss)``, clipped to bounds."""

    name = "fgsm"
    strength = 0

    def __init__(
        self, norm: str = "linf", targeted: bool = False, target: int | None = None, loss: LossFn | None = None
    ) -> None:
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
        fn = objective(model, self.loss, self.targeted)
        with model.evaluating(freeze=True):  # type: ignore[attr-defined]
            xg = x.clone().requires_grad_(True)
            with torch.enable_grad():
                grad = torch.autograd.grad(fn(model(xg), y).sum(), xg)[0]
            x_adv = clip_to_ball(x + e * ascent_direction(grad, self.norm), x, e, self.norm, model.bounds)
            with torch.no_grad():
                logits = model(x_adv).float()
        success = model.head.is_adversarial(logits, y, self.targeted)
        return AttackOutput(x_adv.detach(), logits, success)
