"""One small adapter per peer library, each calling the peer's documented API.

Every tool answers the same question: for a batch ``x, y`` and one budget ``eps``, which
samples does the model still classify correctly after the attack? Peers attack every
sample at every budget independently (that is how they are used); medrobust runs its own
sweep over all budgets at once (see ``benchmarks.tools``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib import metadata
from typing import Any

import numpy as np
import torch
from torch import Tensor

from medrobust.models.adapter import ModelAdapter

ATTACKS = ("pgd", "fgsm")


class Peer(ABC):
    """A peer library bound to one model; ``robust`` attacks one batch at one budget."""

    name: str = "peer"
    package: str = ""

    def __init__(self, model: ModelAdapter, steps: int, rel_stepsize: float, batch_size: int) -> None:
        self.model = model
        self.steps = steps
        self.rel_stepsize = rel_stepsize
        self.batch_size = batch_size

    @property
    def version(self) -> str:
        """Installed version of the peer's package."""
        return metadata.version(self.package)

    @abstractmethod
    def robust(self, attack: str, x: Tensor, y: Tensor, eps: float) -> Tensor:
        """Bool (N,) on the host: correct after ``attack`` at budget ``eps``."""

    def _predict_correct(self, x_adv: Tensor, y: Tensor) -> Tensor:
        """One clean forward pass on the adversarial batch, as a user of the peer would do."""
        with torch.inference_mode():
            return (self.model(x_adv).argmax(dim=1) == y).cpu()


class TorchattacksPeer(Peer):
    """torchattacks ``PGD(model, eps, alpha, steps, random_start=True)`` and ``FGSM(model, eps)``."""

    name = "torchattacks"
    package = "torchattacks"

    def __init__(self, model: ModelAdapter, steps: int, rel_stepsize: float, batch_size: int) -> None:
        super().__init__(model, steps, rel_stepsize, batch_size)
        import torchattacks

        self.lib = torchattacks

    def robust(self, attack: str, x: Tensor, y: Tensor, eps: float) -> Tensor:
        torchattacks = self.lib
        atk: Any
        if attack == "pgd":
            atk = torchattacks.PGD(
                self.model, eps=eps, alpha=self.rel_stepsize * eps, steps=self.steps, random_start=True
            )
        else:
            atk = torchattacks.FGSM(self.model, eps=eps)
        return self._predict_correct(atk(x, y), y)


class FoolboxPeer(Peer):
    """foolbox ``LinfPGD(rel_stepsize, steps, random_start=True)`` and ``FGSM()`` on ``PyTorchModel(bounds=(0, 1))``.

    foolbox's own ``success`` flags (computed on the clipped adversarials) give the accuracy.
    """

    name = "foolbox"
    package = "foolbox"

    def __init__(self, model: ModelAdapter, steps: int, rel_stepsize: float, batch_size: int) -> None:
        super().__init__(model, steps, rel_stepsize, batch_size)
        import foolbox

        self.lib = foolbox
        self.fmodel = foolbox.PyTorchModel(model.eval(), bounds=(0.0, 1.0), device=model.device)

    def robust(self, attack: str, x: Tensor, y: Tensor, eps: float) -> Tensor:
        foolbox = self.lib
        atk: Any
        if attack == "pgd":
            atk = foolbox.attacks.LinfPGD(rel_stepsize=self.rel_stepsize, steps=self.steps, random_start=True)
        else:
            atk = foolbox.attacks.FGSM()
        _, _, success = atk(self.fmodel, x, y, epsilons=eps)
        return (~success).cpu()


class ArtPeer(Peer):
    """ART ``ProjectedGradientDescentPyTorch`` / ``FastGradientMethod`` on ``PyTorchClassifier(clip_values=(0, 1))``.

    ART works on numpy arrays; its own ``predict`` gives the accuracy.
    """

    name = "art"
    package = "adversarial-robustness-toolbox"

    def __init__(self, model: ModelAdapter, steps: int, rel_stepsize: float, batch_size: int) -> None:
        super().__init__(model, steps, rel_stepsize, batch_size)
        from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescentPyTorch
        from art.estimators.classification import PyTorchClassifier

        self.pgd_cls, self.fgm_cls = ProjectedGradientDescentPyTorch, FastGradientMethod

        assert model.input_shape is not None
        self.classifier = PyTorchClassifier(
            model=model.eval(),
            loss=torch.nn.CrossEntropyLoss(),
            input_shape=model.input_shape,
            nb_classes=model.head.num_logits,
            clip_values=(0.0, 1.0),
            device_type="gpu" if model.device.type == "cuda" else "cpu",
        )

    def robust(self, attack: str, x: Tensor, y: Tensor, eps: float) -> Tensor:
        atk: Any
        if attack == "pgd":
            atk = self.pgd_cls(
                self.classifier,
                norm=np.inf,
                eps=eps,
                eps_step=self.rel_stepsize * eps,
                max_iter=self.steps,
                num_random_init=1,
                batch_size=self.batch_size,
                verbose=False,
            )
        else:
            atk = self.fgm_cls(self.classifier, norm=np.inf, eps=eps, batch_size=self.batch_size)
        xn = x.detach().cpu().numpy()
        yn = y.detach().cpu().numpy()
        x_adv = atk.generate(xn, yn)
        pred = self.classifier.predict(x_adv, batch_size=self.batch_size).argmax(axis=1)
        return torch.from_numpy(pred == yn)


PEERS: dict[str, type[Peer]] = {"torchattacks": TorchattacksPeer, "foolbox": FoolboxPeer, "art": ArtPeer}


def installed(name: str) -> bool:
    """True when the peer library can be imported."""
    module = {"torchattacks": "torchattacks", "foolbox": "foolbox", "art": "art"}[name]
    try:
        __import__(module)
    except ImportError:
        return False
    return True
