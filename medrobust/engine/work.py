"""One batch of a planned run, as a unit of work: read its samples, check them, sweep them.

:class:`BatchWork` holds everything a batch needs and nothing of the driver's (no folder, no
state, no progress bar), so the same object computes batches in this process and, pickled
once into Ray's object store, in the workers of a sharded run (:mod:`medrobust.engine.shards`).
Every batch carries its own seeds, so which process computes it does not change its rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from medrobust.attacks.base import Attack
from medrobust.attacks.budgets import Budget
from medrobust.datasets.base import MedicalDataset, collate
from medrobust.engine.plan import Plan, check_batch
from medrobust.engine.spec import RunSpec
from medrobust.engine.sweep import BatchRows, FileSpaceRun, sweep_batch
from medrobust.models.adapter import ModelAdapter
from medrobust.results.gallery import GALLERY_SIZE

if TYPE_CHECKING:
    from medrobust.engine.adversarial_out import AdversarialWriter


@dataclass
class BatchWork:
    """The run's model, data, attacks, budgets and batches: :meth:`compute` does any one batch.

    ``passes``: the model's outputs are random; judge every example by that many fresh passes.
    """

    adapter: ModelAdapter
    data: MedicalDataset
    attacks: Sequence[Attack]
    budgets: Sequence[Budget]
    batches: Sequence[Sequence[int]]
    spec: RunSpec
    passes: int | None = None

    @classmethod
    def of(cls, run: Plan, passes: int | None) -> BatchWork:
        """The work of a planned run."""
        return cls(run.adapter, run.data, run.attacks, run.budgets, run.batches, run.spec, passes)

    def load(self, b: int) -> tuple[Tensor, Tensor, Mapping[str, Sequence[str]]]:
        """Batch ``b``'s images, labels and metadata, read from the data here."""
        x, y, meta = collate([self.data[i] for i in self.batches[b]])
        return x, y, meta

    def sweep(
        self,
        b: int,
        x: Tensor,
        y: Tensor,
        meta: Mapping[str, Sequence[str]],
        *,
        on_step: Callable[[str, str], None] | None = None,
        writer: AdversarialWriter | None = None,
    ) -> BatchRows:
        """Check batch ``b``'s samples and sweep every attack over every budget on them.

        The first batch keeps the report gallery's examples; ``writer`` receives file-space data's storable ones.
        """
        index = np.asarray(self.batches[b])
        check_batch(self.data, index, x, y, self.adapter.head)
        ids = [self.data.sample_id(int(i)) for i in index]
        return sweep_batch(
            self.adapter,
            x,
            y,
            meta,
            index,
            ids,
            self.attacks,
            self.budgets,
            self.spec.seed,
            keep=GALLERY_SIZE if b == 0 else 0,
            options=self.spec,
            passes=self.passes,
            on_step=on_step,
            file_space=self.file_space(index, writer),
        )

    def compute(self, b: int) -> BatchRows:
        """Read and sweep batch ``b``; its reading time is in ``seconds["data"]``."""
        t0 = time.perf_counter()
        x, y, meta = self.load(b)
        loaded = time.perf_counter() - t0
        out = self.sweep(b, x, y, meta)
        out.seconds["data"] = out.seconds.get("data", 0.0) + loaded
        return out

    def file_space(self, index: np.ndarray, writer: AdversarialWriter | None = None) -> FileSpaceRun | None:
        """A file-space batch's grid, region and writer; ``None`` for model-space data."""
        info = self.data.info
        if info.grid is None:
            return None
        return FileSpaceRun(info.grid, info.region, None if writer is None else partial(writer.write_at, index))

    def moved_to(self, device: torch.device | str) -> BatchWork:
        """This work with the model on ``device`` (a worker's own GPU, or the CPU where it has none)."""
        target = torch.device(device)
        if self.adapter.device != target:
            self.adapter.to(target)
            self.adapter.device = target
        return self
