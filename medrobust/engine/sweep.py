"""The one sweep: for each attack, budgets ascending, attack only the samples still robust.

A sample broken at budget e stays broken at every larger budget (its adversarial example
lies inside the larger ball), so the curve is monotone by construction and the cost
falls as the model breaks. :class:`SweepOptions` choose how the device is spent: the
``parallel`` schedule rides all remaining budgets in one batch (per-sample eps) and then
enforces the same monotone rule; ``bf16`` autocast (GPUs) and ``channels_last`` (GPUs, and
CPUs for pooling-heavy networks) change how each pass is computed, not what is computed.

A random model (``passes`` given) is judged by its expectation (:mod:`medrobust.engine.expectation`):
every clean and final example is evaluated over fresh passes, budget 0 is the clean
evaluation itself, and a new adversarial example replaces the held one only where it breaks
the mean prediction or lowers the share of correct passes, so both stay monotone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from medrobust.attacks.base import Attack
from medrobust.attacks.budgets import Budget
from medrobust.datasets.file_space import QUANTISED, Grid
from medrobust.engine.expectation import Expected, expected
from medrobust.engine.perceptibility import perceptibility
from medrobust.engine.quantise import Quantised
from medrobust.engine.rows import attack_columns, attack_frame, clean_frame
from medrobust.engine.spec import SweepOptions
from medrobust.models.adapter import ModelAdapter

__all__ = ["BatchRows", "FileSpaceRun", "SweepOptions", "autocast", "sweep_batch", "weights_layout"]

log = logging.getLogger(__name__)


def autocast(options: SweepOptions, device: torch.device) -> AbstractContextManager[object]:
    """bf16 autocast on ``device`` when asked, else nothing."""
    if options.precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


@contextmanager
def weights_layout(model: ModelAdapter, options: SweepOptions, spatial_dims: int) -> Iterator[None]:
    """The network's weights channels-last while the block runs (when asked), then as before.

    A network whose weights already have a non-standard layout is left alone.
    """
    if not options.channels_last or spatial_dims not in (2, 3):
        yield
        return
    weights = [p for p in model.model.parameters() if p.ndim == spatial_dims + 2]
    if not all(p.is_contiguous() for p in weights):
        yield
        return
    model.model.to(memory_format=_memory_format(spatial_dims + 2))
    try:
        yield
    finally:
        model.model.to(memory_format=torch.contiguous_format)


@dataclass(frozen=True)
class FileSpaceRun:
    """What file-space data add to a batch: the stored-value grid (each attack's ``+quantised`` curve),
    a region mask (``x_adv - x`` zero outside it: L-inf budgets become element-wise), and a receiver
    ``on_storable(label, budget label, examples)`` of the storable examples at each non-zero budget."""

    grid: Grid
    region: Callable[[Tensor, np.ndarray], Tensor] | None = None
    on_storable: Callable[[str, str, Tensor], None] | None = None


@dataclass
class BatchRows:
    """The rows one batch produced, plus seconds spent per stage.

    ``examples`` maps an attack label to ``(clean, adversarial)`` pixels of the first
    ``keep`` samples at the largest budget (on the host), for the report's gallery.
    ``budget_seconds`` maps ``"label@budget"`` to the seconds that budget took.
    """

    clean: pd.DataFrame
    attacks: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)
    examples: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)
    budget_seconds: dict[str, float] = field(default_factory=dict)


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
    options: SweepOptions | None = None,
    passes: int | None = None,
    on_step: Callable[[str, str], None] | None = None,
    file_space: FileSpaceRun | None = None,
) -> BatchRows:
    """Run every attack over every budget on one batch; return its rows (and ``keep`` examples).

    ``passes``: the model is random; judge every example by that many fresh passes.
    ``on_step(attack label, budget label)`` is called after each attack and budget (progress; no host sync).
    ``file_space``: the data are file-space (see :class:`FileSpaceRun`).
    """
    opts = options or SweepOptions()
    with weights_layout(model, opts, x.ndim - 2):
        return _sweep_batch(
            model,
            x,
            y,
            meta,
            index,
            ids,
            attacks,
            budgets,
            seed,
            keep,
            opts,
            passes,
            on_step,
            file_space,
        )


def _sweep_batch(
    model: ModelAdapter,
    x: Tensor,
    y: Tensor,
    meta: Mapping[str, Sequence[str]],
    index: np.ndarray,
    ids: Sequence[str],
    attacks: Sequence[Attack],
    budgets: Sequence[Budget],
    seed: int,
    keep: int,
    opts: SweepOptions,
    passes: int | None,
    on_step: Callable[[str, str], None] | None = None,
    file_space: FileSpaceRun | None = None,
) -> BatchRows:
    head = model.head
    grid = file_space.grid if file_space is not None else None
    on_storable = file_space.on_storable if file_space is not None else None
    region = file_space.region if file_space is not None else None
    mask = region(x.to(model.device).float(), index) if region is not None else None
    x = x.to(model.device, non_blocking=True).float()
    if opts.channels_last and x.ndim in (4, 5):
        x = x.contiguous(memory_format=_memory_format(x.ndim))
    y = y.to(model.device, non_blocking=True)
    seconds: dict[str, float] = {}
    budget_seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    with autocast(opts, model.device):
        clean_logits = model.logits(x)
    model.check_finite(clean_logits, ids)
    clean_eval: Expected | None = None
    if passes:  # a random model: its prediction is the mean of fresh passes
        clean_eval = expected(model, x, y, passes, _seed(seed, index, 0, 0, stream=1))
        clean_logits = clean_eval.logits
    extra = clean_eval.columns() if clean_eval is not None else {}
    clean = clean_frame(head, index, ids, y, clean_logits, meta, extra)
    seconds["clean"] = _elapsed(t0, model.device)
    blocks: list[tuple[str, float, str, dict[str, Tensor]]] = []
    examples: dict[str, tuple[Tensor, Tensor]] = {}
    for a_i, attack in enumerate(attacks):
        t0 = time.perf_counter()
        held_x = x.clone()
        held_logits = clean_logits.clone()
        held_eval = clean_eval.clone() if clean_eval is not None else None
        target = _targets(attack, y)
        labels = y if target is None else target
        warm = False  # once a budget was attacked, held_x is each robust sample's strongest point
        ahead: _Ahead | None = None  # the parallel schedule's one run over the remaining budgets
        quantised = Quantised(x, clean_logits) if grid is not None and held_eval is None else None
        every = torch.arange(x.shape[0], device=x.device)  # an averaging attack runs on every sample
        for b_i, budget in enumerate(budgets):
            t_b = time.perf_counter()
            fraction: Tensor | None = None  # an averaging attack's fraction of draws still correct
            if budget.value == 0:
                if held_eval is None:
                    with autocast(opts, model.device):
                        held_logits = model.logits(x)  # a fresh pass: budget 0 must equal clean
                if attack.averages:
                    fraction = head.correct(held_logits, y).float()
            else:
                todo = _still_robust(head.correct(held_logits, y), target, y)
                runs = every if attack.averages else todo
                if runs.numel():
                    if opts.schedule == "parallel":
                        if ahead is None:
                            with _seeded(model, passes, _seed(seed, index, a_i, b_i, stream=2)):
                                ahead = _Ahead.run(
                                    model,
                                    attack,
                                    x,
                                    labels,
                                    runs,
                                    budgets,
                                    b_i,
                                    _seed(seed, index, a_i, b_i),
                                    opts,
                                    mask,
                                )
                        adv_x, adv_logits, fraction = ahead.at(b_i, todo)
                    else:
                        extra = {"start": held_x[todo]} if warm and attack.accepts_start else {}
                        with autocast(opts, model.device), _seeded(model, passes, _seed(seed, index, a_i, b_i, 2)):
                            out = attack.run(
                                model,
                                x[runs],
                                labels[runs],
                                budget.value if mask is None else budget.value * mask[runs],
                                seed=_seed(seed, index, a_i, b_i),
                                **extra,
                            )
                        adv_x, adv_logits, fraction = out.x_adv, out.logits, out.correct_fraction
                        if attack.averages:  # ran on every sample: the worst case moves only the robust ones
                            adv_x, adv_logits = adv_x[todo], adv_logits[todo]
                    if held_eval is not None:  # keep the new example only where it is worse for the model
                        new = expected(model, adv_x, y[todo], passes or 1, _seed(seed, index, a_i, b_i, stream=1))
                        old = held_eval.take(todo)
                        worse = ~head.correct(new.logits, y[todo]) | (new.rate <= old.rate)
                        adv_x = torch.where(worse.reshape(-1, *([1] * (x.ndim - 1))), adv_x.to(x.dtype), held_x[todo])
                        held_eval.put(todo, new.where(worse, old))
                        adv_logits = held_eval.logits[todo]
                    held_x[todo] = adv_x.to(held_x.dtype)
                    held_logits[todo] = adv_logits.to(held_logits.dtype)
                warm = True
            cols = attack_columns(head, x, held_x, y, held_logits)
            if attack.averages and fraction is not None:
                cols["correct_fraction"] = fraction.float()
            if grid is not None:  # file space: how visible the edit is
                cols.update(perceptibility(x, held_x, model.preprocess.stages, model.bounds, similarity=False))
            if held_eval is not None:
                cols.update({k: v.clone() for k, v in held_eval.columns().items()})
            blocks.append((attack.label, budget.value, budget.label, cols))
            if quantised is not None and grid is not None:
                with autocast(opts, model.device):
                    e_q = budget.value if mask is None else budget.value * mask
                    quantised.update(model, grid, x, held_x, y, target, e_q, attack.norm)
                q_cols = attack_columns(head, x, quantised.x, y, quantised.logits)
                q_cols.update(perceptibility(x, quantised.x, model.preprocess.stages, model.bounds))
                blocks.append((attack.label + QUANTISED, budget.value, budget.label, q_cols))
                if on_storable is not None and budget.value > 0:
                    on_storable(attack.label + QUANTISED, budget.label, quantised.x)
            # host time only: a CUDA sync here would stall the queue once per budget (the attack total syncs)
            budget_seconds[f"{attack.label}@{budget.label}"] = time.perf_counter() - t_b
            if on_step is not None:
                on_step(attack.label, budget.label)
        seconds[attack.label] = _elapsed(t0, model.device)
        if keep > 0:  # after the attack loop: held_x is the example at the largest budget
            examples[attack.label] = (x[:keep].detach().cpu(), held_x[:keep].detach().cpu())
    return BatchRows(clean, attack_frame(index, blocks), seconds, examples, budget_seconds)


@dataclass
class _Ahead:
    """One attack run over ``samples`` at every budget from ``first`` on (the parallel schedule).

    Rows ``j * len(samples) + i`` hold sample ``samples[i]`` at budget ``first + j``.
    """

    samples: Tensor
    first: int
    x_adv: Tensor
    logits: Tensor
    fraction: Tensor | None = None

    @classmethod
    def run(
        cls,
        model: ModelAdapter,
        attack: Attack,
        x: Tensor,
        labels: Tensor,
        samples: Tensor,
        budgets: Sequence[Budget],
        first: int,
        seed: int,
        opts: SweepOptions,
        mask: Tensor | None = None,
    ) -> _Ahead:
        rest = budgets[first:]
        m = samples.numel()
        values = torch.tensor([b.value for b in rest], device=x.device, dtype=x.dtype)
        xs = x[samples].repeat(len(rest), *([1] * (x.ndim - 1)))
        ys = labels[samples].repeat(len(rest), *([1] * (labels.ndim - 1)))
        eps: Tensor = values.repeat_interleave(m)
        if mask is not None:  # element-wise budgets: eps inside the region, 0 outside
            eps = eps.reshape(-1, *([1] * (x.ndim - 1))) * mask[samples].repeat(len(rest), *([1] * (x.ndim - 1)))
        with autocast(opts, model.device):
            out = attack.run(model, xs, ys, eps, seed=seed)
        return cls(samples, first, out.x_adv, out.logits, out.correct_fraction)

    def at(self, budget_index: int, todo: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """Adversarial inputs and logits of ``todo`` (a subset of ``samples``) at one budget, and
        the fraction of draws still correct of every sample in ``samples`` there (averaging attacks)."""
        start = (budget_index - self.first) * self.samples.numel()
        rows = start + torch.searchsorted(self.samples, todo)
        fraction = None if self.fraction is None else self.fraction[start : start + self.samples.numel()]
        return self.x_adv[rows], self.logits[rows], fraction


def _seeded(model: ModelAdapter, passes: int | None, seed: int) -> AbstractContextManager[object]:
    """For a random model, the global random state seeded for one attack run (so resumed runs agree)."""
    if not passes:
        return nullcontext()
    return _fork_seeded(model.device, seed)


@contextmanager
def _fork_seeded(device: torch.device, seed: int) -> Iterator[None]:
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def _memory_format(ndim: int) -> torch.memory_format:
    """channels-last for 4D (images) and 5D (volumes) tensors."""
    return torch.channels_last if ndim == 4 else torch.channels_last_3d


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


def _seed(seed: int, index: np.ndarray, attack_i: int, budget_i: int, stream: int = 0) -> int:
    """A seed per batch, attack and budget (and stream: 0 the attack, 1 a random model's passes),
    so resumed runs reproduce the same numbers."""
    first = int(index[0]) if len(index) else 0
    return (seed * 1_000_003 + first * 7919 + attack_i * 131 + budget_i + stream * 104_729) % (2**31 - 1)


def _elapsed(t0: float, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0
