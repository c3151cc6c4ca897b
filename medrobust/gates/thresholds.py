"""The one threshold concept: a bound on one metric, checked at one budget of one attack.

``assert_robust`` and the ``robustness`` marker take thresholds as keywords
(``min_accuracy=0.7``); a thresholds file for ``junit.xml`` gives a minimum per attack and
budget. Both become :class:`Threshold` objects and :class:`Check` results, so a bound
reads, holds and is described the same way everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medrobust.attacks.budgets import parse_budget
from medrobust.errors import ConfigError
from medrobust.io import load_yaml_mapping
from medrobust.text import num

KINDS: dict[str, tuple[str, str, str]] = {
    "min_accuracy": ("robust_accuracy", ">=", "robust accuracy"),
    "min_auroc": ("auroc", ">=", "AUROC"),
    "max_drop": ("drop", "<=", "accuracy drop"),
    "max_subgroup_gap": ("gap", "<=", "subgroup gap"),
}
"""Threshold name -> (the metric it bounds, the comparison, how messages name the metric)."""

THRESHOLDS = tuple(KINDS)
"""The threshold keywords ``assert_robust`` and the ``robustness`` marker accept."""


@dataclass(frozen=True)
class Threshold:
    """``name`` (``min_accuracy``, ..., or ``min_<metric>`` for any other metric) with its ``limit``."""

    name: str
    limit: float

    @classmethod
    def minimum(cls, metric: str, limit: float) -> Threshold:
        """The lower bound on ``metric`` (``robust_accuracy`` is ``min_accuracy``)."""
        name = next((k for k, (m, op, _) in KINDS.items() if m == metric and op == ">="), f"min_{metric}")
        return cls(name, float(limit))

    @property
    def metric(self) -> str:
        return KINDS[self.name][0] if self.name in KINDS else self.name.removeprefix("min_").removeprefix("max_")

    @property
    def op(self) -> str:
        return KINDS[self.name][1] if self.name in KINDS else "<=" if self.name.startswith("max_") else ">="

    @property
    def words(self) -> str:
        return KINDS[self.name][2] if self.name in KINDS else self.metric.replace("_", " ")

    def holds(self, value: float) -> bool:
        """True when ``value`` meets the bound (NaN never does)."""
        if math.isnan(value):
            return False
        return value >= self.limit - 1e-12 if self.op == ">=" else value <= self.limit + 1e-12

    def describe(self, value: float, subgroup: str = "") -> str:
        """``robust accuracy 0.652 < 0.700 (min_accuracy)``-style text."""
        what = f"{self.words} by {subgroup}" if subgroup else self.words
        shown = "undefined (NaN)" if math.isnan(value) else num(value)
        sign = self.op if self.holds(value) else {">=": "<", "<=": ">"}[self.op]
        return f"{what} {shown} {sign} {num(self.limit)} ({self.name})"


@dataclass(frozen=True)
class Check:
    """One threshold checked at one budget of one attack (of one subgroup split, for gaps)."""

    run: str
    attack: str
    budget: str
    eps: float
    threshold_name: str
    threshold: float
    value: float
    subgroup: str = ""

    @property
    def bound(self) -> Threshold:
        return Threshold(self.threshold_name, self.threshold)

    @property
    def ok(self) -> bool:
        """True when the value meets the threshold (NaN never does)."""
        return self.bound.holds(self.value)

    def describe(self) -> str:
        """``robust accuracy 0.652 < 0.700 (min_accuracy)``-style text."""
        return self.bound.describe(self.value, self.subgroup)


@dataclass
class Thresholds:
    """A thresholds file: a minimum ``metric`` per attack and budget, ``{"pgd-linf": {"2/255": 0.8}}``."""

    limits: dict[str, dict[float, float]] = field(default_factory=dict)
    metric: str = "robust_accuracy"
    labels: dict[float, str] = field(default_factory=dict)  # budget value -> as written in the file

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], source: str = "thresholds") -> Thresholds:
        """Read ``{metric?, thresholds: {attack: {budget: min}}}`` (or the inner mapping alone)."""
        metric = str(raw.get("metric", "robust_accuracy"))
        inner = raw.get("thresholds", {k: v for k, v in raw.items() if k != "metric"})
        if not isinstance(inner, Mapping):
            raise ConfigError(f"{source}: 'thresholds' must map attack names to {{budget: minimum}}")
        limits: dict[str, dict[float, float]] = {}
        labels: dict[float, str] = {}
        for attack, budgets in inner.items():
            if not isinstance(budgets, Mapping):
                raise ConfigError(f"{source}: {attack}: expected a mapping of budget to minimum {metric}")
            for eps, minimum in budgets.items():
                if isinstance(minimum, bool) or not isinstance(minimum, int | float):
                    raise ConfigError(f"{source}: {attack} at {eps}: minimum {minimum!r} is not a number")
                value = parse_budget(eps).value
                limits.setdefault(str(attack), {})[value] = float(minimum)
                labels.setdefault(value, str(eps))
        return cls(limits, metric, labels)

    def resolve(self, attacks: Sequence[str]) -> dict[tuple[str, float], Threshold]:
        """Per ``(attack label, eps)``, its threshold; ``pgd`` matches ``pgd-linf`` when unambiguous."""
        out: dict[tuple[str, float], Threshold] = {}
        for name, budgets in self.limits.items():
            matches = [name] if name in attacks else [a for a in attacks if a.split("-")[0] == name]
            label = matches[0] if len(matches) == 1 else name
            for eps, minimum in budgets.items():
                out[(label, round(eps, 12))] = Threshold.minimum(self.metric, minimum)
        return out

    def label(self, eps: float) -> str:
        """The budget as the file wrote it."""
        return next((v for k, v in self.labels.items() if abs(k - eps) < 1e-12), f"{eps:g}")


def missing_attack(name: str, evaluated: Sequence[str]) -> str:
    """A threshold on an attack the run does not have: say so and name the ones it has (a typo shows)."""
    return f"attack {name} is not in the results (has: {', '.join(evaluated) or 'none'})"


def load_thresholds(path: str | Path) -> Thresholds:
    """A thresholds file (YAML or JSON)."""
    return Thresholds.from_mapping(load_yaml_mapping(path, "thresholds"), str(path))
