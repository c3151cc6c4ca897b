"""One sweep's batches spread over Ray workers; the driver keeps the parts, the state and the summary.

The run's :class:`~medrobust.engine.work.BatchWork` (model, data, attacks) goes into Ray's
object store once; each of the ``shards`` workers deserialises it once when it starts and then
computes whole batches, reading their samples itself. Every batch has its own seeds, so the
rows do not depend on which worker computed them, and the driver merges them in batch order:
the summary equals the single-process one. Rows come back through the object store (a few
hundred bytes per sample) and the driver writes each part and the resume state as they
arrive, so workers need no shared filesystem, and a killed run resumes from its finished
batches. A worker that dies is restarted by Ray (``max_restarts``) and its batch retried
(``max_task_retries``); the manifest's ``executor`` records which shards were restarted.
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from medrobust.engine.ray_runtime import RayOptions, ray_session, unwrap
from medrobust.engine.sweep import BatchRows
from medrobust.engine.work import BatchWork

log = logging.getLogger(__name__)


@dataclass
class ShardResult:
    """One batch a worker computed: its rows, and whether Ray had restarted that worker."""

    batch: int
    rows: BatchRows
    shard: int
    restarted: bool
    pid: int


class ShardWorker:
    """A Ray actor: the run's work, deserialised once, on this worker's GPU if it has one."""

    def __init__(self, work: list[Any], shard: int) -> None:
        import ray

        context = ray.get_runtime_context()
        torch.set_num_threads(max(1, int(context.get_assigned_resources().get("CPU", 1))))
        self.work: BatchWork = ray.get(work[0]).moved_to("cuda" if torch.cuda.is_available() else "cpu")
        self.shard = shard
        with warnings.catch_warnings():  # Ray's own property calls a deprecated one of its own
            warnings.simplefilter("ignore", DeprecationWarning)
            self.restarted = bool(context.was_current_actor_reconstructed)

    def compute(self, b: int) -> ShardResult:
        """Batch ``b``'s rows."""
        return ShardResult(b, self.work.compute(b), self.shard, self.restarted, os.getpid())


def execute_sharded(
    work: BatchWork,
    todo: Sequence[int],
    options: RayOptions,
    finished: Callable[[int, BatchRows], None],
) -> dict[str, Any]:
    """Compute the ``todo`` batches on ``options.shards`` Ray workers, calling ``finished`` as each arrives.

    Returns the manifest's ``executor`` record. Ctrl-C (or any error) stops the workers; the
    batches already handed to ``finished`` are kept (their parts are written), so the run resumes.
    """
    record: dict[str, Any] = {
        "kind": "ray",
        "shards": options.shards,
        "resources": options.resources.model_dump(),
        "max_retries": options.max_retries,
        "restarted_shards": [],
    }
    if not todo:
        return record
    with ray_session(options.address) as ray:
        from ray.util import ActorPool

        actor = ray.remote(
            max_restarts=options.max_retries,
            max_task_retries=options.max_retries,
            num_cpus=options.resources.num_cpus,
            num_gpus=options.resources.num_gpus,
        )(ShardWorker)
        ref = ray.put(_portable(work))  # once: every worker reads it from the object store
        shards = min(options.shards, len(todo))
        workers = [actor.remote([ref], i) for i in range(shards)]  # in a list: each worker fetches it itself
        log.info("Ray: %d batches over %d workers", len(todo), shards)
        restarted: set[int] = set()
        try:
            for result in ActorPool(workers).map_unordered(lambda w, b: w.compute.remote(b), list(todo)):
                if result.restarted and result.shard not in restarted:
                    restarted.add(result.shard)
                    log.warning("Ray restarted shard %d (its worker died); its batch was retried", result.shard)
                finished(result.batch, result.rows)
        except ray.exceptions.RayTaskError as exc:
            raise unwrap(exc) from None
        finally:  # also on Ctrl-C: no worker keeps computing for a driver that stopped
            for w in workers:
                ray.kill(w)
        record["restarted_shards"] = sorted(restarted)
    return record


def _portable(work: BatchWork) -> BatchWork:
    """The work as the object store holds it: a model on a GPU goes as a CPU copy (a worker may have none)."""
    if work.adapter.device.type == "cpu":
        return work
    return replace(work, adapter=copy.deepcopy(work.adapter)).moved_to("cpu")
