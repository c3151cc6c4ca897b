"""Minimal, seeded training loop for the demo and tests (not a training framework)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm  # plain bars: no ipywidgets warning in notebooks

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
    threads: int | None = None,
    progress: bool = False,
) -> nn.Module:
    """Train ``model`` with Adam on ``data`` using the head's loss; returns it in eval mode.

    ``threads`` fixes torch's thread count while training (the weight gradients' reductions,
    and so the trained weights, depend on it); ``progress`` draws a bar on a terminal.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, collate_fn=collate, generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    bar = tqdm(total=epochs * len(loader), disable=None if progress else True, desc="training", unit="batch")
    with torch_threads(threads), bar:
        for epoch in range(epochs):
            total = 0.0
            for x, y, _ in loader:
                opt.zero_grad()
                loss = head.loss(model(x), y).mean()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(x)
                bar.update(1)
            bar.set_postfix_str(f"epoch {epoch + 1}/{epochs} loss {total / len(data):.4f}", refresh=False)
            log.info("epoch %d: loss %.4f", epoch + 1, total / len(data))
    return model.eval()


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Torch's intra-op thread count set to ``count`` while the block runs (``None``: unchanged), then restored."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
