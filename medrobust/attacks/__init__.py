"""Attacks: native FGSM, PGD, APGD (L-inf, L2) and Square, the ART bridge, and a registry by name."""

from medrobust.attacks.apgd import APGD
from medrobust.attacks.art_bridge import ArtAttack, art
from medrobust.attacks.base import Attack, AttackOutput, LossFn
from medrobust.attacks.fgsm import FGSM
from medrobust.attacks.pgd import PGD
from medrobust.attacks.registry import available, build_attack, register
from medrobust.attacks.square import Square

__all__ = [
    "APGD",
    "FGSM",
    "PGD",
    "ArtAttack",
    "Attack",
    "AttackOutput",
    "LossFn",
    "Square",
    "art",
    "available",
    "build_attack",
    "register",
]
