"""Attack suites: the ``strong`` suite (APGD-CE, APGD with the head's second loss, Square) and ``acquisition``.

In a sweep, a suite's members run as attacks of their own (one monotone curve each) and the
suite's own label gets, per sample and budget, the worst case over its members' rows and
those of every other attack of its norm in the run: a sample is broken if any of them broke
it at this budget (each curve is monotone, so "or at a smaller one" holds too). That is
AutoAttack's "robust against every attack", costs nothing beyond the attacks, and is never
above any attack's curve in the run by construction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from medrobust.attacks.apgd import APGD, second_loss
from medrobust.attacks.base import Attack, AttackableModel, AttackOutput
from medrobust.attacks.norms import Norm, check_norm, per_sample
from medrobust.attacks.square import DEFAULT_QUERIES, Square
from medrobust.errors import ConfigError
from medrobust.heads import Head

SUITES = ("strong", "acquisition")
"""The suites a run can name (``acquisition``: :mod:`medrobust.attacks.acquisition`)."""
DEFAULT_EOT = 8
"""Passes per gradient of the EOT members the strong suite adds for a random model."""

log = logging.getLogger(__name__)


class Suite(Attack):
    """Member attacks applied in sequence, each to the samples the previous ones left robust.

    Called directly, :meth:`run` is AutoAttack's sequence. In :func:`medrobust.evaluate`
    the members run as attacks of their own and the engine's ``combine_rows`` builds this label's rows.
    """

    def __init__(
        self, members: Sequence[Attack], name: str = "strong", *, adaptive: bool = True, eot: int = DEFAULT_EOT
    ) -> None:
        if not members:
            raise ValueError("a suite needs at least one member")
        norms = {m.norm for m in members}
        if len(norms) != 1:
            raise ValueError(f"suite members must share one norm, got {sorted(norms)}")
        if any(m.targeted for m in members):
            raise ValueError("suite members must be untargeted")
        if eot < 2:
            raise ValueError("a suite's eot must be >= 2 (the passes its EOT members average)")
        self.name = name
        self.norm = members[0].norm
        self.members = list(members)
        self.adaptive = adaptive
        """In a sweep, add adaptive members when the model calls for them (:mod:`medrobust.engine.adapt`)."""
        self.eot = eot
        """Passes per gradient of the EOT members added for a random model."""

    @property
    def member_labels(self) -> list[str]:
        """The members' labels, in suite order."""
        return [m.label for m in self.members]

    def describe(self) -> dict[str, object]:
        """Parameters for the run manifest."""
        return {"suite": self.name, "members": self.member_labels}

    def with_members(self, extra: Sequence[Attack]) -> Suite:
        """This suite with ``extra`` members appended (its adaptive variants, say)."""
        return Suite([*self.members, *extra], self.name, adaptive=self.adaptive, eot=self.eot)

    def run(
        self, model: AttackableModel, x: Tensor, y: Tensor, eps: float | Tensor, *, seed: int | None = None
    ) -> AttackOutput:
        x = x.detach().to(model.device)
        y = y.to(model.device)
        e = per_sample(eps, x).reshape(-1)
        x_adv = x.clone()
        logits: Tensor | None = None
        success = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        todo = torch.arange(x.shape[0], device=x.device)
        for i, member in enumerate(self.members):
            out = member.run(model, x[todo], y[todo], e[todo], seed=None if seed is None else seed + i)
            if logits is None:
                logits = torch.empty((x.shape[0], out.logits.shape[1]), device=x.device)
            x_adv[todo] = out.x_adv.to(x_adv.dtype)
            logits[todo] = out.logits.to(logits.dtype)
            success[todo] = out.success
            todo = todo[~out.success]
            if todo.numel() == 0:  # one sync per member, outside every attack loop
                break
        assert logits is not None
        return AttackOutput(x_adv, logits, success)


def strong_suite(
    head: Head,
    norm: str = "linf",
    *,
    steps: int = 100,
    restarts: int = 1,
    queries: int = DEFAULT_QUERIES,
    seed: int = 0,
    surrogate: AttackableModel | None = None,
    adaptive: bool = True,
    eot: int = DEFAULT_EOT,
) -> Suite:
    """APGD-CE, APGD-DLR (>= 3 classes) or APGD-margin (other heads), and Square.

    With a ``surrogate`` (a second model with as many logits), both APGDs also run on it
    and their examples are scored on the target (transfer). ``adaptive`` lets a sweep add
    BPDA and EOT members where the model calls for them; ``eot`` is their passes per gradient.
    """
    n: Norm = check_norm(norm)
    losses = ["ce", second_loss(head)]
    members: list[Attack] = [APGD(n, loss, steps=steps, restarts=restarts, seed=seed) for loss in losses]
    members.append(Square(n, queries=queries, seed=seed))
    if surrogate is not None:
        members += [APGD(n, loss, steps=steps, restarts=restarts, seed=seed, surrogate=surrogate) for loss in losses]
    return Suite(members, name="strong", adaptive=adaptive, eot=eot)


def build_suite(
    spec: str | dict[str, Any] | Suite, head: Head, modality: str | None = None, channels: int | None = None
) -> Suite:
    """A suite from ``"strong"``, ``{"name": "strong", "norm": "l2"}``, ``"acquisition"`` or a :class:`Suite`.

    ``modality`` (a DICOM code) and ``channels`` pick the acquisition suite's shifts; its
    own ``modality`` parameter, if given, wins.
    """
    if isinstance(spec, Suite):
        return spec
    params: dict[str, Any] = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = params.pop("name", None)
    if name not in SUITES:
        raise ConfigError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
    try:
        if name == "acquisition":
            from medrobust.attacks.acquisition import acquisition_suite  # it imports Suite from here

            return acquisition_suite(params.pop("modality", modality), channels, **params)
        return strong_suite(head, **params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"suite {name!r}: {exc}") from None


def expand(attacks: Sequence[Attack], suites: Sequence[Suite]) -> list[Attack]:
    """The attacks a sweep runs: ``attacks`` plus every suite member not already among them.

    A member whose label is already in ``attacks`` is not run twice: the suite uses the
    existing attack's rows. Suites found in ``attacks`` are replaced by their members.
    """
    out: list[Attack] = []
    by_label: dict[str, Attack] = {}
    for a in [*attacks, *suites]:
        for m in a.members if isinstance(a, Suite) else [a]:
            kept = by_label.get(m.label)
            if kept is None:
                out.append(m)
                by_label[m.label] = m
            elif kept is not m and isinstance(a, Suite) and describe_key(kept) != describe_key(m):
                log.warning(
                    "%s: your attack %s replaces the suite member of the same label (%s); the suite's curve uses yours",
                    a.label,
                    m.label,
                    describe_key(m),
                )
    return out


def describe_key(attack: Attack) -> str:
    """The attack's class and parameters as one comparable string."""
    return f"{type(attack).__name__}{sorted((k, repr(v)) for k, v in attack.describe().items())}"
