"""Attacks by name, for configs and the CLI: ``build_attack("pgd", norm="l2", steps=20)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from medrobust.attacks.base import Attack
from medrobust.attacks.fgsm import FGSM
from medrobust.attacks.pgd import PGD
from medrobust.errors import ConfigError

AttackFactory = Callable[..., Attack]
_REGISTRY: dict[str, AttackFactory] = {"fgsm": FGSM, "pgd": PGD}


def register(name: str, factory: AttackFactory) -> None:
    """Make an attack available by ``name`` in configs and the CLI."""
    _REGISTRY[name.lower()] = factory


def available() -> list[str]:
    """Names accepted by :func:`build_attack`."""
    return sorted(_REGISTRY)


def build_attack(name: str, **params: Any) -> Attack:
    """Build the attack called ``name`` with ``params``; clear errors for unknown names."""
    factory = _REGISTRY.get(name.lower())
    if factory is None:
        raise ConfigError(f"unknown attack {name!r}; choose from {', '.join(available())}")
    try:
        return factory(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"attack {name!r}: {exc}") from None
