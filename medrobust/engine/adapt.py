"""The strong suite adapts to the model: BPDA members for non-differentiable layers, EOT members for randomness.

Planned once, before the first attack, from what the adapter declares and one probe: a
module flagged ``non_differentiable`` (a quantiser, a JPEG layer, a threshold) gets every
white-box member rerun with ``bpda="identity"`` on it; a model whose two identical passes
differ gets them rerun with ``eot=suite.eot``. The new members join the suite, so its curve
(the worst case per sample over every member) is never above the plain or the adaptive one,
and the summary records which options were added and why (``summary["trust"]["adaptive"]``).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from medrobust.attacks.adaptive import Adaptive
from medrobust.attacks.base import Attack
from medrobust.attacks.suite import Suite
from medrobust.engine.probes import probe_determinism
from medrobust.models.adapter import ModelAdapter

BPDA_WITH = "identity"
"""The stand-in the suite uses for flagged modules: the straight-through estimator."""


@dataclass(frozen=True)
class Adaptation:
    """One adaptive option a suite added: which members, the option, and why."""

    suite: str
    option: str
    members: tuple[str, ...]
    reason: str

    def record(self) -> dict[str, object]:
        """As plain data, for the run record and ``summary["trust"]["adaptive"]``."""
        return {**asdict(self), "members": list(self.members)}


def non_differentiable(model: ModelAdapter) -> list[str]:
    """Names of the adapter's modules flagged ``non_differentiable = True`` (preprocessing stages included)."""
    return [name or type(m).__name__ for name, m in model.named_modules() if getattr(m, "non_differentiable", False)]


def adapt_suite(suite: Suite, model: ModelAdapter, probe_x: Tensor, seed: int) -> tuple[Suite, list[Adaptation]]:
    """``suite`` with adaptive variants of its white-box members, where ``model`` calls for them.

    Unchanged (and no adaptations) for a deterministic model without flagged modules, or when
    ``suite.adaptive`` is off. ``probe_x`` is a small clean batch for the randomness probe.
    """
    if not suite.adaptive:
        return suite, []
    flagged = non_differentiable(model)
    with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
        torch.manual_seed(seed)
        determinism = probe_determinism(model, probe_x.to(model.device).float())
    random = not determinism["deterministic"]
    if not flagged and not random:
        return suite, []
    white = [m for m in suite.members if _adaptable(m)]
    variants = [_variant(m, BPDA_WITH if flagged else None, suite.eot if random else 1) for m in white]
    labels = tuple(v.label for v in variants)
    found: list[Adaptation] = []
    if flagged:
        found.append(
            Adaptation(
                suite.label,
                f"bpda={BPDA_WITH}",
                labels,
                f"module(s) {', '.join(flagged)} are flagged non-differentiable: their gradient is zero or "
                "meaningless, so the white-box members also run with the straight-through estimator on them",
            )
        )
    if random:
        found.append(
            Adaptation(
                suite.label,
                f"eot={suite.eot}",
                labels,
                f"two identical passes differ (max logit difference {determinism['max_abs_diff']:.3g}): one "
                f"pass's gradient is a random draw, so the white-box members also average it over {suite.eot} passes",
            )
        )
    return suite.with_members(variants), found


def records(adaptations: list[Adaptation]) -> list[dict[str, object]]:
    """The adaptations as plain records."""
    return [a.record() for a in adaptations]


def _adaptable(member: Attack) -> bool:
    """A white-box gradient member still in its plain form (no adaptive option of its own)."""
    return isinstance(member, Adaptive) and not member.black_box and member.bpda is None and member.eot == 1


def _variant(member: Attack, bpda: str | None, eot: int) -> Attack:
    """A copy of ``member`` with the adaptive options set (the original is left as it was)."""
    out = copy.copy(member)
    assert isinstance(out, Adaptive)
    out.set_adaptive(bpda, eot, None)
    return out
