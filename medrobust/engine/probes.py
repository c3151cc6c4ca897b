"""Model probes before the sweep: do two identical passes agree, do input gradients vanish?

Run once on a small batch outside the attack loop; the results go into ``summary["trust"]``
where the checks of :mod:`medrobust.engine.trust` read them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from medrobust.attacks.adaptive import input_grad
from medrobust.models.adapter import ModelAdapter

VANISHING_GRADIENT = 1e-30
"""A sample's input gradient vanishes when its largest entry is below this (float32 noise)."""
RANDOM_RTOL = 1e-4
"""Two identical passes differ when their logits differ by more than this (relative to their scale)."""
PROBE_SIZE = 32
"""Samples in the probe batch."""


def probe_determinism(model: ModelAdapter, x: Tensor) -> dict[str, Any]:
    """Two identical clean passes: do the logits agree (within a tiny relative tolerance)?"""
    a = model.logits(x)
    b = model.logits(x)
    diff = float((a - b).abs().max()) if a.numel() else 0.0
    scale = max(1.0, float(a.abs().max())) if a.numel() else 1.0
    return {"probed": int(x.shape[0]), "deterministic": diff <= RANDOM_RTOL * scale, "max_abs_diff": diff}


def probe_gradients(model: ModelAdapter, x: Tensor, y: Tensor) -> dict[str, Any]:
    """Share of samples whose input gradient of the head's loss (and of its margin) vanishes.

    Two forward and two backward passes on ``x``, outside any attack loop (one graph per
    gradient, so compiled models, which free their buffers after one backward, work too).
    """
    head = model.head
    x = x.detach().to(model.device).float()
    y = y.to(model.device)

    def grad_of(objective: Callable[[Tensor], Tensor]) -> Tensor:
        xg = x.clone().requires_grad_(True)
        return input_grad(objective(model(xg)).sum(), xg)

    with model.evaluating(freeze=True), torch.enable_grad():
        g_loss = grad_of(lambda logits: head.loss(logits, y))
        g_margin = grad_of(lambda logits: head.margin(logits.float(), y))
    loss_max = g_loss.detach().abs().reshape(len(x), -1).amax(dim=1)
    margin_max = g_margin.detach().abs().reshape(len(x), -1).amax(dim=1)
    n = max(len(x), 1)
    return {
        "probed": len(x),
        "zero_share": float((loss_max == 0).sum()) / n,
        "vanishing_share": float((loss_max < VANISHING_GRADIENT).sum()) / n,
        "margin_vanishing_share": float((margin_max < VANISHING_GRADIENT).sum()) / n,
        "median_max_abs": float(loss_max.median()) if len(x) else math.nan,
    }


def probe_model(model: ModelAdapter, x: Tensor, y: Tensor, verify: bool = True, seed: int = 0) -> dict[str, Any]:
    """Probe a small batch once before the sweep: randomness, then (if deterministic)
    ``verify``, then input gradients. Returns ``{"determinism": ..., "gradients": ...}``.

    A random model gets a trust warning instead of :meth:`ModelAdapter.verify`'s error:
    its clean predictions cannot be compared with a reference pass. The global random state
    is seeded with ``seed`` for the probe (and restored after), so a random model's probe
    reads the same in every run.
    """
    x = x[:PROBE_SIZE]
    y = y[:PROBE_SIZE]
    with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
        torch.manual_seed(seed)
        determinism = probe_determinism(model, x)
        if verify and determinism["deterministic"]:
            model.verify(x[:16], require_deterministic=False)
        return {"determinism": determinism, "gradients": probe_gradients(model, x, y)}
