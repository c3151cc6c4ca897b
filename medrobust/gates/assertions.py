"""Plain assertion helpers over a sweep's results: ``assert_robust`` and ``assert_no_regression``.

They read :class:`~medrobust.results.results.Results` only (never run attacks), so they
work in pytest, in notebooks and in scripts; a failure shows the curve as a small table.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medrobust.attacks.budgets import parse_budget
from medrobust.errors import ConfigError
from medrobust.gates.thresholds import KINDS, THRESHOLDS, Check
from medrobust.text import PLAIN_MISSING, as_float, num

if TYPE_CHECKING:
    from medrobust.gates.compare import Comparison
    from medrobust.results.results import Results

__all__ = [
    "THRESHOLDS",
    "Check",
    "RobustnessAssertionError",
    "Verdict",
    "assert_no_regression",
    "assert_robust",
    "check_robust",
    "curve_table",
    "regression_gate",
    "run_name",
]


class RobustnessAssertionError(AssertionError):
    """A robustness threshold or the regression gate did not hold; the message shows why."""


@dataclass
class Verdict:
    """All checks of one ``assert_robust`` call, and the message a failure shows."""

    run: str
    attacks: list[str]
    eps: float
    eps_label: str
    checks: list[Check] = field(default_factory=list)
    curves: str = ""

    @property
    def ok(self) -> bool:
        """True when every check holds."""
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        """The checks that fell short, smallest budget first."""
        return sorted((c for c in self.checks if not c.ok), key=lambda c: (c.attack, c.eps))

    def summary_line(self) -> str:
        """One line for the end-of-session summary."""
        names = sorted({c.threshold_name for c in self.checks})
        if self.ok:
            return f"{'/'.join(self.attacks)} up to {self.eps_label}: {', '.join(names)} hold"
        first = self.failed[0]
        return f"{first.attack} at {first.budget}: {first.describe()}"

    def message(self) -> str:
        """The failure message: what fell short at which budget, then the curves."""
        lines = []
        if self.ok:
            lines.append(f"robustness of {self.run} holds up to {self.eps_label}")
        else:
            lines.append(
                f"robustness of {self.run} falls short (thresholds checked at every budget up to {self.eps_label}):"
            )
            seen: set[tuple[str, str, str]] = set()
            for c in self.failed:
                key = (c.attack, c.threshold_name, c.subgroup)
                if key in seen:
                    continue
                seen.add(key)
                lines.append(f"  {c.attack} first falls short at {c.budget}: {c.describe()}")
        return "\n".join([*lines, "", self.curves])


def check_robust(
    result: Results,
    *,
    eps: float | str,
    attack: str | Sequence[str] | None = None,
    min_accuracy: float | None = None,
    min_auroc: float | None = None,
    max_drop: float | None = None,
    max_subgroup_gap: float | None = None,
    subgroup: str | Sequence[str] | None = None,
) -> Verdict:
    """Check thresholds at every evaluated budget up to ``eps`` for ``attack`` (default: all).

    Accuracy and drop are monotone in the budget, so checking up to ``eps`` names the
    first budget that falls short. ``eps`` must be one of the evaluated budgets.
    """
    __tracebackhide__ = True
    given = {
        "min_accuracy": min_accuracy,
        "min_auroc": min_auroc,
        "max_drop": max_drop,
        "max_subgroup_gap": max_subgroup_gap,
    }
    thresholds = {k: float(v) for k, v in given.items() if v is not None}
    if not thresholds:
        raise ConfigError(f"give at least one threshold: {', '.join(THRESHOLDS)}")
    budget = parse_budget(eps)
    attacks = _attacks(result, attack)
    columns = _subgroups(result, subgroup) if "max_subgroup_gap" in thresholds else []
    run = run_name(result)
    verdict = Verdict(run, attacks, budget.value, budget.label)
    for name in attacks:
        curve = result.curve(name)
        evaluated = [b.eps for b in curve]
        if not any(abs(e - budget.value) < 1e-9 for e in evaluated):
            shown = ", ".join(str(b.label) for b in curve)
            raise ConfigError(
                f"{name}: budget {budget.label} was not evaluated (evaluated: {shown}); add it to the sweep's eps"
            )
        for b in curve:
            if b.eps > budget.value + 1e-9:
                break
            label = str(b.label)
            for key, limit in thresholds.items():
                if key == "max_subgroup_gap":
                    for col in columns:
                        gap = result.summary.subgroups[col].gap.get(name, {}).get(label, math.nan)
                        verdict.checks.append(Check(run, name, label, b.eps, key, limit, as_float(gap), col))
                    continue
                value = KINDS[key][0]
                verdict.checks.append(Check(run, name, label, b.eps, key, limit, as_float(getattr(b, value))))
    verdict.curves = curve_table(result, attacks, budget.value, verdict.failed, columns)
    _notify(verdict)
    return verdict


def assert_robust(
    result: Results,
    *,
    eps: float | str,
    attack: str | Sequence[str] | None = None,
    min_accuracy: float | None = None,
    min_auroc: float | None = None,
    max_drop: float | None = None,
    max_subgroup_gap: float | None = None,
    subgroup: str | Sequence[str] | None = None,
) -> Verdict:
    """Raise :class:`RobustnessAssertionError` unless every threshold holds up to ``eps``.

    Example: ``assert_robust(results, attack="pgd", eps="2/255", min_accuracy=0.7)``.
    """
    __tracebackhide__ = True
    verdict = check_robust(
        result,
        eps=eps,
        attack=attack,
        min_accuracy=min_accuracy,
        min_auroc=min_auroc,
        max_drop=max_drop,
        max_subgroup_gap=max_subgroup_gap,
        subgroup=subgroup,
    )
    if not verdict.ok:
        raise RobustnessAssertionError(verdict.message())
    return verdict


def regression_gate(
    baseline: Results | str | Path,
    current: Results,
    *,
    tolerance: float = 0.02,
    metric: str = "robust_accuracy",
) -> Comparison:
    """The regression gate for a new model on the same data: compare budget by budget.

    The model may differ from the baseline's (that is the point of the gate); the data
    must not, since numbers on different data are not comparable (a :class:`ConfigError`).
    """
    from medrobust.gates.compare import compare
    from medrobust.results.results import Results

    base = baseline if isinstance(baseline, Results) else Results.load(baseline)
    b_fp = base.manifest.get("data", {}).get("fingerprint")
    c_fp = current.manifest.get("data", {}).get("fingerprint")
    if b_fp and c_fp and b_fp != c_fp:
        raise ConfigError(
            f"the baseline {base.path or ''} was run on different data ({b_fp[:12]} vs {c_fp[:12]}); "
            "robustness numbers on different data are not comparable"
        )
    return compare(base, current, tolerance=tolerance, metric=metric, allow_different=True)


def assert_no_regression(
    current: Results,
    baseline: Results | str | Path,
    *,
    tolerance: float = 0.02,
    metric: str = "robust_accuracy",
) -> Comparison:
    """Raise :class:`RobustnessAssertionError` when ``current`` fell below ``baseline`` by more than ``tolerance``."""
    __tracebackhide__ = True
    comparison = regression_gate(baseline, current, tolerance=tolerance, metric=metric)
    if not comparison.ok:
        raise RobustnessAssertionError(
            f"{run_name(current)} regressed against its baseline (tolerance {tolerance:g} on {metric}):\n{comparison.table()}"  # noqa: E501
        )
    return comparison


def run_name(result: Results) -> str:
    """A short name for messages: the model's and the data's names."""
    model = result.manifest.get("model", {}).get("name", "model")
    data = result.manifest.get("data", {}).get("name", "data")
    return f"{model} on {data}"


def curve_table(
    result: Results,
    attacks: Sequence[str],
    upto: float,
    failed: Sequence[Check] = (),
    subgroups: Sequence[str] = (),
) -> str:
    """The curves of ``attacks`` as a small table; rows that fell short are marked ``>``."""
    marks: dict[tuple[str, str], list[str]] = {}
    for c in failed:
        marks.setdefault((c.attack, c.budget), []).append(c.describe())
    lines = [f"clean accuracy {_fmt(result.summary.clean.accuracy)}, n={result.summary.n}"]
    gap_cols = "".join(f" {'gap ' + col:>12}" for col in subgroups)
    for name in attacks:
        lines.append(f"  {name}:")
        lines.append(f"    {'budget':>9} {'robust acc':>10} {'drop':>7} {'AUROC':>7}{gap_cols}")
        for b in result.curve(name):
            label = str(b.label)
            gaps = "".join(
                f" {_fmt(result.summary.subgroups[col].gap.get(name, {}).get(label), 12)}" for col in subgroups
            )
            row = f"{label:>9} {_fmt(b.robust_accuracy, 10)} {_fmt(b.drop, 7)} {_fmt(b.auroc, 7)}{gaps}"
            note = marks.get((name, label))
            if note:
                lines.append(f"  > {row}   <- {'; '.join(note)}")
            elif b.eps > upto + 1e-9:
                lines.append(f"    {row}   (not checked)")
            else:
                lines.append(f"    {row}")
    return "\n".join(lines)


def _notify(verdict: Verdict) -> None:
    """Hand the verdict to the pytest plugin's session summary when pytest is running it."""
    plugin = sys.modules.get("medrobust.pytest_plugin")
    record = getattr(plugin, "record_verdict", None)
    if callable(record):
        record(verdict)


def _attacks(result: Results, attack: str | Sequence[str] | None) -> list[str]:
    names = list(result.summary.attacks)
    if attack is None:
        return names
    wanted = [attack] if isinstance(attack, str) else list(attack)
    out = []
    for a in wanted:
        try:
            out.append(result.attack_name(a))
        except KeyError:
            raise ConfigError(f"attack {a!r} was not evaluated (evaluated: {', '.join(names)})") from None
    return out


def _subgroups(result: Results, subgroup: str | Sequence[str] | None) -> list[str]:
    splits = result.summary.subgroups
    evaluated = [c for c, split in splits.items() if split.error is None]  # a missing column has no gap
    if not splits:
        raise ConfigError("max_subgroup_gap needs subgroups: pass subgroups=[...] (a metadata column) to the sweep")
    if not evaluated:
        c, split = next(iter(splits.items()))
        raise ConfigError(f"max_subgroup_gap: no subgroup split could be evaluated ({c}: {split.error})")
    if subgroup is None:
        return evaluated
    wanted = [subgroup] if isinstance(subgroup, str) else list(subgroup)
    missing = [c for c in wanted if c not in evaluated]
    if missing:
        why = splits[missing[0]].error if missing[0] in splits else None
        raise ConfigError(f"subgroup {missing[0]!r} was not evaluated ({why or 'evaluated: ' + ', '.join(evaluated)})")
    return wanted


def _fmt(v: Any, width: int = 0) -> str:
    return num(as_float(v), width=width, missing=PLAIN_MISSING)
