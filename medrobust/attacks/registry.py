"""Attacks by name, for configs and the CLI: ``build_attack("pgd", norm="l2", steps=20)``.

The acquisition shifts (:mod:`medrobust.attacks.shifts`) are here too, by their names:
``build_attack("blur", mode="adversarial")``; their budgets are severities.

``art:<ClassName>`` builds any ART evasion attack through the bridge (``art:SquareAttack``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from medrobust.attacks.apgd import APGD
from medrobust.attacks.art_bridge import ArtAttack
from medrobust.attacks.base import Attack
from medrobust.attacks.fgsm import FGSM
from medrobust.attacks.pgd import PGD
from medrobust.attacks.shifts import SHIFTS
from medrobust.attacks.square import Square
from medrobust.errors import ConfigError

AttackFactory = Callable[..., Attack]
_REGISTRY: dict[str, AttackFactory] = {"fgsm": FGSM, "pgd": PGD, "apgd": APGD, "square": Square, **SHIFTS}
ART_PREFIX = "art:"


def register(name: str, factory: AttackFactory) -> None:
    """Make an attack available by ``name`` in configs and the CLI."""
    _REGISTRY[name.lower()] = factory


def available() -> list[str]:
    """Names accepted by :func:`build_attack`."""
    return sorted(_REGISTRY)


def build_attack(name: str, **params: Any) -> Attack:
    """Build the attack called ``name`` with ``params``; clear errors for unknown names."""
    factory: AttackFactory | None
    if name.lower().startswith(ART_PREFIX):
        factory = functools.partial(ArtAttack, name[len(ART_PREFIX) :])
    else:
        factory = _REGISTRY.get(name.lower())
    if factory is None:
        raise ConfigError(f"unknown attack {name!r}; choose from {', '.join(available())} or art:<ART class name>")
    try:
        return factory(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"attack {name!r}: {exc}") from None
