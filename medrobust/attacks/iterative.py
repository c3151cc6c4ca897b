"""Iterative attacks with restarts and a warm start: one ``run`` shared by PGD and APGD.

Each restart attacks only the samples no earlier run has broken; a sample keeps its first
success, else its highest loss.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor

from medrobust.attacks.adaptive import Adaptive
from medrobust.attacks.base import (
    Attack,
    AttackableModel,
    AttackOutput,
    LossFn,
    make_generator,
    objective,
)
from medrobust.attacks.norms import per_sample
from medrobust.heads import Head

OnceFn = Callable[[Tensor, Tensor, Tensor, Tensor | None], tuple[Tensor, Tensor, Tensor, Tensor]]
"""One run on (x, y, eps, start) returning (x_adv, logits, success, loss) per sample."""


def best_of_restarts(
    once: OnceFn, x: Tensor, y: Tensor, e: Tensor, restarts: int, start: Tensor | None = None
) -> AttackOutput:
    """Run ``once`` up to ``restarts`` times, each on the samples no run has broken yet.

    Only the first run uses ``start``; later runs start afresh. One synchronisation per
    restart (to select the survivors), never inside an attack's step loop.
    """
    best_x, best_logits, found, best_loss = once(x, y, e, start)
    for _ in range(restarts - 1):
        todo = (~found).nonzero().squeeze(1)
        if todo.numel() == 0:
            break
        rx, rl, rf, rloss = once(x[todo], y[todo], e[todo], None)
        take = rf | (rloss > best_loss[todo])
        sel = todo[take]
        best_x[sel] = rx[take]
        best_logits[sel] = rl[take]
        best_loss[sel] = rloss[take]
        found[todo] = rf
    return AttackOutput(best_x, best_logits, found)


class IterativeAttack(Adaptive, Attack):
    """Base for attacks run as ``restarts`` independent runs of ``_once``."""

    accepts_start = True
    restarts: int = 1
    seed: int = 0

    def loss_fn(self, head: Head) -> LossFn | None:
        """The per-sample loss to ascend for ``head``; ``None`` means the head's own."""
        return None

    @abstractmethod
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
        """One run: adversarial inputs, logits, success flags and losses per sample."""

    def run(
        self,
        model: AttackableModel,
        x: Tensor,
        y: Tensor,
        eps: float | Tensor,
        *,
        seed: int | None = None,
        start: Tensor | None = None,
    ) -> AttackOutput:
        """Attack ``x``; with ``start`` (a point per sample), the first run begins there."""
        x = x.detach().to(model.device)
        y = y.to(model.device)
        e = per_sample(eps, x)
        s = self.seed if seed is None else seed
        gen = make_generator(x.device, s)
        with self.source(model, s) as src, src.evaluating(freeze=True):  # type: ignore[attr-defined]
            fn = objective(src, self.loss_fn(src.head), self.targeted)
            out = best_of_restarts(
                lambda xs, ys, es, ss: self._once(src, xs, ys, es, gen, fn, ss), x, y, e, self.restarts, start
            )
        return self.on_target(model, out, y)
