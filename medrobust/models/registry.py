"""Models by kind, for configs and the CLI: torchvision, MONAI, TorchScript, a small CNN, the demo."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medrobust.datasets.file_space import Stage
from medrobust.errors import ConfigError, ModelError
from medrobust.models.adapter import ModelAdapter
from medrobust.models.checkpoints import load_weights
from medrobust.models.loaders import monai_model, torchscript_model, torchvision_model
from medrobust.models.small_cnn import SmallCNN

MODEL_KINDS = ("demo", "smallcnn", "torchvision", "monai", "torchscript", "python")
BUILT_KINDS = ("smallcnn", "torchvision", "monai")
"""Kinds whose network medrobust builds itself: without a weights file its weights are random."""
ALLOW_CODE_ENV = "MEDROBUST_ALLOW_CODE"
"""Set to 1 to allow the ``python`` model kind without ``--allow-code`` (your own machine, your own configs)."""


def build_model(
    kind: str,
    *,
    name: str | None = None,
    weights: str | Path | None = None,
    num_classes: int = 2,
    in_channels: int = 1,
    spatial_dims: int = 2,
    head: str = "multiclass",
    threshold: float = 0.5,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    channels: int | None = None,
    bounds: tuple[float, float] = (0.0, 1.0),
    input_shape: Sequence[int] | None = None,
    device: str = "cpu",
    allow_code: bool = False,
    init_seed: int | None = None,
    stages: Sequence[Stage] = (),
    **extra: Any,
) -> ModelAdapter:
    """Build and wrap a model. ``num_classes`` is the number of logits the model returns.

    Kind ``python`` imports and calls code named by the config, so it needs ``allow_code``
    (``--allow-code``) or ``MEDROBUST_ALLOW_CODE=1``: a config file alone cannot run code.
    ``init_seed`` seeds the random initial weights of a :data:`BUILT_KINDS` network (the global
    random state is left as it was); one built without a weights file is then marked
    ``random_init`` in its description, the smoke test of ``medrobust run --random-init``.
    """
    device = check_device(device)
    if kind == "demo":
        from medrobust.models.demo import demo_model

        return demo_model(seed=int(extra.pop("seed", 0)))
    net: nn.Module
    if kind in BUILT_KINDS:
        with _seeded(init_seed):
            net = _built(kind, name, weights, num_classes, in_channels, spatial_dims, extra)
    elif kind == "torchscript":
        net = torchscript_model(_need(weights, kind), device)
    elif kind == "python":
        if not (allow_code or os.environ.get(ALLOW_CODE_ENV, "") in ("1", "true", "yes")):
            raise ConfigError(
                f"model kind 'python' imports and runs {name!r}, code named by the configuration; allow it with "
                f"--allow-code or {ALLOW_CODE_ENV}=1, and only for a configuration you trust"
            )
        net = _from_python(_need(name, kind), extra)
        extra = {}
        if weights:
            load_weights(net, weights)
    else:
        raise ConfigError(f"unknown model kind {kind!r}; choose from {', '.join(MODEL_KINDS)}")
    if extra:
        raise ConfigError(f"model kind {kind!r}: unexpected options {sorted(extra)}")
    adapter = ModelAdapter(
        net,
        head,
        num_outputs=num_classes,
        bounds=bounds,
        mean=mean,
        std=std,
        channels=channels,
        input_shape=input_shape,
        threshold=threshold,
        device=device,
        name=name or kind,
        stages=stages,
    )
    adapter.random_init = kind in BUILT_KINDS and not weights and init_seed is not None
    return adapter


def _built(
    kind: str,
    name: str | None,
    weights: str | Path | None,
    num_classes: int,
    in_channels: int,
    spatial_dims: int,
    extra: dict[str, Any],
) -> nn.Module:
    """A :data:`BUILT_KINDS` network, its weights loaded from ``weights`` when given."""
    if kind == "torchvision":
        return torchvision_model(_need(name, kind), num_classes, in_channels, weights)
    if kind == "monai":
        return monai_model(_need(name, kind), num_classes, in_channels, spatial_dims, weights)
    net = SmallCNN(in_channels, num_classes, spatial_dims, width=int(extra.pop("width", 16)))
    if weights:
        load_weights(net, weights)
    return net


@contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Draw the initial weights from ``seed`` (CPU generator), restoring the caller's random state after."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def available_devices() -> list[str]:
    """The devices this machine has: ``cpu``, each ``cuda:<i>``, and ``mps`` where present."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def check_device(name: str) -> str:
    """``name`` when this machine has that device (``auto``: CUDA if present); else a clear :class:`ConfigError`."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    here = available_devices()
    hint = f"devices here: {', '.join(here)} (or auto)"
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"device {name!r} is not a device name; {hint}") from None
    if dev.type == "cpu":
        return name
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {name!r}: CUDA is not available on this machine; {hint}")
        if (dev.index or 0) >= count:
            raise ConfigError(f"device {name!r}: this machine has {count} CUDA device(s); {hint}")
        return name
    if dev.type == "mps" and "mps" in here:
        return name
    raise ConfigError(f"device {name!r} is not available on this machine; {hint}")


def _need(value: Any, kind: str) -> Any:
    if value is None:
        raise ConfigError(f"model kind {kind!r} needs {'weights (a file)' if kind == 'torchscript' else 'a name'}")
    return value


def _from_python(target: str, params: dict[str, Any]) -> nn.Module:
    """Call ``package.module:factory(**params)``: the user's own code builds the network."""
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ConfigError(f"python model {target!r} must look like 'package.module:factory'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"python model {target!r}: {exc}") from None
    net = factory(**params)
    if not isinstance(net, nn.Module):
        raise ModelError(f"python model {target!r} returned {type(net).__name__}, not a torch.nn.Module")
    return net
