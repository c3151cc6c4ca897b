"""Acquisition shifts as attacks: ``eps`` is a severity (0 = the identity, 1..5 as in ImageNet-C).

Each shift maps severity to one physical parameter through its :attr:`Shift.TABLE` (linear
between integer severities, the last value beyond them) and draws or searches its own
parameters within that range: ``mode="random"`` keeps the worst of ``draws`` seeded draws
(and reports, per sample, the fraction of them the model got right),
``mode="adversarial"`` starts from the same draws and then ascends the head's loss on the
parameters (signed-gradient steps), or searches further at random where the shift has no
gradient. Both keep, per sample, the worst point they saw, so adversarial is never weaker
than random at the same severity and seed. Nothing leaves the device inside the loops but
JPEG, a CPU codec.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from medrobust.attacks.base import Attack, AttackableModel, AttackOutput, make_generator
from medrobust.attacks.norms import per_sample
from medrobust.heads import Head

SEVERITY = "severity"
"""The ``norm`` of every shift: the L-p checks (budget range, trust, suites of a norm) skip it."""
MODES = ("random", "adversarial")
"""The two ways a shift picks its parameters."""
STEP = 0.25
"""Signed-gradient step on the unit parameters (a quarter of their largest magnitude)."""
SEARCH_FACTOR = 4
"""Adversarial mode's extra random candidates per draw, for shifts with no gradient."""


def severity_level(table: tuple[float, ...], eps: Tensor) -> Tensor:
    """The physical parameter per sample: ``table`` interpolated linearly at severities ``eps`` (N,).

    Severities beyond the table's last entry get its last value.
    """
    t = torch.as_tensor(table, dtype=eps.dtype, device=eps.device)
    s = eps.clamp(0, len(table) - 1)
    lo = s.floor().long().clamp(max=len(table) - 2)
    frac = s - lo.to(s.dtype)
    return t[lo] + frac * (t[lo + 1] - t[lo])


def random_sign(x: Tensor, gen: torch.Generator) -> Tensor:
    """Unit parameters ``+-1`` per sample (N, 1): a two-sided shift at its table's size, up or down."""
    sign = torch.randint(0, 2, (x.shape[0], 1), generator=gen, device=x.device)
    return sign.to(x.dtype) * 2 - 1


def full_level(x: Tensor) -> Tensor:
    """Unit parameters ``1`` per sample (N, 1): a one-sided shift at its table's value."""
    return torch.ones((x.shape[0], 1), device=x.device, dtype=x.dtype)


def expand(v: Tensor, x: Tensor) -> Tensor:
    """A per-sample vector (N,) shaped to broadcast against ``x`` (N, ...)."""
    return v.reshape(-1, *([1] * (x.ndim - 1)))


class Shift(Attack):
    """Base of the acquisition shifts: a physical parameter per severity, random or worst-case draws.

    Subclasses set :attr:`PARAMETER`, :attr:`UNITS`, :attr:`TABLE` and implement :meth:`draw`
    (random unit parameters) and :meth:`apply` (the shifted image inside the bounds,
    differentiable in the parameters where :attr:`DIFFERENTIABLE`). Unit parameters are scaled
    by the severity's level, and severity 0 returns the input itself.

    Args:
        mode: ``"random"`` or ``"adversarial"``.
        draws: seeded random draws per sample (the worst is kept); shifts fixed by their level
            (:attr:`RANDOM` false) draw once.
        steps: adversarial mode's signed-gradient steps on the parameters.
        seed: seed of the draws (the sweep passes one per batch, attack and budget).
    """

    name = "shift"
    norm = SEVERITY  # type: ignore[assignment]  # not an L-p ball: the linf/l2 checks skip shifts
    PARAMETER: ClassVar[str] = ""
    """What the table holds (``sigma``, ``factor``)."""
    UNITS: ClassVar[str] = ""
    """The units of :attr:`PARAMETER`."""
    TABLE: ClassVar[tuple[float, ...]] = (0.0, 1.0)
    """The parameter at severities 0, 1, ..., 5."""
    LOW: ClassVar[float] = -1.0
    """Lower end of the unit parameters (0 for one-sided ones such as blur); the upper end is 1."""
    DIFFERENTIABLE: ClassVar[bool] = True
    """False when the output has no gradient in the parameters: adversarial mode searches at random."""
    RANDOM: ClassVar[bool] = True
    """False when the random mode's shift is fixed by its level (one draw is all there is)."""

    def __init__(self, mode: str = "random", draws: int = 5, steps: int = 5, seed: int = 0) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if draws < 1:
            raise ValueError("draws must be >= 1")
        if steps < 0:
            raise ValueError("steps must be >= 0")
        self.mode = mode
        self.draws = draws
        self.steps = steps
        self.seed = seed

    @property
    def label(self) -> str:
        """``blur-random`` or ``blur-adversarial``."""
        return f"{self.name}-{self.mode}"

    @property
    def averages(self) -> bool:
        """The random mode also reports the fraction of its draws under which each sample stayed correct."""
        return self.mode == "random"

    def describe(self) -> dict[str, object]:
        """Parameters for the manifest, with the severity table that reads ``eps``."""
        return {
            **super().describe(),
            "norm": SEVERITY,
            "parameter": self.PARAMETER,
            "units": self.UNITS,
            "table": list(self.TABLE),
        }

    @abstractmethod
    def draw(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """Random unit parameters for every sample (first dimension N), within ``[LOW, 1]``."""

    @abstractmethod
    def apply(self, x: Tensor, params: Tensor, level: Tensor, bounds: tuple[float, float]) -> Tensor:
        """``x`` shifted by unit ``params`` at physical ``level`` (N,), inside ``bounds``."""

    def shifter(self, x: Tensor, bounds: tuple[float, float]) -> Callable[[Tensor, Tensor], Tensor]:
        """``(params, level) -> apply(x, params, level, bounds)`` for one run on ``x``.

        A shift whose work on ``x`` does not depend on the parameters (downsampling's resized
        copies) overrides this to do it once per run instead of once per candidate.
        """
        return lambda params, level: self.apply(x, params, level, bounds)

    def search(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """Candidate unit parameters of the adversarial mode's random search (shifts with no gradient)."""
        return self.draw(x, gen)

    def project(self, params: Tensor) -> Tensor:
        """Unit parameters back into their allowed set."""
        return params.clamp(self.LOW, 1.0)

    def ascend(self, params: Tensor, grad: Tensor) -> Tensor:
        """One signed-gradient step on the unit parameters, projected."""
        return self.project(params + STEP * grad.nan_to_num(0.0).sign())

    def run(
        self, model: AttackableModel, x: Tensor, y: Tensor, eps: float | Tensor, *, seed: int | None = None
    ) -> AttackOutput:
        """Shift ``x`` at severity ``eps`` (a number or one per sample); the worst point per sample."""
        x = x.detach().to(model.device)
        y = y.to(model.device)
        e = per_sample(eps, x)
        if e.numel() != x.shape[0]:
            raise ValueError(f"{self.label}: a severity is one number per sample, not an element-wise budget")
        severity = e.reshape(-1)
        level = severity_level(self.TABLE, severity)
        clean = severity == 0
        gen = make_generator(x.device, self.seed if seed is None else seed)
        head = model.head
        candidates = [self.draw] * (self.draws if self.RANDOM else 1)  # identical in both modes
        if self.mode == "adversarial" and not self.DIFFERENTIABLE:
            candidates += [self.search] * (self.draws * SEARCH_FACTOR)
        best: _Best | None = None
        right = torch.zeros(x.shape[0], device=x.device)  # per sample: draws under which the model was correct
        draws = self.draws if self.RANDOM else 1
        with model.evaluating(freeze=True):  # type: ignore[attr-defined]
            with torch.no_grad():
                shift = _masked(self.shifter(x, model.bounds), x, clean)
                for i, sample in enumerate(candidates):
                    p = sample(x, gen)
                    xs = shift(p, level)
                    logits = model(xs).float()
                    if i < draws:
                        right += head.correct(logits, y).float()
                    best = _Best.update(best, head, xs, logits, y, p)
            assert best is not None
            if self.mode == "adversarial" and self.DIFFERENTIABLE and self.steps > 0:
                shift = _masked(self.shifter(x, model.bounds), x, clean)  # outside no_grad: keeps gradients
                best = self._ascend(model, shift, y, level, best)
        fraction = right / draws if self.averages else None
        return AttackOutput(best.x, best.logits, best.hit, fraction)

    def _ascend(
        self, model: AttackableModel, shift: Callable[[Tensor, Tensor], Tensor], y: Tensor, level: Tensor, best: _Best
    ) -> _Best:
        """Signed-gradient steps on the parameters from the best draw, keeping the worst point seen."""
        head = model.head
        params = self.project(best.params)
        for _ in range(self.steps):
            p = params.detach().requires_grad_(True)
            with torch.enable_grad():
                xs = shift(p, level)
                logits = model(xs).float()
                (grad,) = torch.autograd.grad(head.loss(logits, y).sum(), p)
            best = _Best.update(best, head, xs.detach(), logits.detach(), y, p.detach())
            params = self.ascend(p.detach(), grad)
        with torch.no_grad():
            xs = shift(params, level)
            best = _Best.update(best, head, xs, model(xs).float(), y, params)
        return best


def _masked(shift: Callable[[Tensor, Tensor], Tensor], x: Tensor, clean: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    """``shift``, returning exactly ``x`` where the severity is 0 (``clean``)."""
    keep = expand(clean, x)
    return lambda params, level: torch.where(keep, x, shift(params, level).to(x.dtype))


class _Best:
    """Per sample, the worst point so far: the first that misclassifies, else the lowest margin."""

    def __init__(self, x: Tensor, logits: Tensor, margin: Tensor, hit: Tensor, params: Tensor) -> None:
        self.x, self.logits, self.margin, self.hit, self.params = x, logits, margin, hit, params

    @staticmethod
    def update(best: _Best | None, head: Head, xs: Tensor, logits: Tensor, y: Tensor, p: Tensor) -> _Best:
        """``best`` with ``xs`` (made with parameters ``p``) taken where it is worse for the model."""
        margin = head.margin(logits, y)
        hit = head.is_adversarial(logits, y)
        if best is None:
            return _Best(xs.clone(), logits.clone(), margin, hit, p.clone())
        take = ~best.hit & (hit | (margin < best.margin))
        best.x = torch.where(expand(take, xs), xs, best.x)
        best.logits = torch.where(take[:, None], logits, best.logits)
        best.margin = torch.where(take, margin, best.margin)
        best.hit = best.hit | hit
        best.params = torch.where(expand(take, p), p, best.params)
        return best
