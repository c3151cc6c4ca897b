"""The run configuration: YAML file and CLI flags, validated with pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medrobust.attacks.budgets import parse_budgets
from medrobust.attacks.registry import available as attack_names
from medrobust.errors import ConfigError
from medrobust.io import load_yaml_mapping, set_dotted


class ModelConfig(BaseModel):
    """Which model to load and how to wrap it (see :func:`medrobust.models.registry.build_model`)."""

    model_config = ConfigDict(extra="allow")
    kind: str = "demo"
    name: str | None = None
    weights: Path | None = None
    num_classes: int = Field(default=2, ge=1)
    in_channels: int = Field(default=1, ge=1)
    spatial_dims: Literal[2, 3] = 2
    head: Literal["multiclass", "binary", "multilabel"] = "multiclass"
    threshold: float = Field(default=0.5, gt=0, lt=1)
    mean: list[float] | None = None
    std: list[float] | None = None
    channels: int | None = None

    @field_validator("weights")
    @classmethod
    def _exists(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"weights file {v} does not exist")
        return v


class DataConfig(BaseModel):
    """Which data to read; options beyond ``kind`` go to the dataset's builder."""

    model_config = ConfigDict(extra="allow")
    kind: str = "synthetic"


class RunConfig(BaseModel):
    """Everything ``medrobust run`` needs."""

    model_config = ConfigDict(extra="forbid")
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    attacks: list[str | dict[str, Any]] = ["fgsm", "pgd"]
    eps: list[int | float | str] = [0, "1/255", "2/255", "4/255", "8/255"]
    n: int | None = Field(default=None, gt=0)
    batch_size: int = Field(default=256, gt=0)
    seed: int = 0
    subgroups: list[str] = []
    out: Path = Path("medrobust-results/run")
    device: str = "auto"
    bootstrap: int = Field(default=200, ge=0)
    resume: bool = True
    suite: str | dict[str, Any] | None = None
    strict: bool = False
    known_robust: bool = False
    schedule: Literal["ascending", "parallel"] = "ascending"
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool = False

    @field_validator("suite")
    @classmethod
    def _suite(cls, v: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        from medrobust.attacks.suite import SUITES

        name = v if isinstance(v, str) or v is None else v.get("name")
        if v is not None and name not in SUITES:
            raise ValueError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
        return v

    @field_validator("eps")
    @classmethod
    def _budgets(cls, v: list[int | float | str]) -> list[int | float | str]:
        try:
            parse_budgets(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("attacks")
    @classmethod
    def _attacks(cls, v: list[str | dict[str, Any]]) -> list[str | dict[str, Any]]:
        if not v:
            raise ValueError("at least one attack is needed")
        for a in v:
            name = a if isinstance(a, str) else a.get("name")
            if not isinstance(name, str):
                raise ValueError(f"attack {a!r} has no name")
            base = name.split(":")[0].lower()
            if base not in attack_names() and not base.startswith("art"):
                raise ValueError(f"unknown attack {name!r}; choose from {', '.join(attack_names())}")
        return v


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a YAML config (optional), apply flag overrides, validate; clear errors on failure."""
    raw: dict[str, Any] = load_yaml_mapping(path) if path is not None else {}
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value)
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}invalid configuration: {problems}") from None
