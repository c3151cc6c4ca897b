"""Build classifiers by name (torchvision, MONAI) or from a TorchScript file."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from medrobust.errors import ModelError
from medrobust.models.checkpoints import load_weights

TORCHVISION_MODELS = ("resnet18", "resnet34", "resnet50", "densenet121", "efficientnet_b0")
MONAI_MODELS = ("DenseNet121", "DenseNet169", "ResNet18", "ResNet34", "ResNet50", "EfficientNetBN")


def torchvision_model(
    name: str, num_classes: int, in_channels: int = 3, weights: str | Path | None = None
) -> nn.Module:
    """A torchvision architecture with its first conv and classifier sized to the task.

    Weights come from a local state-dict file only (never downloaded here).
    """
    import torchvision.models as tvm

    if name not in TORCHVISION_MODELS:
        raise ModelError(f"unknown torchvision model {name!r}; choose from {TORCHVISION_MODELS}")
    model: nn.Module = getattr(tvm, name)(weights=None, num_classes=num_classes)
    if in_channels != 3:
        _replace_first_conv(model, in_channels)
    if weights is not None:
        load_weights(model, weights)
    return model


def monai_model(
    name: str,
    num_classes: int,
    in_channels: int = 1,
    spatial_dims: int = 2,
    weights: str | Path | None = None,
) -> nn.Module:
    """A MONAI network by name, 2D or 3D (``spatial_dims``), weights from a local file."""
    from monai.networks import nets

    if name not in MONAI_MODELS:
        raise ModelError(f"unknown MONAI model {name!r}; choose from {MONAI_MODELS}")
    if spatial_dims not in (2, 3):
        raise ModelError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    model: nn.Module
    if name.startswith("DenseNet"):
        model = getattr(nets, name)(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=num_classes)
    elif name.startswith("ResNet"):  # MONAI builds ResNets with lower-case factories
        model = getattr(nets, name.lower())(
            spatial_dims=spatial_dims, n_input_channels=in_channels, num_classes=num_classes
        )
    else:
        model = nets.EfficientNetBN(
            "efficientnet-b0",
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            num_classes=num_classes,
            pretrained=False,
        )
    if weights is not None:
        load_weights(model, weights)
    return model


def torchscript_model(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Load a TorchScript file (no pickle involved)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: TorchScript file not found")
    try:
        return torch.jit.load(str(path), map_location=device)
    except Exception as exc:
        raise ModelError(f"{path}: not a TorchScript file ({exc})") from None


def _replace_first_conv(model: nn.Module, in_channels: int) -> None:
    """Swap the first Conv2d for one with ``in_channels`` inputs, same geometry."""
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                new = nn.Conv2d(
                    in_channels,
                    child.out_channels,
                    kernel_size=child.kernel_size,  # type: ignore[arg-type]
                    stride=child.stride,  # type: ignore[arg-type]
                    padding=child.padding,  # type: ignore[arg-type]
                    bias=child.bias is not None,
                )
                setattr(parent, child_name, new)
                return
    raise ModelError(f"{type(model).__name__} has no Conv2d to adapt to {in_channels} channels")
