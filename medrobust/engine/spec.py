"""The run specification: one frozen, validated record of what a sweep does, and every default.

The CLI, YAML configs, nightly suite cells, the pytest plugin and :func:`medrobust.evaluate`
all build a :class:`RunSpec` and hand it whole to the engine; nothing is re-typed on the way.
Its defaults below are the only ones in the code base.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator, model_validator

from medrobust.attacks.acquisition import SEVERITIES, is_acquisition
from medrobust.attacks.base import Attack
from medrobust.attacks.budgets import parse_budgets
from medrobust.attacks.registry import available as attack_names
from medrobust.errors import ConfigError
from medrobust.io import validated, validation_problems

AttackSpec = Attack | str | dict[str, Any]

DEFAULT_ATTACKS: tuple[str, ...] = ("fgsm", "pgd")
"""The attacks of a run that names none."""

DEFAULT_BUDGETS: tuple[int | str, ...] = (0, "1/255", "2/255", "4/255", "8/255")
"""The budgets of a run that names none: L-inf 0..8/255 of the image's range."""

Schedule = Literal["ascending", "parallel"]
Precision = Literal["fp32", "bf16"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)
PRECISIONS: tuple[str, ...] = get_args(Precision)


class SweepOptions(BaseModel):
    """How the sweep spends the device; the defaults are right on a CPU.

    ``schedule``: ``"ascending"`` attacks the still-robust samples budget after budget;
    ``"parallel"`` attacks them at every remaining budget in one batch (more work, fewer
    and larger batches: pays only where the device would otherwise idle), then applies the
    same rule, so the curve stays monotone. ``precision="bf16"`` runs the model's passes
    under autocast; ``channels_last`` stores images and conv weights channels-last during
    each batch (the network is handed back in its own layout). Check both against fp32
    before trusting them (``benchmarks/sweep_vs_peers.py`` does).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    schedule: Schedule = "ascending"
    precision: Precision = "fp32"
    channels_last: bool = False

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:  # built in code: the project's clear error, not pydantic's
            raise ConfigError(validation_problems(exc)) from None

    def changed(self) -> dict[str, object]:
        """The speed options that differ from the defaults (for the run record and its key)."""
        return {k: getattr(self, k) for k, f in SweepOptions.model_fields.items() if getattr(self, k) != f.default}

    def sweep_options(self) -> SweepOptions:
        """Only the speed options (a :class:`RunSpec` is also a :class:`SweepOptions`)."""
        return SweepOptions(**{k: getattr(self, k) for k in SweepOptions.model_fields})


class RunSpec(SweepOptions):
    """What a sweep does: attacks, budgets, sampling, subgroups, bootstrap and speed options.

    ``attacks`` are names (``"pgd"``), mappings (``{"name": "pgd", "steps": 20}``) or
    :class:`~medrobust.attacks.base.Attack` objects; ``eps`` ascending budgets (``"2/255"``
    is relative to the image range); ``suite`` adds the strong suite and its worst-case
    curve; ``known_robust`` silences the trust check that expects accuracy to fall;
    ``allow_large_budgets`` turns the error for a budget beyond the bounds' range into a warning;
    ``random_passes``: when the model's outputs are random, each example is judged by this many
    fresh passes (their mean prediction, and each pass's accuracy). ``batch_size`` ``None``
    (``"auto"``) is chosen by :func:`medrobust.engine.resources.auto_batch_size` when planned.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    attacks: tuple[AttackSpec, ...] = DEFAULT_ATTACKS
    eps: tuple[int | float | str, ...] = DEFAULT_BUDGETS
    n: int | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, gt=0)
    """``None`` (or ``"auto"``): sized from the input and the memory when the run is planned."""
    seed: int = 0
    subgroups: tuple[str, ...] = ()
    bootstrap: int = Field(default=200, ge=0)
    suite: Any = None
    known_robust: bool = False
    allow_large_budgets: bool = False
    random_passes: int = Field(default=16, ge=2, le=62)
    reference: str | None = None

    @classmethod
    def build(cls, base: RunSpec | None = None, **changes: Any) -> RunSpec:
        """``base`` (or the defaults) with ``changes`` applied; ``None`` values are ignored.

        Unknown names and invalid values raise one :class:`ConfigError` that names them.
        """
        given = {k: v for k, v in changes.items() if v is not None}
        unknown = sorted(set(given) - set(RunSpec.model_fields))
        if unknown:
            raise ConfigError(f"unknown run option(s) {', '.join(unknown)}; known: {', '.join(RunSpec.model_fields)}")
        kept = [k for k in RunSpec.model_fields if k in base.model_fields_set] if base is not None else []
        raw = {**{k: getattr(base, k) for k in kept}, **given}  # what base left unset keeps its default
        return validated(RunSpec, raw, "invalid run options")

    def spec(self) -> RunSpec:
        """Only the run specification (a config subclass adds where the model and data come from)."""
        return RunSpec.build(self)

    @model_validator(mode="before")
    @classmethod
    def _acquisition_defaults(cls, data: Any) -> Any:
        """The acquisition suite with no attacks or budgets given: its shifts alone, at severities 0..5."""
        if isinstance(data, Mapping) and is_acquisition(data.get("suite")):
            return {"attacks": (), "eps": SEVERITIES, **data}
        return data

    @model_validator(mode="after")
    def _something_to_run(self) -> RunSpec:
        if not self.attacks and self.suite is None:
            raise ValueError("at least one attack is needed")
        return self

    @field_validator("batch_size", mode="before")
    @classmethod
    def _auto_batch(cls, v: Any) -> Any:
        return None if isinstance(v, str) and v.strip().lower() == "auto" else v

    @field_validator("eps")
    @classmethod
    def _budgets(cls, v: tuple[int | float | str, ...]) -> tuple[int | float | str, ...]:
        try:
            parse_budgets(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("attacks")
    @classmethod
    def _attacks(cls, v: tuple[AttackSpec, ...]) -> tuple[AttackSpec, ...]:
        for a in v:
            if isinstance(a, Attack):
                continue
            name = a if isinstance(a, str) else a.get("name") if isinstance(a, Mapping) else None
            if not isinstance(name, str):
                raise ValueError(f"attack {a!r} has no name")
            base = name.split(":")[0].lower()
            if base not in attack_names() and not base.startswith("art"):
                raise ValueError(f"unknown attack {name!r}; choose from {', '.join(attack_names())}")
        return v

    @field_validator("suite")
    @classmethod
    def _suite(cls, v: Any) -> Any:
        from medrobust.attacks.suite import SUITES, Suite

        if v is None or isinstance(v, Suite):
            return v
        name = v if isinstance(v, str) else v.get("name") if isinstance(v, Mapping) else None
        if name not in SUITES:
            raise ValueError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
        return v

    @field_serializer("attacks", "suite")
    def _describe(self, v: Any) -> Any:
        """Attack objects as their label, class and parameters (what the run key hashes)."""
        if isinstance(v, Attack):
            return {"label": v.label, "class": type(v).__name__, **v.describe()}
        if isinstance(v, tuple):
            return [self._describe(a) for a in v]
        return v
