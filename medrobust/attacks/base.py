"""The attack interface: ``attack(model, x, y, eps) -> x_adv``, plus the logits at ``x_adv``."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from medrobust.attacks.norms import Norm
from medrobust.heads import Head

LossFn = Callable[[Tensor, Tensor], Tensor]
"""Per-sample loss (N,) from logits and labels; attacks maximise it."""


class AttackableModel(Protocol):
    """What an attack needs from a model: logits, bounds, head, a device, eval/freeze."""

    head: Head
    bounds: tuple[float, float]
    device: torch.device

    def __call__(self, x: Tensor) -> Tensor: ...

    def evaluating(self, freeze: bool = False) -> object: ...


@dataclass
class AttackOutput:
    """An attack's result: adversarial inputs, their logits, and which ones succeeded.

    ``correct_fraction`` (N,), from attacks that :attr:`Attack.averages`: per sample, the
    fraction of their random draws under which the model stayed correct (its mean over
    samples is the expected accuracy under one draw); ``None`` from the others.
    """

    x_adv: Tensor
    logits: Tensor
    success: Tensor
    correct_fraction: Tensor | None = None


class Attack(ABC):
    """Base class. Subclasses implement :meth:`run`; budgets may be per sample.

    Guarantees: ``‖x_adv − x‖ ≤ eps`` in the attack's norm, ``x_adv`` within the model's
    bounds, the same seed gives the same result, and the loop never leaves the device.
    """

    name: str = "attack"
    norm: Norm = "linf"
    targeted: bool = False
    accepts_start: bool = False
    """True when :meth:`run` takes ``start=``: a point inside the ball to begin from.

    The sweep passes each still-robust sample's strongest point from the previous budget
    (a budget continuation), which is stronger than starting afresh."""
    black_box: bool = False
    """True for attacks that use only the model's outputs (no gradients); trust checks compare them."""
    strength: int = 1
    """How strong a white-box attack is meant to be: 0 one step (FGSM), 1 iterative (PGD), 2 adaptive
    (APGD). One left weaker than another meant to be no stronger is a sign of gradient masking."""

    def __call__(self, model: AttackableModel, x: Tensor, y: Tensor, eps: float | Tensor) -> Tensor:
        return self.run(model, x, y, eps).x_adv

    @abstractmethod
    def run(
        self,
        model: AttackableModel,
        x: Tensor,
        y: Tensor,
        eps: float | Tensor,
        *,
        seed: int | None = None,
    ) -> AttackOutput:
        """Attack ``x`` (labels ``y``, or targets when targeted) within budget ``eps``."""

    @property
    def averages(self) -> bool:
        """True when :meth:`run` also returns ``correct_fraction`` (a shift's random mode).

        The sweep then runs it on every sample at every budget, not only the still-robust
        ones, so the mean over draws is that of the whole data set.
        """
        return False

    @property
    def tag(self) -> str:
        """What sets this attack apart from its plain form in its label (``-bpda``, ``-eot8``); empty by default."""
        return ""

    @property
    def label(self) -> str:
        """Name used in result rows, e.g. ``pgd-linf`` (``pgd-bpda-linf`` with an adaptive option)."""
        return f"{self.name}{self.tag}-{self.norm}"

    def describe(self) -> dict[str, object]:
        """Parameters for the run manifest and the run key; callables (a custom loss) by fingerprint."""
        return {k: _plain(v) for k, v in vars(self).items() if not k.startswith("_")}


def _plain(v: object) -> object:
    """A parameter as plain data: a module by class and name, a callable by fingerprint, containers in kind."""
    fingerprint = getattr(v, "model_fingerprint", None)
    if isinstance(v, torch.nn.Module) and callable(fingerprint):  # a model (a surrogate): by its weights and code
        return f"model:{getattr(v, 'name', '')}:{fingerprint().digest}"
    if isinstance(v, torch.nn.Module):
        return f"module:{type(v).__qualname__}:{getattr(v, 'name', '')}"
    if callable(v):
        return callable_fingerprint(v)
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


UNFINGERPRINTABLE = "unfingerprintable:"
"""Prefix of the fingerprint of a callable whose behaviour cannot be read (a resumed run refuses it)."""


def callable_fingerprint(fn: object) -> str:
    """``module.qualname#sha256`` of a function's bytecode, constants and closure; else unfingerprintable.

    Two different losses never share a run key, so a resumed run cannot return another
    attack's rows. A callable object without readable code gets :data:`UNFINGERPRINTABLE`.
    """
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"
    code = getattr(fn, "__code__", None)
    if code is None:
        return f"{UNFINGERPRINTABLE}{name}"
    h = hashlib.sha256(code.co_code)
    h.update(repr(code.co_consts).encode())
    h.update(repr(code.co_names).encode())
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        h.update((callable_fingerprint(value) if callable(value) else repr(value)).encode())
    return f"{name}#{h.hexdigest()[:16]}"


def objective(model: AttackableModel, loss: LossFn | None, targeted: bool) -> LossFn:
    """The per-sample objective an attack ascends: the loss, or minus it when targeted."""
    fn = loss if loss is not None else model.head.loss
    if targeted:
        return lambda logits, y: -fn(logits, y)
    return fn


def make_generator(device: torch.device, seed: int) -> torch.Generator:
    """A seeded generator on ``device`` so random starts never touch the host."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g
