"""Restarts shared by iterative attacks: keep each sample's first success, else its highest loss."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from medrobust.attacks.base import AttackOutput

OnceFn = Callable[[Tensor, Tensor, Tensor, Tensor | None], tuple[Tensor, Tensor, Tensor, Tensor]]
"""One run on (x, y, eps, start) returning (x_adv, logits, success, loss) per sample."""


def best_of_restarts(once: OnceFn, x: Tensor, y: Tensor, e: Tensor, restarts: int, start: Tensor | None = None) -> AttackOutput:
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
