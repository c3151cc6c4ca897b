"""One suite cell's run, wherever it executes (this process or a Ray task), and its marker file.

A cell is one ``medrobust run`` in its own folder. Its ``cell.json`` says which configuration
it ran, whether it finished and how many attempts it took: a cell whose process died (a
killed Ray worker, a Ctrl-C) starts its next attempt from the batches already in its folder.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medrobust.engine.config import RunConfig
from medrobust.engine.ray_runtime import Resources
from medrobust.errors import MedrobustError
from medrobust.results.atomic import write_json
from medrobust.results.results import Results

CELL = "cell.json"


@dataclass(frozen=True)
class CellOutcome:
    """How a cell's run ended: ``done`` or ``error`` (with its message), in how long, after how many attempts."""

    status: str
    message: str = ""
    seconds: float = 0.0
    attempts: int = 1


@dataclass(frozen=True)
class CellJob:
    """One cell to run: its id, configuration, configuration hash and what its task reserves."""

    cell_id: str
    cfg: RunConfig
    digest: str
    resources: Resources


def run_cell(
    cfg: RunConfig, cell_id: str, digest: str, *, fresh: bool = False, progress: bool = False, allow_code: bool = False
) -> tuple[CellOutcome, Results | None]:
    """Run one cell's sweep into ``cfg.out`` and mark it finished; bad input is an ``error`` outcome, not raised."""
    from medrobust.engine.run import run_config

    t0 = time.perf_counter()
    folder = Path(cfg.out)
    attempts = _begin_attempt(folder, cell_id, digest)
    # the suite owns its cells' folders: a changed cell replaces its earlier run
    cfg = cfg.model_copy(update={"overwrite": True, **({"resume": False} if fresh else {})})
    try:
        results = run_config(cfg, progress=progress, allow_code=allow_code)
    except MedrobustError as exc:
        return CellOutcome("error", str(exc), time.perf_counter() - t0, attempts), None
    write_json(folder / CELL, {"cell": cell_id, "config_hash": digest, "finished": True, "attempts": attempts})
    return CellOutcome("done", "", time.perf_counter() - t0, attempts), results


def cell_task(cfg: RunConfig, cell_id: str, digest: str, fresh: bool, allow_code: bool) -> CellOutcome:
    """:func:`run_cell` as a Ray task returns it: the outcome only (the driver reads the results folder)."""
    return run_cell(cfg, cell_id, digest, fresh=fresh, allow_code=allow_code)[0]


def finished_results(folder: Path, digest: str) -> Results | None:
    """The cell's results when it finished before with the same configuration."""
    saved = _marker(folder)
    if not saved.get("finished") or saved.get("config_hash") != digest:
        return None
    try:
        return Results.load(folder)
    except MedrobustError:
        return None


def attempts_of(folder: Path) -> int:
    """How many attempts the cell in ``folder`` took (0: none recorded)."""
    return int(_marker(folder).get("attempts", 0))


def config_hash(cfg: RunConfig) -> str:
    """The cell's configuration, plus the content of its weights file (a new checkpoint re-runs the cell)."""
    h = hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode())
    if cfg.model.weights is not None:
        with open(cfg.model.weights, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _begin_attempt(folder: Path, cell_id: str, digest: str) -> int:
    """Record one more attempt at this configuration (1 when the folder held another or none)."""
    saved = _marker(folder)
    same = saved.get("config_hash") == digest and not saved.get("finished")
    attempts = int(saved.get("attempts", 0)) + 1 if same else 1
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / CELL, {"cell": cell_id, "config_hash": digest, "finished": False, "attempts": attempts})
    return attempts


def _marker(folder: Path) -> dict[str, Any]:
    """The cell's ``cell.json``, or nothing when it is missing or unreadable."""
    try:
        saved = json.loads((folder / CELL).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return saved if isinstance(saved, dict) else {}
