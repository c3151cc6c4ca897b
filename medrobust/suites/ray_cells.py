"""A suite's cells as Ray tasks: each with the suite's resources, retried by Ray when its worker dies.

A task runs :func:`~medrobust.suites.cell_run.cell_task` on whichever node has the resources
and writes the cell's results folder there, so the suite's output folder must be one every
node can write (a shared filesystem; on one machine, any folder). A retried task resumes
the cell from the batches its dead attempt finished. Ray schedules the cells, as many at
once as the cluster's resources allow; this module only submits, waits and reports.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm

from medrobust.engine.ray_runtime import RayOptions, Resources, ray_session, unwrap
from medrobust.suites.cell_run import CellJob, CellOutcome, cell_task

log = logging.getLogger(__name__)


def run_on_ray(
    jobs: Sequence[CellJob],
    options: RayOptions,
    finished: Callable[[CellJob, CellOutcome], None],
    *,
    fresh: bool = False,
    allow_code: bool = False,
    progress: bool = False,
) -> None:
    """Submit every job as a Ray task and call ``finished`` as each ends (in the order they end).

    A task that fails beyond its retries (its worker died ``max_retries + 1`` times) is an
    ``error`` outcome. Ctrl-C cancels the tasks still queued or running and re-raises; the
    cells' finished batches stay in their folders for the next run.
    """
    if not jobs:
        return
    with ray_session(options.address) as ray:
        task = ray.remote(cell_task)
        started = time.perf_counter()
        futures: dict[Any, CellJob] = {}
        for job in jobs:
            ref = task.options(
                num_cpus=job.resources.num_cpus,
                num_gpus=job.resources.num_gpus,
                max_retries=options.max_retries,
                retry_exceptions=False,  # a bad input fails the same way again: only dead workers retry
            ).remote(job.cfg, job.cell_id, job.digest, fresh, allow_code)
            futures[ref] = job
        slots = _slots(ray.cluster_resources(), [j.resources for j in jobs])
        log.info("Ray: %d cells submitted (about %d at once on this cluster)", len(jobs), slots)
        bar = tqdm(total=len(jobs), desc="cells", unit="cell", disable=None if progress else True, dynamic_ncols=True)
        failed = 0
        remaining = list(futures)
        try:
            while remaining:
                ready, remaining = ray.wait(remaining, num_returns=1)
                for ref in ready:
                    job = futures[ref]
                    outcome = _outcome(ray, ref, started)
                    failed += outcome.status == "error"
                    finished(job, outcome)
                    bar.update(1)
                running = min(len(remaining), slots)
                bar.set_postfix_str(f"done {bar.n - failed}, running {running}, failed {failed}", refresh=True)
        except KeyboardInterrupt:
            for ref in remaining:
                ray.cancel(ref, force=True)
            raise
        finally:
            bar.close()


def _outcome(ray: Any, ref: Any, started: float) -> CellOutcome:
    """A finished task's outcome; a task Ray gave up on (or one that raised) as an ``error``."""
    try:
        outcome: CellOutcome = ray.get(ref)
        return outcome
    except ray.exceptions.RayError as exc:
        cause = unwrap(exc)
        message = str(cause) if cause is not exc else f"the cell's Ray task failed: {type(exc).__name__}: {exc}"
        return CellOutcome("error", message.splitlines()[0], time.perf_counter() - started)


def _slots(cluster: dict[str, float], wants: Sequence[Resources]) -> int:
    """Cells that fit on the cluster at once (by the most demanding cell's CPUs and GPUs), at least 1."""
    cpus = max(r.num_cpus for r in wants)
    gpus = max(r.num_gpus for r in wants)
    fit = math.floor(cluster.get("CPU", 1) / cpus)
    if gpus > 0:
        fit = min(fit, math.floor(cluster.get("GPU", 0) / gpus))
    return max(1, fit)
