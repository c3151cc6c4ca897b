"""``medrobust bench SUITE.yaml``: a grid of models x datasets x attack sets x budgets.

Each cell is one ``medrobust run`` (its own results folder and HTML report); finished cells
are skipped when an interrupted suite is run again. The suite writes one combined summary
(``bench.json``, ``bench.md``) and, against a baseline suite folder, gates every cell.
"""

from __future__ import annotations

import fnmatch
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medrobust.engine.config import RunConfig
from medrobust.engine.ray_runtime import RayOptions, Resources, import_ray
from medrobust.errors import ConfigError, MedrobustError
from medrobust.io import expand_env, slug, validated
from medrobust.results.atomic import write_json, write_text
from medrobust.results.folder import ResultsFolder
from medrobust.results.results import Results
from medrobust.suites.cell_run import CellJob, CellOutcome, attempts_of, config_hash, finished_results, run_cell
from medrobust.suites.report import markdown, verdict
from medrobust.suites.suite_file import AXES, Gate, Suite, load_suite

log = logging.getLogger(__name__)

BENCH_JSON = "bench.json"
BENCH_MD = "bench.md"
COMPARE_MD = "compare.md"

EXIT_OK, EXIT_REGRESSION, EXIT_ERROR = 0, 1, 2


@dataclass
class Cell:
    """One grid point: which model, dataset, attack set and budget list, and its outcome."""

    model: str
    dataset: str
    attacks: str
    budgets: str
    optional: bool = False
    status: str = "pending"  # done, cached, skipped, error
    message: str = ""
    seconds: float = 0.0
    results: Results | None = None
    gate: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0

    @property
    def id(self) -> str:
        """The cell's folder name under the suite's output folder."""
        return slug("__".join((self.model, self.dataset, self.attacks, self.budgets)), "cell")


@dataclass
class SuiteRun:
    """What :func:`run_suite` did: every cell, where it wrote, and the exit code."""

    suite: Suite
    out: Path
    cells: list[Cell]
    baseline: Path | None

    @property
    def regressions(self) -> list[Cell]:
        """Cells the gate failed."""
        return [c for c in self.cells if c.gate.get("status") == "regression"]

    @property
    def errors(self) -> list[Cell]:
        """Cells that could not run (or could not be compared)."""
        return [c for c in self.cells if c.status == "error" or c.gate.get("status") == "error"]

    @property
    def exit_code(self) -> int:
        """0: all good; 1: a regression; 2: a cell failed to run."""
        return EXIT_ERROR if self.errors else EXIT_REGRESSION if self.regressions else EXIT_OK


def cells(suite: Suite, only: Sequence[str] = ()) -> list[Cell]:
    """The grid minus excluded pairs, in file order; ``only`` keeps cells whose id matches a glob."""
    out = []
    for m, d, a, b in itertools.product(suite.models, suite.datasets, suite.attack_sets, suite.budgets):
        allowed = suite.models[m].get("datasets")
        if allowed is not None and d not in allowed:
            continue
        paired = suite.attack_sets[a].budgets
        if paired is not None and b not in paired:
            continue
        point = {"model": m, "dataset": d, "attacks": a, "budgets": b}
        if any(all(point.get(k) == v for k, v in rule.items()) for rule in suite.exclude):
            continue
        optional = bool(suite.models[m].get("optional") or suite.datasets[d].get("optional"))
        cell = Cell(m, d, a, b, optional)
        if only and not any(fnmatch.fnmatch(cell.id, pattern) for pattern in only):
            continue
        out.append(cell)
    return out


def cell_config(suite: Suite, cell: Cell, folder: Path) -> RunConfig:
    """The ``medrobust run`` configuration of one cell (environment variables expanded)."""
    model = {k: v for k, v in suite.models[cell.model].items() if k not in ("datasets", "optional", "resources")}
    model.setdefault("name", cell.model)
    data = {k: v for k, v in suite.datasets[cell.dataset].items() if k not in ("subgroups", "optional")}
    raw: dict[str, Any] = {
        **suite.defaults,
        "model": model,
        "data": data,
        **suite.attack_sets[cell.attacks].run_settings(),
        "eps": suite.budgets[cell.budgets],
        "out": str(folder),
    }
    if "subgroups" in suite.datasets[cell.dataset]:
        raw["subgroups"] = suite.datasets[cell.dataset]["subgroups"]
    return validated(RunConfig, expand_env(raw))


def run_suite(
    path: str | Path,
    *,
    out: str | Path | None = None,
    baseline: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    only: Sequence[str] = (),
    fresh: bool = False,
    progress: bool = False,
    on_cell: Callable[[Cell], None] | None = None,
    allow_code: bool = False,
    ray: bool | None = None,
    ray_address: str | None = None,
) -> SuiteRun:
    """Run every cell (skipping finished ones unless ``fresh``), gate against ``baseline``, write the summary.

    ``allow_code`` lets ``python`` model kinds run the code they name (``--allow-code``); a suite file cannot.
    ``ray`` (or the suite's ``executor: ray``) runs the cells as Ray tasks at ``ray_address``
    (:mod:`medrobust.suites.ray_cells`); the results are the same as a serial run's.
    """
    suite = load_suite(path, overrides)
    folder = Path(out) if out is not None else suite.out
    base = Path(baseline) if baseline is not None else None
    if base is not None and not base.is_dir():
        raise ConfigError(f"{base}: baseline suite folder not found")
    grid = cells(suite, only)
    if not grid:
        raise ConfigError(f"{path}: the suite has no cells{' matching ' + ', '.join(only) if only else ''}")
    try:  # an unusable output folder fails here, not after every cell has run
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot write the suite output folder ({exc.strerror or exc})") from None
    options = _ray_options(suite, ray, ray_address)

    def close(cell: Cell) -> None:
        if cell.results is not None and base is not None:
            cell.gate = _gate(cell, base / cell.id, folder / cell.id, suite.gate)
        if on_cell is not None:
            on_cell(cell)

    jobs: dict[str, tuple[Cell, CellJob]] = {}
    for cell in grid:
        t0 = time.perf_counter()
        try:
            cfg = cell_config(suite, cell, folder / cell.id)
            digest = config_hash(cfg)
            resources = _resources(suite, cell)
        except MedrobustError as exc:
            _failed(cell, str(exc), time.perf_counter() - t0)
            close(cell)
            continue
        cached = None if fresh else finished_results(folder / cell.id, digest)
        if cached is not None:
            cell.results, cell.status, cell.attempts = cached, "cached", attempts_of(folder / cell.id)
            cell.seconds = time.perf_counter() - t0
            close(cell)
        elif options is None:  # serial: one cell after another in this process
            outcome, results = run_cell(cfg, cell.id, digest, fresh=fresh, progress=progress, allow_code=allow_code)
            _apply(cell, outcome, results)
            close(cell)
        else:
            jobs[cell.id] = (cell, CellJob(cell.id, cfg, digest, resources))
    if options is not None and jobs:
        from medrobust.suites.ray_cells import run_on_ray

        def arrived(job: CellJob, outcome: CellOutcome) -> None:
            cell = jobs[job.cell_id][0]
            results = Results.load(folder / cell.id) if outcome.status == "done" else None
            _apply(cell, outcome, results)
            close(cell)

        todo = [job for _, job in jobs.values()]
        run_on_ray(todo, options, arrived, fresh=fresh, allow_code=allow_code, progress=progress)
    run = SuiteRun(suite, folder, grid, base)
    write_json(folder / BENCH_JSON, summary(run))
    write_text(folder / BENCH_MD, markdown(run))
    return run


def _ray_options(suite: Suite, ray: bool | None, address: str | None) -> RayOptions | None:
    """Ray's options when the cells run on Ray (``--ray`` or ``executor: ray``), else ``None``."""
    if not (ray or suite.executor == "ray"):
        if address is not None:
            raise ConfigError("--ray-address goes with --ray (or executor: ray in the suite)")
        return None
    import_ray()  # a missing extra fails before any cell runs
    return RayOptions(address=address or suite.ray_address, resources=suite.resources, max_retries=suite.max_retries)


def _resources(suite: Suite, cell: Cell) -> Resources:
    """What the cell's Ray task reserves: the suite's ``resources``, overridden by its model's."""
    own = suite.models[cell.model].get("resources") or {}
    return validated(Resources, {**suite.resources.model_dump(), **own}, f"model {cell.model!r}: invalid resources")


def _apply(cell: Cell, outcome: CellOutcome, results: Results | None) -> None:
    """Record a cell run's outcome on the cell (an error of an optional cell is a skip)."""
    if outcome.status == "error":
        _failed(cell, outcome.message, outcome.seconds)
    else:
        cell.status, cell.results = outcome.status, results
        cell.seconds = outcome.seconds
    cell.attempts = outcome.attempts


def _failed(cell: Cell, message: str, seconds: float) -> None:
    cell.status, cell.message, cell.seconds = ("skipped" if cell.optional else "error"), message, seconds
    log.log(logging.INFO if cell.optional else logging.ERROR, "cell %s: %s", cell.id, message)


def summary(run: SuiteRun) -> dict[str, Any]:
    """The combined summary: one entry per cell with its curves and gate verdict."""
    entries = []
    for c in run.cells:
        entry: dict[str, Any] = {
            "cell": c.id,
            **{axis: getattr(c, axis) for axis in AXES},
            "status": c.status,
            "message": c.message,
            "folder": c.id,
            "seconds": round(c.seconds, 3),
        }
        if c.results is not None:
            s = c.results.summary
            entry.update(
                n=s.n,
                clean_accuracy=s.clean.accuracy,
                clean_auroc=s.clean.auroc,
                curves={
                    name: {
                        "curve_area": a.curve_area,
                        "robust_accuracy": {str(b.label): b.robust_accuracy for b in a.budgets},
                    }
                    for name, a in s.attacks.items()
                },
                warnings=[w.code for w in s.warnings],
            )
            if s.corruption is not None:  # the acquisition suite's mCE and relative drop, per mode
                entry["corruption"] = {mode: m.to_dict() for mode, m in s.corruption.modes.items()}
        if c.attempts > 1:  # a worker died (or the suite was interrupted) and the cell was resumed
            entry["attempts"] = c.attempts
        if c.gate:
            entry["gate"] = c.gate
        entries.append(entry)
    return {
        "suite": run.suite.name,
        "baseline": str(run.baseline) if run.baseline else None,
        "gate": {
            **run.suite.gate.model_dump(),
            "verdict": verdict(run),
            "regressions": [c.id for c in run.regressions],
            "errors": [c.id for c in run.errors],
        },
        "cells": entries,
    }


def _gate(cell: Cell, base_dir: Path, cell_dir: Path, gate: Gate) -> dict[str, Any]:
    """Compare one cell with the same cell of the baseline suite; write its compare.md."""
    from medrobust.gates.assertions import regression_gate

    assert cell.results is not None
    if not ResultsFolder(base_dir).has_summary():
        return {"status": "new", "message": "no such cell in the baseline"}
    try:
        comparison = regression_gate(base_dir, cell.results, tolerance=gate.tolerance, metric=gate.metric)
    except MedrobustError as exc:
        return {"status": "error", "message": str(exc)}
    text = comparison.markdown()
    write_text(cell_dir / COMPARE_MD, text)
    counts = comparison.counts()
    return {
        "status": "ok" if comparison.ok else "regression",
        "worse": counts["worse"],
        "missing": counts["missing"],
        "better": counts["better"],
        "verdict": comparison.verdict(),
        "markdown": text,
    }
