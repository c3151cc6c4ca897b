"""The run manifest: config, seed, library versions, fingerprints, device, timings."""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import torch

LIBRARIES = (
    "medrobust",
    "torch",
    "torchvision",
    "numpy",
    "adversarial-robustness-toolbox",
    "monai",
    "pydicom",
    "nibabel",
    "pandas",
    "scikit-learn",
)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape the numbers."""
    out = {"python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def device_description(device: torch.device) -> dict[str, Any]:
    """The device in words: CPU model and threads, or GPU name."""
    info: dict[str, Any] = {"device": str(device), "platform": platform.platform(), "threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    else:
        info["cpu"] = platform.processor() or platform.machine()
    return info


def now() -> str:
    """UTC timestamp in ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
