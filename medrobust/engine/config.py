"""The run configuration of ``medrobust run``: a :class:`RunSpec` plus model, data and output, from YAML and flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medrobust.engine.ray_runtime import RayOptions
from medrobust.engine.spec import RunSpec
from medrobust.errors import ConfigError
from medrobust.io import load_yaml_mapping, set_dotted, validated
from medrobust.models.registry import BUILT_KINDS
from medrobust.results.privacy import private_config

OUTSIDE_PROVENANCE = frozenset({"strict", "out", "resume", "overwrite", "write_adversarial", "executor", "ray"})
"""Run settings that change where or how the results are written, not what they are."""


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
    random_init: bool = False
    """Evaluate a seeded random network (a smoke test): a smallcnn, torchvision or monai model without weights."""

    @field_validator("weights")
    @classmethod
    def _exists(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"weights file {v} does not exist")
        return v

    def check_weights(self) -> None:
        """Refuse a network medrobust would build random (no weights file) unless ``random_init`` asks for one."""
        what = f"model {self.kind}" + (f" {self.name}" if self.name else "")
        if self.kind not in BUILT_KINDS:
            if self.random_init:
                raise ConfigError(
                    f"{what}: --random-init (model.random_init) is for {', '.join(BUILT_KINDS)} models built without "
                    f"weights; a {self.kind} model brings its own weights"
                )
        elif self.random_init and self.weights is not None:
            raise ConfigError(f"{what}: --random-init and --weights contradict each other: give one of them")
        elif not self.random_init and self.weights is None:
            raise ConfigError(
                f"{what} has no weights: pass --weights FILE, or --random-init for a smoke test on a seeded "
                "random network (in a config: model.weights, or model.random_init: true)"
            )


class DataConfig(BaseModel):
    """Which data to read; options beyond ``kind`` go to the dataset's builder."""

    model_config = ConfigDict(extra="allow")
    kind: str = "synthetic"


class RunConfig(RunSpec):
    """Everything ``medrobust run`` needs: the :class:`RunSpec` plus where model, data and results live."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    out: Path = Path("medrobust-results/run")
    device: str = "auto"
    resume: bool | None = None
    """None: reuse a run in ``out`` when model and attacks are fingerprinted reliably; True: always; False: never."""
    overwrite: bool = False
    """Replace the results of a different run found in ``out`` (else that is an error naming both run keys)."""
    strict: bool = False
    write_adversarial: Path | None = None
    """File-space DICOM data: write each quantised example back as DICOM into this folder (not the results)."""
    executor: Literal["serial", "ray"] = "serial"
    """Where the batches run: this process, or Ray workers (``ray``: how many shards, where, what each reserves)."""
    ray: RayOptions = RayOptions()

    def provenance(self) -> dict[str, Any]:
        """Where model and data came from, for the manifest and the run key (the spec is recorded apart).

        The output folders, the resume and overwrite flags and the executor are left out: a moved results
        folder still resumes, and a sharded run and a single-process one are the same run.
        """
        dumped = self.model_dump(
            mode="json",
            exclude=set(RunSpec.model_fields) | {*OUTSIDE_PROVENANCE},
        )
        return dict(private_config(dumped))  # paths hashed: folders and files may carry patient names


def load_config(
    path: str | Path | None, overrides: dict[str, Any] | None = None, flags: dict[str, str] | None = None
) -> RunConfig:
    """Read a YAML config (optional), apply flag overrides, validate; clear errors on failure.

    ``flags`` names the command-line flag behind each override key, so an error in it names the flag.
    """
    raw: dict[str, Any] = load_yaml_mapping(path) if path is not None else {}
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value)
    return validated(RunConfig, raw, f"{path}: invalid configuration" if path else "", flags)
