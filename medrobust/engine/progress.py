"""Progress that moves: one bar per run, a unit per batch, attack and budget, the current one named.

The bar is drawn only on a terminal (tqdm's ``disable=None``: stderr that is not a TTY gets
no bar, so CI logs hold no carriage returns); there, each finished batch is one ``INFO`` log
line with the time left instead (shown with ``-v``). ``enabled=False`` (``--quiet``) is silent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm  # plain bars: no ipywidgets warning in notebooks

log = logging.getLogger(__name__)


class SweepProgress:
    """The sweep's bar over ``batches x steps`` units (``steps``: attacks x budgets), resumed at ``done`` batches."""

    def __init__(self, batches: int, done: int, steps: int, enabled: bool = True, desc: str = "sweep") -> None:
        self.batches, self.done, self.steps = batches, done, max(1, steps)
        self.bar = tqdm(
            total=batches * self.steps,
            initial=done * self.steps,
            disable=None if enabled else True,
            desc=desc,
            unit="step",
            dynamic_ncols=True,
        )
        self.log_lines = enabled and bool(self.bar.disable)  # no terminal: a log line per batch
        self._started = time.perf_counter()
        self._finished = 0  # batches finished in this session (the time left is from these)

    def step(self, attack: str, budget: str) -> None:
        """One attack at one budget finished on the current batch: advance and name it."""
        self.bar.set_postfix_str(f"batch {self.done + 1}/{self.batches} {attack}@{budget}", refresh=False)
        self.bar.update(1)

    def batch_done(self) -> None:
        """A batch finished: the bar at its end, or one log line with the time left."""
        self.done += 1
        self._finished += 1
        self.bar.update(self.done * self.steps - self.bar.n)
        if self.log_lines:
            elapsed = time.perf_counter() - self._started
            left = elapsed / self._finished * (self.batches - self.done)
            log.info("batch %d of %d done (%.1f s so far, about %.0f s left)", self.done, self.batches, elapsed, left)

    def close(self) -> None:
        """Leave the finished bar on screen (a disabled one writes nothing)."""
        self.bar.close()


@contextmanager
def sweep_progress(batches: int, done: int, steps: int, enabled: bool = True) -> Iterator[SweepProgress]:
    """A :class:`SweepProgress` closed when the block ends (also on an error or Ctrl-C)."""
    bar = SweepProgress(batches, done, steps, enabled)
    try:
        yield bar
    finally:
        bar.close()
