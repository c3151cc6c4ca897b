"""Agreement with ART: native FGSM/PGD match ART's on the same trained model and data.

Like for like (no random start, final iterate), robust accuracy agrees within 1 point at
every budget. The monotone sweep (random start, warm start from the previous budget, early
stopping) is never weaker than ART beyond sampling noise: at most 0.5 point (one sample in
200) above ART's PGD, whichever initialisation ART uses; FGSM in the sweep is never weaker.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescentPyTorch
from art.estimators.classification import PyTorchClassifier

import medrobust
from medrobust.attacks import FGSM, PGD
from medrobust.models.adapter import ModelAdapter

BUDGETS = [1 / 255, 2 / 255, 4 / 255, 8 / 255]


@pytest.fixture(scope="module")
def art_setup(binary_model: ModelAdapter, binary_test_data):  # type: ignore[no-untyped-def]
    clf = PyTorchClassifier(
        model=binary_model.model,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=(1, 28, 28),
        nb_classes=2,
        clip_values=(0.0, 1.0),
        device_type="cpu",
    )
    x = binary_test_data.images.numpy()
    y = binary_test_data.labels()
    return clf, x, y


def _art_accuracy(clf: PyTorchClassifier, x_adv: np.ndarray, y: np.ndarray) -> float:
    return float((clf.predict(x_adv, batch_size=256).argmax(1) == y).mean())


def test_native_matches_art_within_one_point(binary_model: ModelAdapter, art_setup) -> None:  # type: ignore[no-untyped-def]
    clf, x, y = art_setup
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for eps in BUDGETS:
        art_fgsm = _art_accuracy(clf, FastGradientMethod(clf, eps=eps, batch_size=256).generate(x), y)
        ours_fgsm = 1 - FGSM().run(binary_model, xt, yt, eps).success.float().mean().item()
        assert abs(art_fgsm - ours_fgsm) <= 0.01, (eps, art_fgsm, ours_fgsm)
        art_pgd = ProjectedGradientDescentPyTorch(
            clf, eps=eps, eps_step=2.5 * eps / 10, max_iter=10, num_random_init=0, batch_size=256, verbose=False
        )
        art_acc = _art_accuracy(clf, art_pgd.generate(x), y)
        ours = PGD(steps=10, random_start=False, early_stop=False).run(binary_model, xt, yt, eps)
        ours_acc = 1 - ours.success.float().mean().item()
        assert abs(art_acc - ours_acc) <= 0.01, (eps, art_acc, ours_acc)


def test_monotone_sweep_never_weaker_than_art(binary_model: ModelAdapter, binary_test_data, art_setup) -> None:  # type: ignore[no-untyped-def]
    clf, x, y = art_setup
    res = medrobust.evaluate(binary_model, binary_test_data, ["fgsm", "pgd"], [0, *BUDGETS], bootstrap=0)
    for eps in BUDGETS:
        art_fgsm = _art_accuracy(clf, FastGradientMethod(clf, eps=eps, batch_size=256).generate(x), y)
        for init in (0, 1):
            art_pgd = ProjectedGradientDescentPyTorch(
                clf, eps=eps, eps_step=2.5 * eps / 10, max_iter=10, num_random_init=init, batch_size=256, verbose=False
            )
            art_acc = _art_accuracy(clf, art_pgd.generate(x), y)
            assert res.metric("pgd", eps) <= art_acc + 0.005 + 1e-9, (eps, init, res.metric("pgd", eps), art_acc)
        assert res.metric("fgsm", eps) <= art_fgsm + 1e-9, (eps, res.metric("fgsm", eps), art_fgsm)
