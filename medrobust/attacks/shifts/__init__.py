"""Acquisition shifts as attacks with a severity budget: noise, blur, contrast, gamma, bias field, downsampling.

``eps`` is read as a severity (0 the identity, 1..5 as in ImageNet-C), mapped per shift to a
physical parameter through its table; see :mod:`medrobust.attacks.shifts.base`.
"""

from medrobust.attacks.shifts.base import MODES, SEVERITY, Shift, severity_level
from medrobust.attacks.shifts.bias_field import BiasField
from medrobust.attacks.shifts.blur import Blur
from medrobust.attacks.shifts.contrast import Contrast
from medrobust.attacks.shifts.downsample import Downsample
from medrobust.attacks.shifts.gamma import Gamma
from medrobust.attacks.shifts.noise import Noise

SHIFTS: dict[str, type[Shift]] = {cls.name: cls for cls in (Noise, Blur, Contrast, Gamma, BiasField, Downsample)}
"""Every shift by its registry name."""

__all__ = [
    "MODES",
    "SEVERITY",
    "SHIFTS",
    "BiasField",
    "Blur",
    "Contrast",
    "Downsample",
    "Gamma",
    "Noise",
    "Shift",
    "severity_level",
]
