"""A random model judged by its expectation: fresh passes per example, their mean prediction, each pass's verdict.

A model whose outputs change between identical passes (active dropout, input noise, a
stochastic defence) has no single prediction: one draw is luck. When the trust probe finds
such a model, the sweep evaluates every clean and final adversarial example over ``passes``
fresh forward passes: the mean of their probabilities is the model's prediction (so
accuracy, AUROC, sensitivity and specificity are those of its expectation), and each pass's
own verdict is kept as one bit, from which the summary reports the mean and the worst of
the passes' accuracies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from medrobust.heads import Head
from medrobust.models.adapter import ModelAdapter

MAX_PASSES = 62
"""Passes fit one int64 bit mask per row."""


@dataclass
class Expected:
    """``logits`` of the mean prediction (N, K); ``rate`` (N,) the share of passes that were correct;
    ``bits`` (N,) int64 with bit j set when pass j was correct."""

    logits: Tensor
    rate: Tensor
    bits: Tensor

    def columns(self) -> dict[str, Tensor]:
        """The row columns this evaluation adds: ``pass_rate`` and ``passes`` (the bit mask)."""
        return {"pass_rate": self.rate, "passes": self.bits}

    def where(self, keep: Tensor, other: Expected) -> Expected:
        """Per sample, this evaluation where ``keep`` is true, else ``other`` (no host sync)."""
        k = keep.reshape(-1)
        return Expected(
            torch.where(k[:, None], self.logits, other.logits),
            torch.where(k, self.rate, other.rate),
            torch.where(k, self.bits, other.bits),
        )

    def take(self, rows: Tensor) -> Expected:
        """The evaluation of the samples at ``rows``."""
        return Expected(self.logits[rows], self.rate[rows], self.bits[rows])

    def put(self, rows: Tensor, part: Expected) -> None:
        """Write ``part`` into the samples at ``rows`` (in place)."""
        self.logits[rows] = part.logits.to(self.logits.dtype)
        self.rate[rows] = part.rate
        self.bits[rows] = part.bits

    def clone(self) -> Expected:
        """An independent copy."""
        return Expected(self.logits.clone(), self.rate.clone(), self.bits.clone())


def expected(model: ModelAdapter, x: Tensor, y: Tensor, passes: int, seed: int) -> Expected:
    """Evaluate ``x`` over ``passes`` fresh passes of ``model`` (its random state seeded by ``seed``)."""
    if not 1 <= passes <= MAX_PASSES:
        raise ValueError(f"passes must lie in 1..{MAX_PASSES}, got {passes}")
    head = model.head
    devices = [model.device] if model.device.type == "cuda" else []
    probs: Tensor | None = None
    bits = torch.zeros(x.shape[0], dtype=torch.int64, device=model.device)
    with torch.random.fork_rng(devices=devices):  # the caller's random state is left as it was
        torch.manual_seed(seed)
        for j in range(passes):
            logits = model.logits(x)
            p = head.scores(logits)
            probs = p if probs is None else probs + p
            bits |= head.correct(logits, y).to(torch.int64) << j
    assert probs is not None
    mean = _logits(head, probs / passes)
    rate = _popcount(bits, passes).to(torch.float32) / passes
    return Expected(mean, rate, bits)


def pass_accuracies(bits: Tensor | list[int], passes: int) -> Tensor:
    """Accuracy of each pass (``passes``,) over the samples whose bit masks are ``bits``."""
    b = torch.as_tensor(bits, dtype=torch.int64).reshape(-1, 1)
    shifts = torch.arange(passes, dtype=torch.int64)
    if b.numel() == 0:
        return torch.full((passes,), float("nan"))
    return ((b >> shifts) & 1).to(torch.float64).mean(dim=0)


def _logits(head: Head, probs: Tensor) -> Tensor:
    """Logits whose head reading gives ``probs`` back: log-odds for sigmoid heads, log for softmax."""
    p = probs.clamp(1e-7, 1 - 1e-7) if head.sigmoid else probs.clamp_min(1e-12)
    return torch.log(p / (1 - p)) if head.sigmoid else torch.log(p)


def _popcount(bits: Tensor, width: int) -> Tensor:
    """Set bits among the low ``width`` bits of each entry of an int64 tensor (no host sync)."""
    count = torch.zeros_like(bits)
    b = bits.clone()
    for _ in range(width):
        count += b & 1
        b = b >> 1
    return count
