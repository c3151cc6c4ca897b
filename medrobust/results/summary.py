"""The typed summary of one sweep: ``Summary`` -> ``Curve`` -> ``BudgetPoint``, against the schema.

``summary.json`` is :meth:`Summary.to_json`; :meth:`Summary.from_json` reads it back. This is
the one place where undefined metrics (NaN, infinity) become JSON ``null`` and back. Every
record also answers ``record["field"]`` and ``record.get("field")`` so code written against
the 1.x dict summary keeps working; new code reads attributes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from medrobust.errors import DataError
from medrobust.results.folder import SUMMARY

SCHEMA_VERSION = "1.2"
SCHEMA_FILE = Path(__file__).with_name("summary.schema.json")


def _to_float(v: Any) -> float:
    return math.nan if v is None else float(v)


def _to_json_number(v: float) -> float | None:
    return v if math.isfinite(v) else None


Metric = Annotated[float, BeforeValidator(_to_float), PlainSerializer(_to_json_number, return_type=float | None)]
"""A float that may be undefined: NaN in Python, ``null`` in JSON."""
Interval = tuple[Metric, Metric]
"""A 95% bootstrap interval ``(low, high)``; NaNs when not computed."""


class Record(BaseModel):
    """Base of every summary record: frozen, unknown fields kept (schema 1.x only adds fields)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Optional parts that are absent (``None`` by default) are left out, not written as null."""
        data: dict[str, Any] = handler(self)
        for name, f in type(self).model_fields.items():
            if f.default is None and data.get(name) is None:
                data.pop(name, None)
        return data

    def __getitem__(self, key: str) -> Any:
        """Dict-style read (``record["field"]``), for code written against the 1.x dict summary."""
        if key in type(self).model_fields or key in (self.model_extra or {}):
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style read with a default."""
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        """Dict-style membership: an optional part that is absent (``None``) is not in the record."""
        if not isinstance(key, str):
            return False
        if key in (self.model_extra or {}):
            return True
        f = type(self).model_fields.get(key)
        return f is not None and not (f.default is None and getattr(self, key) is None)

    def keys(self) -> list[str]:
        """Field names, declared then extra."""
        return [*type(self).model_fields, *(self.model_extra or {})]

    def items(self) -> Iterator[tuple[str, Any]]:
        """``(name, value)`` pairs, values as attributes (records stay records)."""
        return ((k, self[k]) for k in self.keys())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (NaN written as ``None``)."""
        return self.model_dump(mode="json")


class Passes(Record):
    """A random model's single passes at one point: how many, their mean accuracy, the worst one's."""

    count: int = 0
    mean_accuracy: Metric = math.nan
    worst_accuracy: Metric = math.nan


class Metrics(Record):
    """Point metrics and intervals for one set of rows (clean, or one attack at one budget)."""

    n: int = 0
    accuracy: Metric = math.nan
    accuracy_ci: Interval = (math.nan, math.nan)
    auroc: Metric = math.nan
    auroc_ci: Interval = (math.nan, math.nan)
    sensitivity: Metric = math.nan
    specificity: Metric = math.nan
    per_class: dict[str, Metric] = {}
    per_label_auroc: dict[str, Metric] | None = None
    passes: Passes | None = None


class BudgetPoint(Record):
    """One attack at one budget: robust accuracy, the drop, the clinical metrics, mean norms."""

    eps: float = 0.0
    label: str = ""
    label_255: str = ""
    robust_accuracy: Metric = math.nan
    robust_accuracy_ci: Interval = (math.nan, math.nan)
    drop: Metric = math.nan
    relative_drop: Metric = math.nan
    mean_linf: Metric = math.nan
    mean_l2: Metric = math.nan
    n: int = 0
    success_rate: Metric = math.nan
    auroc: Metric = math.nan
    auroc_ci: Interval = (math.nan, math.nan)
    sensitivity: Metric = math.nan
    specificity: Metric = math.nan
    per_class: dict[str, Metric] = {}
    per_label_auroc: dict[str, Metric] | None = None
    passes: Passes | None = None


class Curve(Record):
    """One attack over the budgets (ascending), with area and minimal-budget statistics."""

    budgets: list[BudgetPoint] = []
    curve_area: Metric = math.nan
    median_min_budget: Metric = math.nan
    broken_fraction: Metric = math.nan

    def at(self, eps: float) -> BudgetPoint:
        """The point at budget ``eps`` (matched within 1e-9)."""
        for b in self.budgets:
            if abs(b.eps - eps) < 1e-9:
                return b
        raise KeyError(f"budget {eps} not evaluated")

    def labelled(self, label: str) -> BudgetPoint | None:
        """The point whose label (``2/255``) or 1/255 label is ``label``, if any."""
        return next((b for b in self.budgets if label in (b.label, b.label_255)), None)

    @property
    def last(self) -> BudgetPoint | None:
        """The point at the largest budget."""
        return self.budgets[-1] if self.budgets else None


class Group(Record):
    """One subgroup value: its size, clean accuracy and robust accuracy per attack and budget label."""

    n: int = 0
    clean_accuracy: Metric = math.nan
    robust_accuracy: dict[str, dict[str, Metric]] = {}


class Subgroup(Record):
    """Metrics split by one metadata column; ``error`` instead when the column is missing."""

    groups: dict[str, Group] = {}
    clean_gap: Metric = math.nan
    gap: dict[str, dict[str, Metric]] = {}
    error: str | None = None


class TrustWarning(Record):
    """A sign that the evaluation itself cannot be trusted."""

    code: str
    message: str


class AttackInfo(Record):
    """What the checks need to know of an attack: its norm, whether it is black-box, suite members."""

    norm: str = "linf"
    black_box: bool = False
    strength: int = 1
    queries: int | None = None
    members: list[str] | None = None


class Determinism(Record):
    """Two identical forward passes compared on the probe batch."""

    probed: int = 0
    deterministic: bool = True
    max_abs_diff: Metric = 0.0


class Gradients(Record):
    """Input-gradient statistics on the probe batch."""

    probed: int = 0
    zero_share: Metric = math.nan
    vanishing_share: Metric = math.nan
    margin_vanishing_share: Metric = math.nan
    median_max_abs: Metric = math.nan


class AdaptiveOption(Record):
    """An adaptive option a suite added on its own: to which members, and why."""

    suite: str
    option: str
    members: list[str] = []
    reason: str = ""


class TrustContext(Record):
    """What the trust checks read beyond the curves (see :mod:`medrobust.engine.trust`)."""

    chance: Metric = math.nan
    known_robust: bool = False
    bounds: tuple[float, float] = (0.0, 1.0)
    attacks: dict[str, AttackInfo] = {}
    suites: dict[str, list[str]] = {}
    determinism: Determinism | None = None
    gradients: Gradients | None = None
    adaptive: list[AdaptiveOption] = []


class ShiftError(Record):
    """One shift in one mode of the acquisition suite: its errors per severity and how they compare.

    ``errors``: per severity above 0, one minus the mean accuracy over the draws (random mode)
    or the worst-case accuracy (adversarial). ``relative_drop``: clean accuracy minus the
    mean accuracy over the severities, over the clean accuracy. ``ce`` and ``relative_ce``:
    ImageNet-C's corruption error against the reference run (NaN without one).
    """

    shift: str = ""
    mode: str = ""
    errors: list[Metric] = []
    clean_error: Metric = math.nan
    relative_drop: Metric = math.nan
    ce: Metric = math.nan
    relative_ce: Metric = math.nan


class ModeCorruption(Record):
    """The means over the shifts of one mode: mCE, relative mCE (with a reference) and relative drop."""

    shifts: int = 0
    mce: Metric = math.nan
    relative_mce: Metric = math.nan
    mean_relative_drop: Metric = math.nan


class Corruption(Record):
    """The acquisition suite's mean corruption error (ImageNet-C, MedMNIST-C), per mode and per shift."""

    severities: list[float] = []
    reference: dict[str, str] | None = None
    """The reference run: its model's name and fingerprint and its run key (no paths)."""
    modes: dict[str, ModeCorruption] = {}
    shifts: dict[str, ShiftError] = {}


class Summary(Record):
    """The summary of one sweep (``summary.json``, schema 1.x)."""

    schema_version: str = SCHEMA_VERSION
    task: str = "multiclass"
    label_names: list[str] = []
    n: int = 0
    clean: Metrics = Metrics()
    attacks: dict[str, Curve] = {}
    subgroups: dict[str, Subgroup] = {}
    warnings: list[TrustWarning] = []
    trust: TrustContext | None = None
    corruption: Corruption | None = None

    def attack_name(self, attack: str) -> str:
        """Resolve ``pgd`` to ``pgd-linf``, ``apgd-ce-bpda`` to ``apgd-ce-bpda-linf`` (and ``pgd+quantised`` to
        ``pgd-linf+quantised``) when unambiguous: the label without its norm first, else its first word."""
        if attack in self.attacks:
            return attack
        name, plus, variant = attack.partition("+")
        same = [n for n in self.attacks if n.partition("+")[1:] == (plus, variant)]
        matches = [n for n in same if n.partition("+")[0].rsplit("-", 1)[0] == name]
        matches = matches or [n for n in same if n.split("-")[0] == name]
        if len(matches) != 1:
            raise KeyError(f"attack {attack!r} not in results ({', '.join(self.attacks)})")
        return matches[0]

    def curve(self, attack: str) -> Curve:
        """The curve of ``attack`` (a label like ``pgd-linf`` or a prefix like ``pgd``)."""
        return self.attacks[self.attack_name(attack)]

    def with_warnings(self, warnings: list[TrustWarning]) -> Summary:
        """A copy carrying ``warnings`` (the summary itself never changes)."""
        return self.model_copy(update={"warnings": list(warnings)})

    def to_json(self, indent: int | None = 2) -> str:
        """``summary.json`` text: NaN and infinity as ``null``, keys in schema order."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | Summary, where: str = "summary") -> Summary:
        """Validate a dict summary (``null`` metrics become NaN); a clear error names ``where``."""
        if isinstance(data, Summary):
            return data
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
            raise DataError(where, f"not a medrobust summary ({problems})") from None

    @classmethod
    def from_json(cls, text: str, where: str = SUMMARY) -> Summary:
        """Read ``summary.json`` text; refuse another major schema version."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(where, f"unreadable JSON: {exc}") from None
        if not isinstance(data, dict):
            raise DataError(where, "not a medrobust summary (not a JSON object)")
        version = str(data.get("schema_version", ""))
        if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise DataError(where, f"summary schema {version or '?'} is not {SCHEMA_VERSION.split('.')[0]}.x")
        return cls.from_dict(data, where)


SummaryLike = Summary | Mapping[str, Any]
"""What the renderers accept: the typed summary, or a 1.x dict summary."""
