"""The regression gate: compare a run with a baseline budget by budget, within a tolerance.

Each baseline attack x budget is looked up in the current run; a metric that fell by more
than the tolerance, or a budget the current run lacks, fails the gate. Runs on a different
model or data (by fingerprint) are refused unless ``allow_different`` is set.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medrobust.errors import ConfigError, DataError
from medrobust.results.folder import MANIFEST, SUMMARY, ResultsFolder
from medrobust.results.results import Results
from medrobust.results.summary import BudgetPoint, Summary
from medrobust.text import is_missing, markdown_table, num

log = logging.getLogger(__name__)

METRICS = ("robust_accuracy", "auroc")
STATUSES = ("ok", "worse", "missing", "better")


@dataclass
class Comparison:
    """The gate's verdict: one row per baseline attack x budget.

    Each row: ``attack, eps, label, baseline, current, delta, status`` with status one of
    ``ok``, ``worse``, ``missing``, ``better``. ``notes`` lists what the gate did not judge
    (budgets only the current run has, unchecked fingerprints).
    """

    rows: list[dict[str, Any]]
    metric: str
    tolerance: float
    notes: list[str] = field(default_factory=list)
    baseline_name: str = "baseline"
    current_name: str = "current"

    @property
    def ok(self) -> bool:
        """False when any budget got worse than the tolerance or is missing."""
        return not any(r["status"] in ("worse", "missing") for r in self.rows)

    def counts(self) -> dict[str, int]:
        """How many rows have each status."""
        return {s: sum(r["status"] == s for r in self.rows) for s in STATUSES}

    def verdict(self) -> str:
        """One line: PASS or REGRESSION, with the counts."""
        c = self.counts()
        word = "PASS" if self.ok else "REGRESSION"
        return (
            f"{word}: {self.metric}, tolerance {self.tolerance:g}; {c['worse']} worse, {c['missing']} missing, "
            f"{c['better']} better, {c['ok']} unchanged of {len(self.rows)} budgets"
        )

    def table(self) -> str:
        """A readable text table of what changed, verdict first."""
        head = f"{'attack':<14} {'budget':>9} {'baseline':>9} {'current':>9} {'delta':>8}  status"
        lines = [
            self.verdict(),
            f"baseline {self.baseline_name}",
            f"current  {self.current_name}",
            head,
            "-" * len(head),
        ]
        for r in self.rows:
            mark = "  <--" if r["status"] in ("worse", "missing") else ""
            lines.append(
                f"{r['attack']:<14} {r['label']:>9} {num(r['baseline']):>9} {num(r['current']):>9} "
                f"{_signed(r['delta']):>8}  {r['status']}{mark}"
            )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def markdown(self) -> str:
        """The same as a Markdown section for CI job pages."""
        icon = {"ok": "ok", "better": "better", "worse": "**worse**", "missing": "**missing**"}
        lines = [
            f"### medrobust compare: {'PASS' if self.ok else 'REGRESSION'}",
            "",
            self.verdict(),
            "",
        ]
        rows = [
            [r["attack"], r["label"], num(r["baseline"]), num(r["current"]), _signed(r["delta"]), icon[r["status"]]]
            for r in self.rows
        ]
        lines += markdown_table(["attack", "budget", "baseline", "current", "delta", "status"], rows)
        lines += [""] + [f"- note: {n}" for n in self.notes]
        return "\n".join(lines).rstrip() + "\n"


def compare(
    baseline: Results | str | Path,
    current: Results | str | Path,
    *,
    tolerance: float = 0.02,
    metric: str = "robust_accuracy",
    allow_different: bool = False,
) -> Comparison:
    """Compare ``current`` with ``baseline`` (results objects, results folders or summary.json paths).

    Raises :class:`ConfigError` when model or data fingerprints differ and ``allow_different``
    is false, or for an unknown metric or negative tolerance.
    """
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ConfigError(f"tolerance must be a finite number >= 0, got {tolerance}")
    b_summary, b_manifest, b_name = _load(baseline)
    c_summary, c_manifest, c_name = _load(current)
    notes = _check_fingerprints(b_manifest, c_manifest, allow_different)
    rows: list[dict[str, Any]] = []
    c_attacks = c_summary.attacks
    for attack, a in b_summary.attacks.items():
        c_budgets = _budgets(c_summary, attack)
        for b in sorted(a.budgets, key=lambda b: b.eps):
            match = next((c for c in c_budgets if abs(float(c.eps) - float(b.eps)) < 1e-9), None)
            base = _value(getattr(b, metric))
            cur = _value(getattr(match, metric)) if match is not None else math.nan
            rows.append(
                {
                    "attack": attack,
                    "eps": float(b.eps),
                    "label": str(b.label),
                    "baseline": base,
                    "current": cur,
                    "delta": cur - base,
                    "status": _status(base, cur, match is not None, tolerance),
                }
            )
    for attack, a in c_attacks.items():
        base_eps = [float(b.eps) for b in _budgets(b_summary, attack)]
        new = [b.label for b in a.budgets if all(abs(float(b.eps) - e) >= 1e-9 for e in base_eps)]
        if new:
            notes.append(f"{attack}: budget(s) {', '.join(map(str, new))} are new in the current run and not judged")
    return Comparison(rows, metric, tolerance, notes, b_name, c_name)


def _budgets(summary: Summary, attack: str) -> list[BudgetPoint]:
    """The budgets of ``attack`` (exactly that label), or none when the run lacks it."""
    curve = summary.attacks.get(attack)
    return curve.budgets if curve is not None else []


def _status(base: float, cur: float, found: bool, tolerance: float) -> str:
    if not found or (math.isnan(cur) and not math.isnan(base)):
        return "missing"
    if math.isnan(base):
        return "ok"
    delta = cur - base
    if delta < -tolerance - 1e-12:
        return "worse"
    if delta > tolerance + 1e-12:
        return "better"
    return "ok"


def _load(source: Results | str | Path) -> tuple[Summary, dict[str, Any] | None, str]:
    """Summary, manifest (when present) and a display name from any accepted source."""
    if isinstance(source, Results):
        return source.summary, source.manifest, str(source.path or "results object")
    path = Path(source)
    if path.is_dir():
        folder, name = ResultsFolder(path), SUMMARY
    elif path.is_file():
        folder, name = ResultsFolder(path.parent), path.name
    else:
        raise DataError(str(path), "no such results folder or summary file")
    if not (folder / name).is_file():
        raise DataError(str(path), f"not a results folder (no {SUMMARY})")
    summary = Summary.from_json(folder.read_text(name), str(folder / name))
    manifest = folder.read_manifest() if (folder / MANIFEST).is_file() else None
    return summary, manifest, str(path)


def _check_fingerprints(base: dict[str, Any] | None, cur: dict[str, Any] | None, allow_different: bool) -> list[str]:
    """Refuse runs on different model or data; return notes on what could not be checked."""
    if base is None or cur is None:
        return ["no manifest beside a summary: model and data fingerprints were not checked"]
    notes, differ = [], []
    for part in ("model", "data"):
        fb = (base.get(part) or {}).get("fingerprint")
        fc = (cur.get(part) or {}).get("fingerprint")
        if not fb or not fc:
            notes.append(f"{part} fingerprint missing from a manifest: not checked")
        elif fb != fc:
            differ.append(f"{part} ({fb[:12]} vs {fc[:12]})")
    if differ and not allow_different:
        raise ConfigError(
            f"the runs used a different {' and '.join(differ)}; pass allow_different=True "
            "(--allow-different) to compare them anyway"
        )
    notes += [f"different {d}, compared as allowed" for d in differ]
    return notes


def _value(v: Any) -> float:
    return math.nan if is_missing(v) else float(v)


def _signed(v: float) -> str:
    return num(v, signed=True)
