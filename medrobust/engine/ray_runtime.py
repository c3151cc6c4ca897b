"""Ray, only when asked: its options, its import with an error naming the extra, one session per call.

The serial path never imports this module's ``ray``: ``--ray`` (``executor="ray"``) is the
only way in, and without the ``[ray]`` extra it is a :class:`ConfigError` naming it. A run
joins a Ray instance that is already up (``ray.init`` in a notebook, or ``--ray-address`` /
``RAY_ADDRESS`` for a cluster); otherwise it starts a local one on this machine and stops it
when done.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from medrobust.errors import ConfigError, MedrobustError

log = logging.getLogger(__name__)

EXTRA = "pip install 'medrobust[ray]' (in a clone: pip install -e '.[ray]')"
"""How to get Ray; every error about a missing Ray says it."""


class Resources(BaseModel):
    """What one Ray task or worker reserves: CPUs and GPUs (fractions allowed, as in Ray)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    num_cpus: float = Field(default=1, gt=0)
    num_gpus: float = Field(default=0, ge=0)


MAX_RETRIES = 3
"""How often Ray restarts a dead worker or reruns a dead cell's task, unless told otherwise."""


class RayOptions(BaseModel):
    """How a run or a suite uses Ray: where, how many shards, what each reserves, how often to retry.

    ``address`` ``None`` joins a running instance (``RAY_ADDRESS``, or ``ray.init`` done before)
    or starts a local one; ``shards`` is the number of workers a sharded run spreads its batches
    over (a suite ignores it: it runs as many cells at once as the resources allow);
    ``max_retries`` is how often Ray restarts a dead worker (or reruns a dead cell's task).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    address: str | None = None
    shards: int = Field(default=2, ge=1)
    resources: Resources = Resources()
    max_retries: int = Field(default=MAX_RETRIES, ge=0)


def import_ray() -> ModuleType:
    """The ``ray`` module, or a :class:`ConfigError` that names the extra to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--ray (executor='ray') needs Ray, which is not installed: {EXTRA}") from None
    return ray


@contextmanager
def ray_session(address: str | None = None) -> Iterator[ModuleType]:
    """Ray connected for the block: an instance already up is joined and left running; one started here stops."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = address or "a local instance"
            raise ConfigError(f"cannot start or reach Ray at {where}: {exc}") from None
        started = True
        log.info("Ray: %s", "connected to " + address if address else "local instance started")
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def unwrap(exc: BaseException) -> BaseException:
    """The medrobust error a Ray task raised (its bad input, named), else ``exc`` itself."""
    cause: Any = getattr(exc, "cause", None)
    return cause if isinstance(cause, MedrobustError) else exc
