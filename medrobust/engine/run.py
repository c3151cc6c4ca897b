"""Turn a validated :class:`RunConfig` into a sweep: build data and model, hand the spec to evaluate."""

from __future__ import annotations

from typing import Any

import torch

from medrobust.datasets.registry import build_dataset
from medrobust.engine.config import RunConfig
from medrobust.engine.evaluate import evaluate
from medrobust.errors import ConfigError
from medrobust.models.registry import build_model, check_device
from medrobust.results.results import Results


def resolve_device(name: str) -> str:
    """``auto`` picks CUDA when available; any other name must be a device this machine has (else ConfigError)."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return check_device(name)


def run_config(cfg: RunConfig, progress: bool = True, allow_code: bool = False) -> Results:
    """Run the sweep that ``cfg`` describes and write its results folder.

    ``allow_code`` lets a ``python`` model kind run the code it names; it is never read from the config.
    A network medrobust builds needs weights, or ``model.random_init`` (seeded from the run's seed).
    """
    m = cfg.model
    m.check_weights()  # before any data is read
    params: dict[str, Any] = dict(m.model_extra or {})
    if "allow_code" in params:
        raise ConfigError("model.allow_code cannot be set in a configuration file: pass --allow-code to trust it")
    if "init_seed" in params:
        raise ConfigError("model.init_seed is not an option: --random-init seeds the network from the run's seed")
    data_params: dict[str, Any] = dict(cfg.data.model_extra or {})
    data = build_dataset(cfg.data.kind, **data_params)
    sample = data[0][0]
    model = build_model(
        m.kind,
        name=m.name,
        weights=m.weights,
        num_classes=m.num_classes,
        in_channels=m.in_channels,
        spatial_dims=m.spatial_dims,
        head=m.head,
        threshold=m.threshold,
        mean=m.mean,
        std=m.std,
        channels=m.channels,
        bounds=data.info.bounds,
        input_shape=tuple(sample.shape),
        device=resolve_device(cfg.device),
        allow_code=allow_code,
        init_seed=cfg.seed if m.random_init else None,
        stages=data.info.stages,
        **params,
    )
    return evaluate(
        model,
        data,
        spec=cfg.spec(),
        out_dir=cfg.out,
        write_adversarial=cfg.write_adversarial,
        resume=cfg.resume,
        overwrite=cfg.overwrite,
        progress=progress,
        config={"run_config": cfg.provenance()},
        executor=cfg.ray if cfg.executor == "ray" else None,
    )
