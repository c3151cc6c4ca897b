"""The adaptive options every gradient attack takes: ``bpda=``, ``eot=`` and ``surrogate=``.

``bpda`` swaps non-differentiable modules for stand-ins on the backward pass (see
:mod:`medrobust.attacks.bpda`); ``eot`` averages the loss gradient over ``k`` passes of a
random model (Athalye et al. 2018); ``surrogate`` attacks a second model and scores the
examples on the target (a transfer attack).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from medrobust.attacks.base import AttackableModel, AttackOutput, LossFn
from medrobust.attacks.bpda import BpdaSpec, bpda_hooks


class Adaptive:
    """Mixin state of the adaptive options; defaults leave an attack exactly as it was."""

    bpda: BpdaSpec | None = None
    eot: int = 1
    surrogate: AttackableModel | None = None
    targeted: bool = False
    black_box: bool = False

    def set_adaptive(self, bpda: BpdaSpec | None, eot: int, surrogate: AttackableModel | None) -> None:
        """Check and keep the options; those left at their defaults stay out of the run key."""
        if eot < 1:
            raise ValueError("eot must be >= 1")
        if bpda is not None:
            self.bpda = bpda
        if eot != 1:
            self.eot = eot
        if surrogate is not None:
            self.surrogate = surrogate
            self.black_box = True  # a transfer attack uses only the target's outputs: checked as black-box

    @property
    def tag(self) -> str:
        """The options in use, for the label: ``-bpda``, ``-eot8``, ``-transfer`` (empty when none)."""
        parts = ["bpda"] if self.bpda is not None else []
        parts += [f"eot{self.eot}"] if self.eot != 1 else []
        parts += ["transfer"] if self.surrogate is not None else []
        return "".join(f"-{p}" for p in parts)

    @contextmanager
    def source(self, model: AttackableModel, seed: int) -> Iterator[AttackableModel]:
        """The model to take gradients of (the surrogate, else ``model``) with its BPDA hooks in place.

        With ``eot > 1`` the global random state (dropout, noise) is seeded by ``seed`` and restored after.
        """
        src = self.surrogate if self.surrogate is not None else model
        if self.surrogate is not None and src.head.num_logits != model.head.num_logits:
            raise ValueError("the surrogate must have as many logits as the target")
        with bpda_hooks(src, self.bpda):
            if self.eot == 1:
                yield src
                return
            devices = [src.device] if src.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)
                yield src

    def on_target(self, model: AttackableModel, out: AttackOutput, y: Tensor) -> AttackOutput:
        """With a surrogate, the examples' logits and success on the target ``model``; else ``out``."""
        if self.surrogate is None:
            return out
        x_adv = out.x_adv.to(model.device)
        with model.evaluating(), torch.no_grad():  # type: ignore[attr-defined]
            logits = model(x_adv).float()
        success = model.head.is_adversarial(logits, y.to(model.device), self.targeted)
        return AttackOutput(x_adv, logits, success)


def input_grad(total: Tensor, x: Tensor) -> Tensor:
    """The gradient of ``total`` with respect to ``x``; zeros when no path leads back (``x > t``, ``round`` in
    a custom op): such a model is masked, and the attack should see a zero gradient, not crash."""
    if not total.requires_grad:
        return torch.zeros_like(x)
    grad = torch.autograd.grad(total, x, allow_unused=True)[0]
    return torch.zeros_like(x) if grad is None else grad


def loss_grad(model: AttackableModel, xa: Tensor, y: Tensor, fn: LossFn, k: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """Logits, per-sample loss and input gradient at ``xa`` (detached), each the mean over ``k`` passes."""
    xg = xa.detach().requires_grad_(True)
    logits_sum: Tensor | None = None
    loss_sum: Tensor | None = None
    grad_sum: Tensor | None = None
    for _ in range(k):
        with torch.enable_grad():
            logits = model(xg)
            loss = fn(logits, y)
            grad = input_grad(loss.sum(), xg)
        z, v = logits.detach().float(), loss.detach().float()
        logits_sum = z if logits_sum is None else logits_sum + z
        loss_sum = v if loss_sum is None else loss_sum + v
        grad_sum = grad if grad_sum is None else grad_sum + grad
    assert logits_sum is not None and loss_sum is not None and grad_sum is not None
    if k == 1:
        return logits_sum, loss_sum, grad_sum.detach()
    return logits_sum / k, loss_sum / k, (grad_sum / k).detach()
