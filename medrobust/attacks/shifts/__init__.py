"""Acquisition shifts as attacks with a severity budget: intensity, resolution, k-space, JPEG and colour shifts.

``eps`` is read as a severity (0 the identity, 1..5 as in ImageNet-C), mapped per shift to a
physical parameter through its table; see :mod:`medrobust.attacks.shifts.base`.
"""

from medrobust.attacks.shifts.base import MODES, SEVERITY, Shift, severity_level
from medrobust.attacks.shifts.bias_field import BiasField
from medrobust.attacks.shifts.blur import Blur
from medrobust.attacks.shifts.contrast import Contrast
from medrobust.attacks.shifts.downsample import Downsample
from medrobust.attacks.shifts.gamma import Gamma
from medrobust.attacks.shifts.ghosting import Ghosting
from medrobust.attacks.shifts.hue import Hue
from medrobust.attacks.shifts.jpeg import JPEG
from medrobust.attacks.shifts.motion import Motion
from medrobust.attacks.shifts.noise import Noise
from medrobust.attacks.shifts.saturation import Saturation
from medrobust.attacks.shifts.spike import Spike

SHIFTS: dict[str, type[Shift]] = {
    cls.name: cls
    for cls in (Noise, Blur, Contrast, Gamma, BiasField, Downsample, Motion, Ghosting, Spike, JPEG, Saturation, Hue)
}
"""Every shift by its registry name."""

__all__ = [
    "JPEG",
    "MODES",
    "SEVERITY",
    "SHIFTS",
    "BiasField",
    "Blur",
    "Contrast",
    "Downsample",
    "Gamma",
    "Ghosting",
    "Hue",
    "Motion",
    "Noise",
    "Saturation",
    "Shift",
    "Spike",
    "severity_level",
]
