"""``medrobust bench SUITE.yaml``: a grid of models x datasets x attack sets x budgets.

Each cell is one ``medrobust run`` (its own results folder and HTML report); finished cells
are skipped when an interrupted suite is run again. The suite writes one combined summary
(``bench.json``, ``bench.md``) and, against a baseline suite folder, gates every cell.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from medrobust.engine.config import RunConfig
from medrobust.engine.spec import DEFAULT_ATTACKS, DEFAULT_BUDGETS
from medrobust.errors import ConfigError, MedrobustError
from medrobust.io import expand_env, load_yaml_mapping, set_dotted, slug, validated
from medrobust.results.atomic import write_json, write_text
from medrobust.results.folder import ResultsFolder
from medrobust.results.results import Results
from medrobust.suites.report import markdown, verdict

log = logging.getLogger(__name__)

BENCH_JSON = "bench.json"
BENCH_MD = "bench.md"
CELL = "cell.json"
COMPARE_MD = "compare.md"
AXES = ("model", "dataset", "attacks", "budgets")

EXIT_OK, EXIT_REGRESSION, EXIT_ERROR = 0, 1, 2


class Gate(BaseModel):
    """The regression gate's settings (see :func:`medrobust.gates.assertions.regression_gate`)."""

    model_config = ConfigDict(extra="forbid")
    tolerance: float = 0.02
    metric: str = "robust_accuracy"

    @field_validator("tolerance")
    @classmethod
    def _non_negative(cls, v: float) -> float:
        if not v >= 0:
            raise ValueError("the tolerance must be a number >= 0")
        return v


class Suite(BaseModel):
    """A suite file: named models, datasets, attack sets and budget lists, crossed into cells.

    ``models``/``datasets`` entries are ``medrobust run`` model/data sections, plus:
    ``datasets: [names]`` on a model (pair it with those datasets only), ``subgroups`` on a
    dataset, and ``optional: true`` on either (a cell whose inputs are missing is skipped,
    not an error). ``defaults`` holds run settings for every cell (n, batch_size, seed, ...).
    Strings may use ``${VAR}`` and ``${VAR:-default}``.
    """

    model_config = ConfigDict(extra="forbid")
    name: str = "suite"
    out: Path = Path("medrobust-results/bench")
    defaults: dict[str, Any] = {}
    models: dict[str, dict[str, Any]]
    datasets: dict[str, dict[str, Any]]
    attack_sets: dict[str, list[str | dict[str, Any]]] = {"default": list(DEFAULT_ATTACKS)}
    budgets: dict[str, list[float | str]] = {"default": list(DEFAULT_BUDGETS)}
    exclude: list[dict[str, str]] = []
    gate: Gate = Gate()


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


def load_suite(path: str | Path, overrides: dict[str, Any] | None = None) -> Suite:
    """Read and validate a suite file; ``overrides`` are ``defaults.n``-style dotted keys."""
    p = Path(path)
    raw = load_yaml_mapping(p, "suite")
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value)
    suite = validated(Suite, raw, f"{p}: invalid suite")
    for rule in suite.exclude:
        unknown = set(rule) - set(AXES)
        if unknown:
            raise ConfigError(f"{p}: exclude rule {rule} uses {sorted(unknown)}; allowed keys are {', '.join(AXES)}")
    for name, model in suite.models.items():
        missing = [d for d in model.get("datasets", []) if d not in suite.datasets]
        if missing:
            raise ConfigError(f"{p}: model {name!r} names unknown dataset(s) {missing}")
    return suite


def cells(suite: Suite, only: Sequence[str] = ()) -> list[Cell]:
    """The grid minus excluded pairs, in file order; ``only`` keeps cells whose id matches a glob."""
    out = []
    for m, d, a, b in itertools.product(suite.models, suite.datasets, suite.attack_sets, suite.budgets):
        allowed = suite.models[m].get("datasets")
        if allowed is not None and d not in allowed:
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
    model = {k: v for k, v in suite.models[cell.model].items() if k not in ("datasets", "optional")}
    model.setdefault("name", cell.model)
    data = {k: v for k, v in suite.datasets[cell.dataset].items() if k not in ("subgroups", "optional")}
    raw: dict[str, Any] = {
        **suite.defaults,
        "model": model,
        "data": data,
        "attacks": suite.attack_sets[cell.attacks],
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
) -> SuiteRun:
    """Run every cell (skipping finished ones unless ``fresh``), gate against ``baseline``, write the summary.

    ``allow_code`` lets ``python`` model kinds run the code they name (``--allow-code``); a suite file cannot.
    """
    from medrobust.engine.run import run_config

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
    for cell in grid:
        cell_dir = folder / cell.id
        t0 = time.perf_counter()
        try:
            cfg = cell_config(suite, cell, cell_dir)
            digest = _config_hash(cfg)
            cached = None if fresh else _finished(cell_dir, digest)
            if cached is not None:
                cell.results, cell.status = cached, "cached"
            else:
                # the suite owns its cells' folders: a changed cell replaces its earlier run
                cfg = cfg.model_copy(update={"overwrite": True, **({"resume": False} if fresh else {})})
                cell.results = run_config(cfg, progress=progress, allow_code=allow_code)
                cell.status = "done"
                write_json(cell_dir / CELL, {"cell": cell.id, "config_hash": digest, "finished": True})
        except MedrobustError as exc:
            cell.status, cell.message = ("skipped" if cell.optional else "error"), str(exc)
            log.log(logging.INFO if cell.optional else logging.ERROR, "cell %s: %s", cell.id, exc)
        cell.seconds = time.perf_counter() - t0
        if cell.results is not None and base is not None:
            cell.gate = _gate(cell, base / cell.id, cell_dir, suite.gate)
        if on_cell is not None:
            on_cell(cell)
    run = SuiteRun(suite, folder, grid, base)
    write_json(folder / BENCH_JSON, summary(run))
    write_text(folder / BENCH_MD, markdown(run))
    return run


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


def _finished(folder: Path, digest: str) -> Results | None:
    """The cell's results when it finished before with the same configuration."""
    marker = folder / CELL
    if not marker.is_file():
        return None
    try:
        saved = json.loads(marker.read_text())
    except json.JSONDecodeError:
        return None
    if not saved.get("finished") or saved.get("config_hash") != digest:
        return None
    try:
        return Results.load(folder)
    except MedrobustError:
        return None


def _config_hash(cfg: RunConfig) -> str:
    """The cell's configuration, plus the content of its weights file (a new checkpoint re-runs the cell)."""
    h = hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode())
    if cfg.model.weights is not None:
        with open(cfg.model.weights, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
