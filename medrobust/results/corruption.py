"""The acquisition suite's mean corruption error: ImageNet-C's mCE against a reference run, or the relative drop.

For a shift ``c`` at severities ``s = 1..5`` with error ``E(s, c)`` (one minus the mean accuracy
over the random draws, or one minus the worst-case accuracy in the adversarial mode):

- ``CE(c) = sum_s E(s, c) / sum_s E_ref(s, c)`` and ``mCE`` its mean over the shifts
  (Hendrycks and Dietterich, 2019), which needs a reference model's run on the same data;
- the relative ``CE(c) = sum_s (E(s, c) - E_clean) / sum_s (E_ref(s, c) - E_ref_clean)``;
- with no reference, the relative accuracy drop ``(A_clean - mean_s A(s, c)) / A_clean``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medrobust.errors import ConfigError, DataError
from medrobust.results.folder import SUMMARY, ResultsFolder
from medrobust.results.summary import BudgetPoint, Corruption, ModeCorruption, ShiftError, Summary

TOLERANCE = 1e-9


@dataclass(frozen=True)
class Reference:
    """A reference model's finished run of the acquisition suite, as read from its results folder."""

    summary: Summary
    manifest: Mapping[str, Any]
    where: str

    def describe(self) -> dict[str, str]:
        """What the summary records of it: the model's name and fingerprint and the run key (no paths)."""
        model = self.manifest.get("model", {})
        return {
            "model": str(model.get("name", "")),
            "model_fingerprint": str(model.get("fingerprint", "")),
            "run": str(self.manifest.get("medrobust_run", "")),
        }


def load_reference(path: str | Path) -> Reference:
    """The summary and manifest of the results folder ``path``; a clear error when it is no finished run."""
    folder = ResultsFolder(path)
    if not folder.has_summary():
        raise DataError(str(path), f"reference: not a finished medrobust results folder (no {SUMMARY})")
    summary = Summary.from_json(folder.read_text(SUMMARY), str(folder.summary))
    return Reference(summary, folder.read_manifest(), str(path))


def corruption_summary(
    summary: Summary,
    shifts: Mapping[str, tuple[str, str]],
    reference: Reference | None = None,
    data_fingerprint: str | None = None,
) -> Corruption:
    """The corruption errors of ``shifts`` (attack label to shift name and mode) in ``summary``.

    A ``reference`` must have been run on the same data (``data_fingerprint``) with the same
    shift labels and severities; anything else is an error naming the reference folder.
    """
    if reference is not None:
        check_same_data(reference, data_fingerprint)
    errors: dict[str, ShiftError] = {}
    severities: list[float] = []
    for label, (name, mode) in shifts.items():
        points = _points(summary, label)
        severities = [p.eps for p in points]
        e = [1.0 - _accuracy(p, mode) for p in points]
        clean = summary.clean.accuracy
        mean_accuracy = 1.0 - sum(e) / len(e) if e else math.nan
        ce = relative = math.nan
        if reference is not None:
            ref = _points(reference.summary, label, reference.where)
            if [p.eps for p in ref] != severities:
                raise ConfigError(
                    f"reference {reference.where}: {label} was run at severities {[p.eps for p in ref]}, "
                    f"this run at {severities}: mCE compares the same severities"
                )
            e_ref = [1.0 - _accuracy(p, mode) for p in ref]
            ce = _ratio(sum(e), sum(e_ref))
            ref_clean = 1.0 - reference.summary.clean.accuracy
            relative = _ratio(sum(x - (1.0 - clean) for x in e), sum(x - ref_clean for x in e_ref))
        errors[label] = ShiftError(
            shift=name,
            mode=mode,
            errors=e,
            clean_error=1.0 - clean,
            relative_drop=_ratio(clean - mean_accuracy, clean),
            ce=ce,
            relative_ce=relative,
        )
    modes = {
        mode: ModeCorruption(
            shifts=len(of_mode),
            mce=_mean([s.ce for s in of_mode]),
            relative_mce=_mean([s.relative_ce for s in of_mode]),
            mean_relative_drop=_mean([s.relative_drop for s in of_mode]),
        )
        for mode in dict.fromkeys(m for _, m in shifts.values())
        for of_mode in [[s for s in errors.values() if s.mode == mode]]
    }
    return Corruption(
        severities=severities,
        reference=reference.describe() if reference is not None else None,
        modes=modes,
        shifts=errors,
    )


def check_same_shifts(reference: Reference, labels: Sequence[str], severities: Sequence[float]) -> None:
    """Refuse a reference run that lacks one of ``labels`` or ran them at other ``severities`` (above 0)."""
    wanted = [float(s) for s in severities if s > TOLERANCE]
    for label in labels:
        theirs = [p.eps for p in _points(reference.summary, label, reference.where)]
        if len(theirs) != len(wanted) or any(abs(a - b) > TOLERANCE for a, b in zip(theirs, wanted, strict=False)):
            raise ConfigError(
                f"reference {reference.where}: {label} was run at severities {theirs}, this run's are {wanted}: "
                "mCE compares the same severities"
            )


def check_same_data(reference: Reference, data_fingerprint: str | None) -> None:
    """Refuse a reference run on other images than this run's (``data_fingerprint``), naming both."""
    theirs = str(reference.manifest.get("data", {}).get("fingerprint", ""))
    if data_fingerprint is not None and theirs != data_fingerprint:
        raise ConfigError(
            f"reference {reference.where}: it was run on other data (fingerprint {theirs[:12] or '?'}, this run's "
            f"{data_fingerprint[:12]}): mCE compares models on the same images"
        )


def _points(summary: Summary, label: str, where: str | None = None) -> list[BudgetPoint]:
    """The shift's points above severity 0, ascending."""
    curve = summary.attacks.get(label)
    if curve is None:
        if where is None:
            raise KeyError(f"{label} is not in the summary")
        raise ConfigError(f"reference {where}: it has no {label} curve (has: {', '.join(summary.attacks)})")
    return [b for b in sorted(curve.budgets, key=lambda b: b.eps) if b.eps > TOLERANCE]


def _accuracy(point: BudgetPoint, mode: str) -> float:
    """The random mode's mean over draws where it was measured, else the (worst-case) robust accuracy."""
    mean = (point.model_extra or {}).get("mean_accuracy")
    if mode == "random" and mean is not None and math.isfinite(float(mean)):
        return float(mean)
    return point.robust_accuracy


def _ratio(a: float, b: float) -> float:
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else math.nan


def _mean(values: Sequence[float]) -> float:
    """The mean of the defined values (a shift under which the reference lost nothing has no relative CE)."""
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan
