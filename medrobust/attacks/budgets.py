"""Perturbation budgets: parse numbers or ``"k/255"`` strings, validate, format."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

from medrobust.errors import ConfigError


@dataclass(frozen=True, order=True)
class Budget:
    """One budget: its value in image units and the label the user wrote."""

    value: float
    label: str

    def __str__(self) -> str:
        return self.label


def parse_budget(raw: float | int | str) -> Budget:
    """Parse ``0.03``, ``8``, ``"8/255"`` or ``"0.03"`` into a :class:`Budget`."""
    if isinstance(raw, bool):
        raise ConfigError(f"budget {raw!r} is not a number")
    if isinstance(raw, int | float):
        value = float(raw)
        label = _short(value)
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            if "/" in text:
                num, den = text.split("/")
                value = float(Fraction(num.strip()) / Fraction(den.strip()))
            else:
                value = float(text)
        except (ValueError, ZeroDivisionError):
            raise ConfigError(f"budget {raw!r} is not a number or a fraction like '2/255'") from None
        label = text
    else:
        raise ConfigError(f"budget {raw!r} is not a number")
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"budget {raw!r} must be a finite number >= 0")
    return Budget(value, label)


def parse_budgets(raw: Iterable[float | int | str]) -> list[Budget]:
    """Parse a budget list; it must be non-empty and strictly ascending."""
    budgets = [parse_budget(r) for r in raw]
    if not budgets:
        raise ConfigError("the budget list is empty")
    for prev, cur in pairwise(budgets):
        if cur.value <= prev.value:
            raise ConfigError(f"budgets must be strictly ascending: {prev.label} is followed by {cur.label}")
    return budgets


def as_255(value: float, bounds: Sequence[float] = (0.0, 1.0)) -> str:
    """Show a budget as ``k/255`` of the bounds' range (``""`` for other ranges)."""
    span = bounds[1] - bounds[0]
    if abs(span - 1.0) > 1e-9:
        return ""
    k = value * 255
    return f"{k:g}/255" if abs(k - round(k, 2)) < 1e-6 else f"{k:.2f}/255"


def _short(value: float) -> str:
    k = value * 255
    if value > 0 and abs(k - round(k)) < 1e-6 and value < 1:
        return f"{round(k)}/255"
    return f"{value:g}"
