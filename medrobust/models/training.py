"""Minimal, seeded training loop for the demo and tests (not a training framework)."""

from __future__ import annotations

import logging

import torch
from torch import nn
from torch.utils.data import DataLoader

from medrobust.datasets.base import MedicalDataset, collate
from medrobust.heads import Head

log = logging.getLogger(__name__)


def train_classifier(
    model: nn.Module,
    data: MedicalDataset,
    head: Head,
    *,
    epochs: int = 10,
    lr: float = 2e-3,
    batch_size: int = 32,
    seed: int = 0,
) -> nn.Module:
    """Train ``model`` with Adam on ``data`` using the head's loss; returns it in eval mode."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, collate_fn=collate, generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for epoch in range(epochs):
        total = 0.0
        for x, y, _ in loader:
            opt.zero_grad()
            loss = head.loss(model(x), y).mean()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(x)
        log.info("epoch %d: loss %.4f", epoch + 1, total / len(data))
    return model.eval()
