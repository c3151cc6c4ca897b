"""A model that kills the process computing it once, for the Ray fault tests (imported by Ray workers)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn


class DiesOnce(nn.Module):
    """``inner``, except that the ``after``-th forward pass in a process other than ``driver`` ends that process.

    Only once over all processes: the first to get there creates ``marker`` (atomically) and exits.
    """

    def __init__(self, inner: nn.Module, marker: Path, driver: int, after: int = 20) -> None:
        super().__init__()
        self.inner, self.marker, self.driver, self.after = inner, str(marker), driver, after
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        if os.getpid() != self.driver and self.calls >= self.after:
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                os._exit(1)  # a worker dying mid-batch, as a killed node would
        out: Tensor = self.inner(x)
        return out


def dies_once_cnn(weights_file: str, marker: str, driver: int, after: int = 20, width: int = 16) -> nn.Module:
    """A python-kind model factory: the SmallCNN in ``weights_file`` (read with weights_only), dying once as above."""
    from medrobust.models.small_cnn import SmallCNN

    inner = SmallCNN(1, 2, width=width)
    inner.load_state_dict(torch.load(weights_file, weights_only=True))
    return DiesOnce(inner, Path(marker), driver, after)
