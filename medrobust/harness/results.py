"""The results of one sweep: rows, summary, manifest; saved as a folder, loaded back.

Folder layout: ``summary.json`` (schema-versioned), ``manifest.json``, ``samples.csv``
(one row per sample), ``rows.csv`` (one row per sample x attack x budget), ``gallery.npz``
(a few clean/adversarial pixel pairs) and the reports (``report.html``, ``summary.csv``,
``summary.md``, ``junit.xml``; see :mod:`medrobust.harness.reports`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from medrobust.errors import DataError
from medrobust.harness.atomic import write_csv, write_json
from medrobust.harness.reports.gallery import Gallery

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SUMMARY = "summary.json"
MANIFEST = "manifest.json"
SAMPLES = "samples.csv"
ROWS = "rows.csv"


@dataclass(repr=False)
class Results:
    """What :func:`medrobust.evaluate` returns."""

    summary: dict[str, Any]
    manifest: dict[str, Any]
    clean: pd.DataFrame
    rows: pd.DataFrame
    path: Path | None = field(default=None)
    gallery: Gallery | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        """Short: pytest and notebooks show this, not the row tables."""
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"Results(n={self.summary.get('n')}, attacks={list(self.summary.get('attacks', {}))}{where})"

    @property
    def warnings(self) -> list[dict[str, str]]:
        """Trust-check warnings raised for this run."""
        return list(self.summary.get("warnings", []))

    @property
    def clean_accuracy(self) -> float:
        return float(self.summary["clean"]["accuracy"])

    def curve(self, attack: str) -> list[dict[str, Any]]:
        """The per-budget entries for ``attack`` (a label like ``pgd-linf`` or a prefix like ``pgd``)."""
        return self.summary["attacks"][self.attack_name(attack)]["budgets"]

    def attack_name(self, attack: str) -> str:
        """Resolve ``pgd`` to ``pgd-linf`` when unambiguous."""
        names = list(self.summary["attacks"])
        if attack in names:
            return attack
        matches = [n for n in names if n.split("-")[0] == attack]
        if len(matches) != 1:
            raise KeyError(f"attack {attack!r} not in results ({', '.join(names)})")
        return matches[0]

    def metric(self, attack: str, eps: float, name: str = "robust_accuracy") -> float:
        """One metric at one budget (matched within 1e-9)."""
        for b in self.curve(attack):
            if abs(b["eps"] - eps) < 1e-9:
                return float(b[name]) if b[name] is not None else math.nan
        raise KeyError(f"budget {eps} not evaluated for {attack}")

    def to_dataframe(self) -> pd.DataFrame:
        """The summary as a long table: one row per attack x budget."""
        records = []
        for attack, a in self.summary["attacks"].items():
            for b in a["budgets"]:
                rec = {"attack": attack}
                rec.update({k: v for k, v in b.items() if not isinstance(v, dict | list)})
                for k, v in b.items():  # confidence intervals and per-class accuracy as extra columns
                    if k.endswith("_ci") and isinstance(v, list | tuple) and len(v) == 2:
                        rec[f"{k}_low"], rec[f"{k}_high"] = v
                    elif k == "per_class" and isinstance(v, dict):
                        rec.update({f"accuracy_{name}": acc for name, acc in v.items()})
                records.append(rec)
        return pd.DataFrame.from_records(records)

    def plot(self) -> Figure:
        """Robust accuracy and AUROC against budget per attack, with bootstrap bands (matplotlib)."""
        from medrobust.harness.reports.plots import curves_figure

        return curves_figure(self.summary, str(self.manifest.get("data", {}).get("units", "")))

    def _repr_html_(self) -> str:
        """The HTML summary, so a notebook shows the results as a report."""
        from medrobust.harness.reports.html import render_fragment

        return render_fragment(self)

    def table(self) -> str:
        """A plain-text table of the curves, for terminals and logs."""
        width = max([12, *(len(a) for a in self.summary["attacks"])])  # long labels: apgd-margin-linf
        head = f"{'attack':<{width}} {'budget':>9} {'robust acc':>10} {'drop':>7} {'success':>8} {'AUROC':>6} {'sens':>6} {'spec':>6}"
        lines = [f"clean accuracy {self.clean_accuracy:.3f}  (n={self.summary['n']})", head, "-" * len(head)]
        for attack, a in self.summary["attacks"].items():
            for b in a["budgets"]:
                lines.append(
                    f"{attack:<{width}} {b['label']:>9} {_f(b['robust_accuracy'])} {_f(b['drop'], 7)} "
                    f"{_f(b['success_rate'], 8)} {_f(b['auroc'], 6)} {_f(b['sensitivity'], 6)} {_f(b['specificity'], 6)}"
                )
        for w in self.warnings:
            lines.append(f"WARNING [{w['code']}] {w['message']}")
        return "\n".join(lines)

    def save(self, path: str | Path, reports: bool = True) -> Path:
        """Write the results folder atomically, file by file, then (``reports``) the reports."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_csv(path / SAMPLES, self.clean)
        write_csv(path / ROWS, self.rows)
        write_json(path / MANIFEST, self.manifest)
        write_json(path / SUMMARY, self.summary)
        if self.gallery is not None:
            self.gallery.save(path)
        self.path = path
        if reports:
            from medrobust.harness.reports import write_reports

            write_reports(self, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Results:
        """Read a results folder written by :meth:`save`."""
        path = Path(path)
        missing = [n for n in (SUMMARY, MANIFEST, SAMPLES, ROWS) if not (path / n).is_file()]
        if missing:
            raise DataError(str(path), f"not a complete results folder (missing {', '.join(missing)})")
        try:
            summary = json.loads((path / SUMMARY).read_text())
            manifest = json.loads((path / MANIFEST).read_text())
        except json.JSONDecodeError as exc:
            raise DataError(str(path), f"unreadable JSON: {exc}") from None
        clean = pd.read_csv(path / SAMPLES, dtype={"sample_id": str}, keep_default_na=False)
        rows = pd.read_csv(path / ROWS, dtype={"eps_label": str})
        _nan_nulls(summary)
        return cls(summary, manifest, clean, rows, path, Gallery.load(path))


def _f(v: Any, width: int = 10) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return f"{'-':>{width}}"
    return f"{v:>{width}.3f}"


def _nan_nulls(obj: Any) -> None:
    """Turn JSON ``null`` metric values back into NaN in place."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if v is None and k not in ("error",):
                obj[k] = math.nan
            else:
                _nan_nulls(v)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            if v is None:
                obj[i] = math.nan
            else:
                _nan_nulls(v)
