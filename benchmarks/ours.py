"""medrobust in the benchmark: the product's sweep, and ablations that switch one speed feature off.

``medrobust`` is what a user runs: :func:`medrobust.evaluate` (clean pass, monotone sweep,
rows, summary; ``bootstrap=0, verify=False``). The ablations reuse the same attack kernels:
``independent`` attacks every sample at every budget like the peers do (no monotone sweep),
``no-early-stop`` keeps attacking samples that already broke, ``unfrozen`` leaves weight
gradients on, ``parallel`` rides all budgets in one batch, ``bf16``/``channels-last`` and
``compile`` are the GPU options.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

import medrobust
from medrobust.attacks.base import Attack
from medrobust.attacks.budgets import parse_budgets
from medrobust.attacks.fgsm import FGSM
from medrobust.attacks.pgd import PGD
from medrobust.datasets.base import ArrayDataset, DataInfo
from medrobust.heads import Head, HeadKind
from medrobust.models.adapter import ModelAdapter


@dataclass(frozen=True)
class Variant:
    """One way of running medrobust; the default is the product as shipped."""

    name: str = "medrobust"
    schedule: str = "ascending"  # ascending | parallel | independent
    early_stop: bool = True
    freeze: bool = True
    precision: str = "fp32"  # fp32 | bf16
    channels_last: bool = False
    compile: bool = False

    def options(self) -> dict[str, Any]:
        """The ``evaluate`` keywords that differ from the defaults."""
        out: dict[str, Any] = {}
        if self.schedule == "parallel":
            out["schedule"] = "parallel"
        if self.precision != "fp32":
            out["precision"] = self.precision
        if self.channels_last:
            out["channels_last"] = True
        return out


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(),
        Variant("medrobust:no-early-stop", early_stop=False),
        Variant("medrobust:independent", schedule="independent"),
        Variant("medrobust:independent+no-early-stop", schedule="independent", early_stop=False),
        Variant("medrobust:independent+no-early-stop+unfrozen", schedule="independent", early_stop=False, freeze=False),
        Variant("medrobust:parallel", schedule="parallel"),
        Variant("medrobust:bf16", precision="bf16"),
        Variant("medrobust:channels-last", channels_last=True),
        Variant("medrobust:compile", compile=True),
    )
}


@dataclass
class SweepTiming:
    """Robust accuracy and seconds per budget label, and the sweep's total seconds."""

    accuracy: dict[str, float]
    seconds: dict[str, float | None]
    total: float
    extra: dict[str, Any]


def build_attack(kind: str, steps: int, rel_stepsize: float, early_stop: bool = True) -> Attack:
    """medrobust's PGD (random start) or FGSM with the benchmark's settings."""
    if kind == "pgd":
        return PGD(steps=steps, rel_stepsize=rel_stepsize, random_start=True, early_stop=early_stop)
    return FGSM()


def dataset(x: Tensor, y: Tensor, name: str) -> ArrayDataset:
    """The benchmark's tensors as a medrobust dataset (binary task, bounds [0, 1])."""
    info = DataInfo(name=name, task=HeadKind.BINARY, label_names=("0", "1"), spatial_dims=x.ndim - 2)
    return ArrayDataset(x, y.numpy(), info)


def prepare(variant: Variant, model: ModelAdapter) -> ModelAdapter:
    """The model a variant attacks: the same adapter, or one around a compiled network.

    (``channels_last`` needs no copy: the sweep hands the network back in its own layout.)
    """
    if not variant.compile:
        return model
    # The trust probes take two gradients from one graph (retain_graph=True), which a compiled
    # backward with donated buffers refuses; see the README's benchmarks section.
    import torch._functorch.config as functorch_config

    functorch_config.donated_buffer = False
    compiled = torch.compile(model.model, dynamic=True)
    return ModelAdapter(
        compiled,  # type: ignore[arg-type]
        model.head,
        bounds=model.bounds,
        input_shape=model.input_shape,
        device=model.device,
        name=f"{model.name}-compiled",
        channels=model.preprocess.channels,
        mean=None if model.preprocess.mean is None else model.preprocess.mean.tolist(),
        std=None if model.preprocess.std is None else model.preprocess.std.tolist(),
    )


def run(
    variant: Variant,
    model: ModelAdapter,
    data: ArrayDataset,
    kind: str,
    budgets: Sequence[str],
    batch_size: int,
    steps: int,
    rel_stepsize: float,
    seed: int = 0,
) -> SweepTiming:
    """One timed sweep of ``kind`` over ``budgets`` with ``variant``."""
    attack = build_attack(kind, steps, rel_stepsize, variant.early_stop)
    if variant.schedule == "independent":
        return _independent(variant, model, data, attack, budgets, batch_size, seed)
    _sync(model.device)
    t0 = time.perf_counter()
    res = medrobust.evaluate(
        model,
        data,
        attacks=[attack],
        eps=list(budgets),
        batch_size=batch_size,
        bootstrap=0,
        verify=False,
        seed=seed,
        **variant.options(),
    )
    _sync(model.device)
    total = time.perf_counter() - t0
    rows = res.rows
    acc = {b.label: float(rows.loc[rows["eps_label"] == b.label, "correct"].mean()) for b in parse_budgets(budgets)}
    per_budget = res.manifest.get("seconds_per_budget", {})
    seconds = {b: per_budget.get(f"{attack.label}@{b}") for b in acc}
    return SweepTiming(acc, seconds, total, {"stages": res.manifest["seconds"]})


def _independent(
    variant: Variant,
    model: ModelAdapter,
    data: ArrayDataset,
    attack: Attack,
    budgets: Sequence[str],
    batch_size: int,
    seed: int,
) -> SweepTiming:
    """medrobust's kernel used the peers' way: every sample, every budget, no sweep."""
    target: Any = model if variant.freeze else _Unfrozen(model)
    x_all, y_all = data.images, torch.as_tensor(data.label_array)
    acc: dict[str, float] = {}
    seconds: dict[str, float | None] = {}
    total = 0.0
    for b in parse_budgets(budgets):
        _sync(model.device)
        t0 = time.perf_counter()
        correct = []
        for i in range(0, len(y_all), batch_size):
            x = x_all[i : i + batch_size].to(model.device)
            y = y_all[i : i + batch_size].to(model.device)
            out = attack.run(target, x, y, b.value, seed=seed + i)
            correct.append(model.head.correct(out.logits, y).cpu())
        _sync(model.device)
        seconds[b.label] = time.perf_counter() - t0
        total += seconds[b.label] or 0.0
        acc[b.label] = float(torch.cat(correct).float().mean())
    return SweepTiming(acc, seconds, total, {})


class _Unfrozen:
    """The adapter with ``evaluating(freeze=...)`` ignored: weight gradients stay on."""

    def __init__(self, model: ModelAdapter) -> None:
        self._model = model
        self.head: Head = model.head
        self.bounds = model.bounds
        self.device = model.device

    def __call__(self, x: Tensor) -> Tensor:
        out: Tensor = self._model(x)
        return out

    @contextmanager
    def evaluating(self, freeze: bool = False) -> Iterator[None]:
        with self._model.evaluating(freeze=False):
            yield


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
