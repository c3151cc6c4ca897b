"""The suite file of ``medrobust bench``: its schema (models, datasets, attack sets, budgets, gate) and loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from medrobust.attacks.acquisition import is_acquisition
from medrobust.attacks.shifts import SHIFTS
from medrobust.engine.ray_runtime import MAX_RETRIES, Resources
from medrobust.engine.spec import DEFAULT_ATTACKS, DEFAULT_BUDGETS
from medrobust.errors import ConfigError
from medrobust.io import load_yaml_mapping, set_dotted, validated

AXES = ("model", "dataset", "attacks", "budgets")
"""What an ``exclude`` rule may name."""


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


class AttackSet(BaseModel):
    """An attack set: its attacks, a suite (``strong``, ``acquisition``) and the budget lists it pairs with.

    Written as a plain list of attacks, or as a mapping with ``attacks``, ``suite`` and
    ``budgets`` (names of budget lists: acquisition shifts, whose budgets are severities,
    pair with a severity list only, without an ``exclude`` rule per L-p list).
    """

    model_config = ConfigDict(extra="forbid")
    attacks: list[str | dict[str, Any]] = []
    suite: str | dict[str, Any] | None = None
    budgets: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, v: Any) -> Any:
        return {"attacks": v} if isinstance(v, list) else v

    @model_validator(mode="after")
    def _something_to_run(self) -> AttackSet:
        if not self.attacks and self.suite is None:
            raise ValueError("an attack set needs attacks or a suite")
        return self

    def run_settings(self) -> dict[str, Any]:
        """What it sets in a cell's run configuration."""
        return {"attacks": self.attacks, **({"suite": self.suite} if self.suite is not None else {})}

    def has_shifts(self) -> bool:
        """Whether it holds acquisition shifts, whose budgets are severities, not L-p radii."""
        names = [spec if isinstance(spec, str) else str(spec.get("name", "")) for spec in self.attacks]
        return is_acquisition(self.suite) or any(n.split(":")[0].lower() in SHIFTS for n in names)


class Suite(BaseModel):
    """A suite file: named models, datasets, attack sets and budget lists, crossed into cells.

    ``models``/``datasets`` entries are ``medrobust run`` model/data sections, plus:
    ``datasets: [names]`` on a model (pair it with those datasets only), ``subgroups`` on a
    dataset, and ``optional: true`` on either (a cell whose inputs are missing is skipped,
    not an error). ``defaults`` holds run settings for every cell (n, batch_size, seed, ...).
    ``executor: ray`` runs the cells as Ray tasks, each reserving ``resources`` (a model's own
    ``resources`` override them) and retried ``max_retries`` times when its worker dies.
    Strings may use ``${VAR}`` and ``${VAR:-default}``.
    """

    model_config = ConfigDict(extra="forbid")
    name: str = "suite"
    out: Path = Path("medrobust-results/bench")
    defaults: dict[str, Any] = {}
    models: dict[str, dict[str, Any]]
    datasets: dict[str, dict[str, Any]]
    attack_sets: dict[str, AttackSet] = {"default": AttackSet(attacks=list(DEFAULT_ATTACKS))}
    budgets: dict[str, list[float | str]] = {"default": list(DEFAULT_BUDGETS)}
    exclude: list[dict[str, str]] = []
    gate: Gate = Gate()
    executor: Literal["serial", "ray"] = "serial"
    ray_address: str | None = None
    resources: Resources = Resources()
    max_retries: int = Field(default=MAX_RETRIES, ge=0)


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
    for name, attack_set in suite.attack_sets.items():
        missing = [b for b in attack_set.budgets or [] if b not in suite.budgets]
        if missing:
            raise ConfigError(f"{p}: attack set {name!r} names unknown budget list(s) {missing}")
        if attack_set.budgets is None and attack_set.has_shifts() and len(suite.budgets) > 1:
            raise ConfigError(
                f"{p}: attack set {name!r} holds acquisition shifts, whose budgets are severities: name the "
                f"budget list(s) it pairs with (budgets: [...], one of {', '.join(suite.budgets)})"
            )
    return suite
