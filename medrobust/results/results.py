"""The results of one sweep: rows, summary, manifest; saved as a folder, loaded back.

The folder's layout belongs to :class:`~medrobust.results.folder.ResultsFolder`.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import pandas as pd

from medrobust.errors import DataError
from medrobust.results.folder import MANIFEST, ROWS, SAMPLES, SUMMARY, ResultsFolder
from medrobust.results.gallery import Gallery
from medrobust.results.summary import BudgetPoint, Summary, TrustWarning
from medrobust.text import PLAIN_MISSING, num

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class Renderer(Protocol):
    """How results present themselves; :mod:`medrobust.reports` registers the one implementation.

    The results layer imports no renderer (it sits below the reports): on first use it loads
    the module named by :data:`RENDERER_MODULE`, which sets :attr:`Results.renderer`, the way
    a plugin is found by name. Set ``Results.renderer`` to present results another way.
    """

    def figure(self, results: Results) -> Figure: ...
    def html_fragment(self, results: Results) -> str: ...
    def write_reports(self, results: Results, folder: Path) -> object: ...


__all__ = ["MANIFEST", "RENDERER_MODULE", "ROWS", "SAMPLES", "SUMMARY", "Renderer", "Results"]

RENDERER_MODULE = "medrobust.reports"


@dataclass(repr=False)
class Results:
    """What :func:`medrobust.evaluate` returns."""

    summary: Summary
    manifest: dict[str, Any]
    clean: pd.DataFrame
    rows: pd.DataFrame
    path: Path | None = field(default=None)
    gallery: Gallery | None = field(default=None, repr=False)
    renderer: ClassVar[Renderer | None] = None

    def __post_init__(self) -> None:
        self.summary = Summary.from_dict(self.summary)  # a 1.x dict summary is accepted and validated

    def __repr__(self) -> str:
        """Short: pytest and notebooks show this, not the row tables."""
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"Results(n={self.summary.n}, attacks={list(self.summary.attacks)}{where})"

    @property
    def warnings(self) -> list[TrustWarning]:
        """Trust-check warnings raised for this run."""
        return list(self.summary.warnings)

    @property
    def clean_accuracy(self) -> float:
        return self.summary.clean.accuracy

    def curve(self, attack: str) -> list[BudgetPoint]:
        """The per-budget points of ``attack`` (a label like ``pgd-linf`` or a prefix like ``pgd``)."""
        return self.summary.curve(attack).budgets

    def attack_name(self, attack: str) -> str:
        """Resolve ``pgd`` to ``pgd-linf`` when unambiguous."""
        return self.summary.attack_name(attack)

    def metric(self, attack: str, eps: float, name: str = "robust_accuracy") -> float:
        """One metric at one budget (matched within 1e-9)."""
        try:
            point = self.summary.curve(attack).at(eps)
        except KeyError:
            raise KeyError(f"budget {eps} not evaluated for {attack}") from None
        value = point[name]
        return float(value) if value is not None else math.nan

    def to_dataframe(self) -> pd.DataFrame:
        """The summary as a long table: one row per attack x budget."""
        records = []
        for attack, a in self.summary.attacks.items():
            for point in a.budgets:
                b = point.model_dump()
                rec = {"attack": attack}
                rec.update({k: v for k, v in b.items() if not isinstance(v, dict | list | tuple)})
                for k, v in b.items():  # confidence intervals and per-class accuracy as extra columns
                    if k.endswith("_ci") and isinstance(v, list | tuple) and len(v) == 2:
                        rec[f"{k}_low"], rec[f"{k}_high"] = v
                    elif k == "per_class" and isinstance(v, dict):
                        rec.update({f"accuracy_{name}": acc for name, acc in v.items()})
                records.append(rec)
        return pd.DataFrame.from_records(records)

    def plot(self) -> Figure:
        """Robust accuracy and AUROC against budget per attack, with bootstrap bands (matplotlib)."""
        return _renderer().figure(self)

    def _repr_html_(self) -> str:
        """The HTML summary, so a notebook shows the results as a report."""
        return _renderer().html_fragment(self)

    def table(self) -> str:
        """A plain-text table of the curves, for terminals and logs."""
        width = max([12, *(len(a) for a in self.summary.attacks)])  # long labels: apgd-margin-linf
        head = f"{'attack':<{width}} {'budget':>9} {'robust acc':>10} {'drop':>7} {'success':>8} {'AUROC':>6} {'sens':>6} {'spec':>6}"  # noqa: E501
        lines = [f"clean accuracy {self.clean_accuracy:.3f}  (n={self.summary.n})", head, "-" * len(head)]
        for attack, a in self.summary.attacks.items():
            for b in a.budgets:
                lines.append(
                    f"{attack:<{width}} {b.label:>9} {_f(b.robust_accuracy)} {_f(b.drop, 7)} "
                    f"{_f(b.success_rate, 8)} {_f(b.auroc, 6)} {_f(b.sensitivity, 6)} {_f(b.specificity, 6)}"
                )
        for w in self.warnings:
            lines.append(f"WARNING [{w.code}] {w.message}")
        return "\n".join(lines)

    def save(self, path: str | Path, reports: bool = True) -> Path:
        """Write the results folder atomically, file by file, then (``reports``) the reports."""
        path = Path(path)
        ResultsFolder(path).write_tables(self.clean, self.rows, self.manifest, self.summary.to_json() + "\n")
        if self.gallery is not None:
            self.gallery.save(path)
        self.path = path
        if reports:
            _renderer().write_reports(self, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Results:
        """Read a results folder written by :meth:`save`."""
        folder = ResultsFolder(path)
        missing = folder.missing()
        if missing:
            raise DataError(str(folder.path), f"not a complete results folder (missing {', '.join(missing)})")
        summary = Summary.from_json(folder.read_text(SUMMARY), str(folder.summary))
        manifest = folder.read_manifest()
        return cls(summary, manifest, folder.read_samples(), folder.read_rows(), folder.path, Gallery.load(folder.path))


def _renderer() -> Renderer:
    if Results.renderer is None:
        importlib.import_module(RENDERER_MODULE)  # registers itself
    if Results.renderer is None:
        raise RuntimeError(f"{RENDERER_MODULE} registered no renderer")
    return Results.renderer


def _f(v: Any, width: int = 10) -> str:
    return num(v, width=width, missing=PLAIN_MISSING)
