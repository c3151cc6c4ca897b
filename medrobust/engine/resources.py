"""What this machine lends a run: CPU threads (physical cores, cgroup quota, affinity) and memory for a batch.

One place decides both, from inputs a test can fake (the environment, the cgroup and sysfs
roots, ``/proc/meminfo``), and logs the choice on :data:`SETTINGS_LOGGER`, which the CLI shows
at its default verbosity. Torch is imported only where a setting is applied.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import math
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SETTINGS_LOGGER = "medrobust.settings"
"""The logger of a run's resolved settings (threads, batch size); the CLI shows it without ``-v``."""
settings_log = logging.getLogger(SETTINGS_LOGGER)
log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_ROOT = Path("/sys/devices/system/cpu")
PROC_CGROUP = Path("/proc/self/cgroup")
MEMINFO = Path("/proc/meminfo")

MAX_BATCH = 256
"""The largest automatic batch (the fixed default before batches were sized)."""
CPU_VOXELS_PER_BATCH = 2**22
"""Spatial voxels per batch on a CPU: 28x28 gets 256, 224x224 gets 64, 64^3 gets 16."""
BYTES_PER_VOXEL = 2048
"""Memory one input voxel costs an attack (activations and their gradients of a ResNet-sized net)."""
MEMORY_SHARE = 0.5
"""The share of the available memory one batch may use (the rest: the model, the rows, other programs)."""


@dataclass(frozen=True)
class Threads:
    """A torch thread count and why it was chosen (for the log and the manifest)."""

    count: int
    why: str


def default_threads(
    env: Mapping[str, str] | None = None,
    cpus: set[int] | None = None,
    cgroup_root: Path = CGROUP_ROOT,
    cpu_root: Path = CPU_ROOT,
    proc_cgroup: Path = PROC_CGROUP,
) -> Threads:
    """``OMP_NUM_THREADS`` when set, else one thread per physical core this process may use and its cgroup allows.

    Two hyper-threads of one core share its vector units, so a second thread per core adds
    synchronisation, not speed; a CPU quota below the core count would throttle every thread.
    """
    env = os.environ if env is None else env
    given = env.get("OMP_NUM_THREADS", "").strip()
    if given:
        if given.isdigit() and int(given) > 0:
            return Threads(int(given), f"OMP_NUM_THREADS={given}")
        log.warning("OMP_NUM_THREADS=%r is not a positive integer: ignored", given)
    if cpus is None:
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    cores = physical_cores(cpus, cpu_root)
    quota = cgroup_cpus(cgroup_root, proc_cgroup)
    count = max(1, cores if quota is None else min(cores, math.floor(quota)))
    why = f"{cores} physical core(s) of {len(cpus)} usable CPU(s)"
    return Threads(count, why if quota is None else f"{why}, cgroup quota {quota:g} CPU(s)")


def physical_cores(cpus: set[int], cpu_root: Path = CPU_ROOT) -> int:
    """How many physical cores ``cpus`` span (sysfs topology); the CPU count where the topology is unreadable."""
    cores = set()
    for cpu in cpus:
        topology = cpu_root / f"cpu{cpu}" / "topology"
        try:
            cores.add(
                ((topology / "physical_package_id").read_text().strip(), (topology / "core_id").read_text().strip())
            )
        except OSError:
            return max(1, len(cpus))
    return max(1, len(cores))


def cgroup_cpus(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The CPUs the cgroup quota allows (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), ``None`` when unlimited."""
    limits = []
    for folder in _cgroup_folders(cgroup_root, proc_cgroup, ("cpu", "cpu,cpuacct", "cpuacct,cpu")):
        quota, period = _read_words(folder / "cpu.max", 2) or _read_v1_quota(folder)
        if quota.isdigit() and period.isdigit() and int(period) > 0:
            limits.append(int(quota) / int(period))
    return min(limits) if limits else None


def apply_threads(requested: int | None = None, env: Mapping[str, str] | None = None) -> Threads:
    """Set torch's thread count (``requested``, else :func:`default_threads`) and log it once."""
    import torch

    chosen = Threads(requested, "--threads") if requested else default_threads(env)
    torch.set_num_threads(chosen.count)
    settings_log.info("torch threads: %d (%s)", chosen.count, chosen.why)
    return chosen


def passive_openmp_waits(env: MutableMapping[str, str] | None = None) -> None:
    """Let idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``) unless it is set.

    On a loaded machine a spinning thread steals the core its partner needs: the demo's
    sweep took 52 s with 2 spinning threads and 17 s with 2 passive ones on 2 busy cores.
    The OpenMP runtime reads this once, when torch is first imported; later it has no effect,
    so it is left unset then.
    """
    target = os.environ if env is None else env
    if "torch" not in sys.modules:
        target.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def release_freed_memory() -> None:
    """Hand the heap's freed pages back to the system (glibc ``malloc_trim``; a no-op elsewhere).

    Called once per batch, outside the attack loops. Decoded images of a few hundred kB each
    fragment glibc's heap: measured on 224x224 PNG files, a streamed run's resident memory grew
    by about 100 kB per image although nothing was kept; trimmed after every batch it stays flat.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none (macOS, musl, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None


def available_memory(
    device: Any = None, meminfo: Path = MEMINFO, cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP
) -> int | None:
    """Free bytes: CUDA's free memory, else ``MemAvailable`` within the cgroup limit (``None``: unknown)."""
    if device is not None and getattr(device, "type", str(device)) == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    known = []
    for line in _read_lines(meminfo):
        if line.startswith("MemAvailable:") and line.split()[1].isdigit():
            known.append(int(line.split()[1]) * 1024)
    for folder in _cgroup_folders(cgroup_root, proc_cgroup, ("memory",)):
        for limit_file, usage_file in (
            ("memory.max", "memory.current"),
            ("memory.limit_in_bytes", "memory.usage_in_bytes"),
        ):
            limit, usage = ((_read_words(folder / name, 1) or ("",))[0] for name in (limit_file, usage_file))
            if limit.isdigit() and usage.isdigit() and int(limit) < 2**60:  # v1 writes 2^63 for "no limit"
                known.append(max(0, int(limit) - int(usage)))
    return min(known) if known else None


def auto_batch_size(
    sample_shape: tuple[int, ...], device: Any = None, parallel_budgets: int = 1, available: int | None = None
) -> tuple[int, str]:
    """A batch size for inputs of ``sample_shape`` (channels first) and why, a power of two up to :data:`MAX_BATCH`.

    Activations scale with the spatial voxels, so a batch holds a fixed number of them on a CPU
    (:data:`CPU_VOXELS_PER_BATCH`) and no more than :data:`MEMORY_SHARE` of the available memory
    affords at :data:`BYTES_PER_VOXEL` (on CUDA: its free memory alone). The parallel schedule
    runs each sample at ``parallel_budgets`` budgets at once, so the batch shrinks by that factor.
    ``available`` (bytes) replaces the measured memory (tests).
    """
    voxels = math.prod(sample_shape[1:]) if len(sample_shape) > 1 else max(1, math.prod(sample_shape))
    cuda = device is not None and getattr(device, "type", str(device)) == "cuda"
    memory = available if available is not None else available_memory(device)
    budget = math.inf if cuda else float(CPU_VOXELS_PER_BATCH)
    if memory is not None:
        budget = min(budget, MEMORY_SHARE * memory / BYTES_PER_VOXEL)
    if math.isinf(budget):  # CUDA with no reading: the CPU rule
        budget = float(CPU_VOXELS_PER_BATCH)
    fits = budget / (voxels * max(1, parallel_budgets))
    size = max(1, min(MAX_BATCH, 2 ** max(0, math.floor(math.log2(fits))) if fits >= 1 else 1))
    shown = f"{memory / 2**30:.1f} GiB available" if memory is not None else "memory unknown"
    return size, f"auto: {voxels} voxels per image, {shown}" + (
        f", {parallel_budgets} budgets at once" if parallel_budgets > 1 else ""
    )


def _cgroup_folders(root: Path, proc_cgroup: Path, v1_names: tuple[str, ...]) -> Iterator[Path]:
    """The cgroup folders that may limit this process: its own and each parent, v2 and v1 (a limit anywhere applies)."""
    paths: dict[str, str] = {}
    for line in _read_lines(proc_cgroup):
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        paths[controllers] = path.strip()
    mounts = [root] + [root / name for name in v1_names]
    for mount in mounts:
        own = paths.get("" if mount == root else mount.name, "/")
        node = Path(own.lstrip("/"))
        chain = [mount / node, *(mount / p for p in node.parents)] if own not in ("", "/") else [mount]
        yield from (folder for folder in dict.fromkeys(chain) if folder.is_dir())


def _read_v1_quota(folder: Path) -> tuple[str, str]:
    quota = _read_words(folder / "cpu.cfs_quota_us", 1)
    period = _read_words(folder / "cpu.cfs_period_us", 1)
    return (quota[0], period[0]) if quota and period else ("", "")


def _read_words(path: Path, count: int) -> tuple[str, ...]:
    """The first ``count`` words of a small file, or ``()`` when it is missing or shorter."""
    try:
        words = path.read_text().split()
    except OSError:
        return ()
    return tuple(words[:count]) if len(words) >= count else ()


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []
