"""The ``acquisition`` suite: the shifts that fit the images' modality, at severities 0..5, for a mean corruption error.

MedMNIST-C and ImageNet-C in one command, with the worst case beside the random draws: MRI
gets k-space artefacts (motion, ghosting, spikes) and the bias field, X-ray and CT noise,
blur, contrast, gamma, resolution and JPEG, ultrasound noise, blur, contrast, gamma and
JPEG, photographs (dermatology, pathology, fundus) blur, contrast, gamma, JPEG and, in
colour, saturation and hue. Each shift runs in the random mode (the mean over draws, as the
corruption benchmarks report) and, with ``mode="both"``, in the adversarial mode too.
"""

from __future__ import annotations

from collections.abc import Sequence

from medrobust.attacks.shifts import SHIFTS, Shift
from medrobust.attacks.suite import Suite
from medrobust.errors import ConfigError

NAME = "acquisition"
SEVERITIES: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
"""The budgets of an acquisition-suite run that names none: clean, then ImageNet-C's five severities."""
SUITE_MODES = ("random", "adversarial", "both")
COLOUR = ("saturation", "hue")
"""Shifts that need 3-channel images; the suite drops them for any other channel count."""

FAMILIES: dict[str, tuple[str, ...]] = {
    "mr": ("noise", "blur", "gamma", "bias_field", "downsample", "motion", "ghosting", "spike"),
    "radiograph": ("noise", "blur", "contrast", "gamma", "downsample", "jpeg"),
    "ultrasound": ("noise", "blur", "contrast", "gamma", "jpeg"),
    "photo": ("noise", "blur", "contrast", "gamma", "jpeg", "saturation", "hue"),
    "any": ("noise", "blur", "contrast", "gamma", "bias_field", "downsample", "jpeg"),
}
"""The shifts of each family of modalities, in report order."""

MODALITY_FAMILY: dict[str, str] = {
    **dict.fromkeys(("MR", "MRI"), "mr"),
    **dict.fromkeys(("CT", "DX", "CR", "MG", "XA", "RF", "RG", "PX", "IO", "PT", "NM", "XRAY", "X-RAY"), "radiograph"),
    "US": "ultrasound",
    **dict.fromkeys(("XC", "OP", "SM", "GM", "ES", "OPT", "EM", "PHOTO"), "photo"),
}
"""DICOM modality codes (and a few plain words) to their family; anything else gets ``any``."""


def family(modality: str | None) -> str:
    """The family of shifts for a DICOM modality code (``any`` when unknown)."""
    return MODALITY_FAMILY.get((modality or "").strip().upper(), "any")


def fitting_shifts(modality: str | None, channels: int | None) -> list[str]:
    """The names of the shifts that fit the modality and the channel count, in report order."""
    names = FAMILIES[family(modality)]
    return [n for n in names if channels == 3 or n not in COLOUR]


def acquisition_suite(
    modality: str | None = None,
    channels: int | None = None,
    *,
    mode: str = "both",
    shifts: Sequence[str] | None = None,
    draws: int = 5,
    steps: int = 5,
    seed: int = 0,
) -> Suite:
    """The suite of shifts that fit ``modality`` (a DICOM code) and ``channels``, in ``mode``.

    ``mode``: ``"random"`` (mean over ``draws`` seeded draws, the worst kept too), ``"adversarial"``
    (the worst case within each severity) or ``"both"``. ``shifts`` replaces the modality's list.
    The suite's own curve is, per sample and severity, the worst over all its members.
    """
    if mode not in SUITE_MODES:
        raise ConfigError(f"suite {NAME!r}: mode must be one of {', '.join(SUITE_MODES)}, got {mode!r}")
    names = list(shifts) if shifts is not None else fitting_shifts(modality, channels)
    unknown = [n for n in names if n not in SHIFTS]
    if unknown or not names:
        raise ConfigError(f"suite {NAME!r}: unknown shift(s) {unknown or names}; choose from {', '.join(SHIFTS)}")
    if channels is not None and channels != 3 and (colour := [n for n in names if n in COLOUR]):
        raise ConfigError(f"suite {NAME!r}: {', '.join(colour)} need 3-channel images, these have {channels}")
    modes = ("random", "adversarial") if mode == "both" else (mode,)
    members: list[Shift] = [SHIFTS[n](mode=m, draws=draws, steps=steps, seed=seed) for n in names for m in modes]
    return Suite(members, name=NAME, adaptive=False)


def is_acquisition(suite: object) -> bool:
    """Whether a suite (built, or as a spec: ``"acquisition"``, ``{"name": "acquisition", ...}``) is this one."""
    if isinstance(suite, Suite):
        return suite.name == NAME
    if isinstance(suite, dict):
        return suite.get("name") == NAME
    return suite == NAME
