"""Attacks: native FGSM and PGD (L-inf, L2), and a registry to build them by name."""

from medrobust.attacks.base import Attack, AttackOutput, LossFn
from medrobust.attacks.fgsm import FGSM
from medrobust.attacks.pgd import PGD
from medrobust.attacks.registry import available, build_attack, register

__all__ = [
    "FGSM",
    "PGD",
    "Attack",
    "AttackOutput",
    "LossFn",
    "available",
    "build_attack",
    "register",
]
