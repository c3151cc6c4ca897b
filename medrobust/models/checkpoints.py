"""Safe checkpoint loading: ``weights_only=True`` always, and a clear error otherwise."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from medrobust.errors import ModelError

_NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")


def load_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Load a state dict from ``path`` without unpickling arbitrary objects.

    Accepts a plain state dict or a checkpoint dict that nests one under a common key
    (``state_dict``, ``model``, ...). A ``module.`` prefix from DataParallel is stripped.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelError(
            f"{path}: checkpoint holds objects other than tensors and plain containers; "
            f"refusing to unpickle it (weights_only=True). Save model.state_dict() instead. ({exc})"
        ) from None
    except Exception as exc:
        raise ModelError(f"{path}: not a readable PyTorch checkpoint ({exc})") from None
    if isinstance(obj, Mapping):
        for key in _NESTED_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and _all_tensors(inner):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj or not _all_tensors(obj):
        raise ModelError(
            f"{path}: checkpoint is not a state dict (a mapping of parameter names to tensors); "
            f"got {type(obj).__name__}"
        )
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> nn.Module:
    """Load the state dict at ``path`` into ``model``, naming mismatched keys on failure."""
    state = load_state_dict(path)
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not fit {type(model).__name__}: {exc}") from None
    return model


def _all_tensors(mapping: Mapping[object, object]) -> bool:
    return all(isinstance(v, Tensor) for v in mapping.values())
