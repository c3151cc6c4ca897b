"""The one sweep: for each attack, budgets ascending, attack only the samples still robust.

A sample broken at budget e stays broken at every larger budget (its adversarial example
lies inside the larger ball), so the curve is monotone by construction and the cost
falls as the model breaks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from medrobust.attacks.base import Attack
from medrobust.harness.budgets import Budget
from medrobust.harness.rows import attack_frame, clean_frame
from medrobust.models.adapter import ModelAdapter

log = logging.getLogger(__name__)


@dataclass
class BatchRows:
    """The rows one batch produced, plus seconds spent per stage.

    ``examples`` maps an attack label to ``(clean, adversarial)`` pixels of the first
    ``keep`` samples at the largest budget (on the host), for the report's gallery.
    """

    clean: pd.DataFrame
    attacks: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)
    examples: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)


def sweep_batch(
    model: ModelAdapter,
    x: Tensor,
    y: Tensor,
    meta: Mapping[str, Sequence[str]],
    index: np.ndarray,
    ids: Sequence[str],
    attacks: Sequence[Attack],
    budgets: Sequence[Budget],
    seed: int,
    keep: int = 0,
) -> BatchRows:
    """Run every attack over every budget on one batch; return its rows (and ``keep`` examples)."""
    head = model.head
    x = x.to(model.device, non_blocking=True).float()
    y = y.to(model.device, non_blocking=True)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    clean_logits = model.logits(x)
    clean = clean_frame(head, index, ids, y, clean_logits, meta)
    seconds["clean"] = _elapsed(t0, model.device)
    frames = []
    examples: dict[str, tuple[Tensor, Tensor]] = {}
    for a_i, attack in enumerate(attacks):
        t0 = time.perf_counter()
        held_x = x.clone()
        held_logits = clean_logits.clone()
        target = _targets(attack, y)
        warm = False  # once a budget was attacked, held_x is each robust sample's strongest point
        for b_i, budget in enumerate(budgets):
            if budget.value == 0:
                held_logits = model.logits(x)  # a fresh pass: budget 0 must equal clean
            else:
                todo = _still_robust(head.correct(held_logits, y), target, y)
                if todo.numel():
                    extra = {"start": held_x[todo]} if warm and attack.accepts_start else {}
                    out = attack.run(
                        model,
                        x[todo],
                        (y if target is None else target)[todo],
                        budget.value,
                        seed=_seed(seed, index, a_i, b_i),
                        **extra,
                    )
                    held_x[todo] = out.x_adv.to(held_x.dtype)
                    held_logits[todo] = out.logits.to(held_logits.dtype)
                warm = True
            frames.append(
                attack_frame(head, index, attack.label, budget.value, budget.label, x, held_x, y, held_logits)
            )
        seconds[attack.label] = _elapsed(t0, model.device)
        if keep > 0:  # after the attack loop: held_x is the example at the largest budget
            examples[attack.label] = (x[:keep].detach().cpu(), held_x[:keep].detach().cpu())
    return BatchRows(clean, pd.concat(frames, ignore_index=True), seconds, examples)


def _still_robust(correct: Tensor, target: Tensor | None, y: Tensor) -> Tensor:
    """Indices to attack next: correct samples (and, when targeted, not already the target)."""
    mask = correct
    if target is not None:
        mask = mask & (target != y.reshape(target.shape))
    return mask.nonzero().squeeze(1)  # one sync per budget, outside the attack loop


def _targets(attack: Attack, y: Tensor) -> Tensor | None:
    """Target labels for a targeted attack (its ``target`` class for every sample)."""
    if not attack.targeted:
        return None
    target = getattr(attack, "target", None)
    if target is None:
        raise ValueError(f"{attack.label}: a targeted attack in a sweep needs a target class")
    return torch.full_like(y.reshape(-1), int(target))


def _seed(seed: int, index: np.ndarray, attack_i: int, budget_i: int) -> int:
    """A seed per batch, attack and budget, so resumed runs reproduce the same numbers."""
    first = int(index[0]) if len(index) else 0
    return (seed * 1_000_003 + first * 7919 + attack_i * 131 + budget_i) % (2**31 - 1)


def _elapsed(t0: float, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0
