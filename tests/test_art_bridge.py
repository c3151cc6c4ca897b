"""The ART bridge: the adapter as an ART estimator, ART attacks in the sweep, clear limits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import medrobust
from medrobust.attacks import PGD, art, build_attack
from medrobust.attacks.norms import flat_norm
from medrobust.cli.commands import _attack_spec
from medrobust.datasets.base import collate
from medrobust.datasets.synthetic import synthetic
from medrobust.errors import ConfigError, ModelError
from medrobust.heads import make_head
from medrobust.models.adapter import ModelAdapter
from medrobust.models.art_estimator import art_predict, to_art, verify_art
from medrobust.models.small_cnn import SmallCNN

BUDGETS = [1 / 255, 2 / 255, 4 / 255, 8 / 255]


@pytest.fixture(scope="module")
def test_batch(binary_test_data):  # type: ignore[no-untyped-def]
    x, y, _ = collate([binary_test_data[i] for i in range(len(binary_test_data))])
    return x, y


def _linear(k: int, bounds: tuple[float, float] = (0.0, 1.0)) -> ModelAdapter:
    torch.manual_seed(0)
    return ModelAdapter(
        nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, k)), "multiclass", bounds=bounds, input_shape=(1, 28, 28)
    )


@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_art_predictions_equal_the_adapters(binary_model, binary_model_1logit, test_batch, threshold) -> None:  # type: ignore[no-untyped-def]
    x, _ = test_batch
    for m in (binary_model, binary_model_1logit):
        head = make_head("binary", m.head.num_logits, threshold)
        adapter = ModelAdapter(m.model, head, input_shape=(1, 28, 28), mean=0.1, std=0.9)
        assert verify_art(adapter, x[:64]) == 64  # preprocessing inside, threshold respected
    assert verify_art(_linear(4), x[:16]) == 16


def test_estimator_settings(binary_model) -> None:  # type: ignore[no-untyped-def]
    est = to_art(_linear(4, bounds=(-5.0, 7.0)))
    assert tuple(np.asarray(est.clip_values).tolist()) == (-5.0, 7.0)
    assert est.nb_classes == 4 and est.input_shape == (1, 28, 28)
    assert to_art(binary_model).nb_classes == 2


def test_verify_art_catches_a_different_model(binary_model, test_batch) -> None:  # type: ignore[no-untyped-def]
    x, _ = test_batch
    torch.manual_seed(3)
    other = ModelAdapter(SmallCNN(1, 2), "binary", input_shape=(1, 28, 28))
    with pytest.raises(ModelError, match="ART's predictions differ"):
        verify_art(binary_model, x[:64], estimator=to_art(other))
    assert art_predict(to_art(binary_model), x[:4]).shape == (4,)


def test_multilabel_is_a_clear_error(multilabel_model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="multi-label"):
        to_art(multilabel_model)
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ConfigError, match="multi-label"):
        art("ProjectedGradientDescent").run(multilabel_model, x, torch.zeros(2, 3), 2 / 255)


def test_3d_input() -> None:
    torch.manual_seed(0)
    model = ModelAdapter(SmallCNN(1, 2, spatial_dims=3), "binary", input_shape=(1, 8, 8, 8))
    x = torch.rand(3, 1, 8, 8, 8)
    y = torch.tensor([0, 1, 0])
    with pytest.raises(ConfigError, match="2D images"):
        art("SquareAttack", max_iter=2).run(model, x, y, 4 / 255)
    out = art("ProjectedGradientDescent", max_iter=3).run(model, x, y, 4 / 255)  # gradient attacks serve 3D
    assert (flat_norm(out.x_adv - x, "linf") <= 4 / 255 + 1e-6).all()


def test_names_parameters_and_kinds() -> None:
    with pytest.raises(ConfigError, match="not an ART evasion attack"):
        build_attack("art:NoSuchAttack")
    with pytest.raises(ConfigError, match="unknown parameter"):
        build_attack("art:ProjectedGradientDescent", steps=3)
    with pytest.raises(ConfigError, match="eps comes from the sweep"):
        build_attack("art:ProjectedGradientDescent", eps=0.1)
    pgd = build_attack("art:ProjectedGradientDescent", norm=2, max_iter=5)
    square = build_attack("art:SquareAttack")
    assert pgd.label == "art:ProjectedGradientDescent-l2" and not pgd.black_box
    assert square.label == "art:SquareAttack-linf" and square.black_box
    assert _attack_spec("art:SquareAttack:max_iter=5,p_init=0.3") == {
        "name": "art:SquareAttack",
        "max_iter": 5,
        "p_init": 0.3,
    }
    assert _attack_spec("art:HopSkipJump") == "art:HopSkipJump"


def test_art_pgd_agrees_with_native_pgd(binary_model, test_batch) -> None:  # type: ignore[no-untyped-def]
    """Like for like (no random start, final iterate): robust accuracy within 1 point."""
    x, y = test_batch
    for eps in BUDGETS:
        theirs = art("ProjectedGradientDescent", max_iter=10, num_random_init=0).run(binary_model, x, y, eps)
        ours = PGD(steps=10, random_start=False, early_stop=False).run(binary_model, x, y, eps)
        acc_theirs = binary_model.head.correct(theirs.logits, y).float().mean()
        acc_ours = binary_model.head.correct(ours.logits, y).float().mean()
        assert abs(float(acc_theirs - acc_ours)) <= 0.01, eps
        assert (flat_norm(theirs.x_adv - x, "linf") <= eps + 1e-6).all()


def test_seeded_and_numpy_state_restored(binary_model, test_batch) -> None:  # type: ignore[no-untyped-def]
    x, y = test_batch
    attack = art("ProjectedGradientDescent", max_iter=3, num_random_init=1, seed=5)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = attack.run(binary_model, x[:16], y[:16], 4 / 255)
    assert np.array_equal(np.random.get_state()[1], before)
    b = attack.run(binary_model, x[:16], y[:16], 4 / 255)
    c = attack.run(binary_model, x[:16], y[:16], 4 / 255, seed=6)
    assert torch.equal(a.x_adv, b.x_adv) and not torch.equal(a.x_adv, c.x_adv)


def test_art_square_inside_the_sweep(binary_model) -> None:  # type: ignore[no-untyped-def]
    data = synthetic(12, task="binary", seed=7)
    res = medrobust.evaluate(
        binary_model,
        data,
        attacks=["fgsm", {"name": "art:SquareAttack", "max_iter": 5}],
        eps=(0, "4/255", "8/255"),
        bootstrap=0,
    )
    assert "art:SquareAttack-linf" in res.summary["attacks"]
    assert res.summary["trust"]["attacks"]["art:SquareAttack-linf"]["black_box"] is True
    rows = res.rows[res.rows["attack"] == "art:SquareAttack-linf"]
    assert (rows["linf"] <= rows["eps"] + 1e-6).all()


def test_art_autoattack_runs_in_the_sweep(binary_model) -> None:  # type: ignore[no-untyped-def]
    """ART's AutoAttack imports ``multiprocess`` when it runs: a dependency, so it works (its
    default targeted DLR member needs three classes or more; on two, a clear error)."""
    data = synthetic(8, task="multiclass", seed=5)
    attack = {"name": "art:AutoAttack", "eps_step": 0.5 / 255, "batch_size": 8}
    res = medrobust.evaluate(_linear(4), data, attacks=[attack], eps=(0, "2/255"), bootstrap=0)
    assert res.metric("art:AutoAttack-linf", 2 / 255) <= res.clean_accuracy
    with pytest.raises(ConfigError, match="art:AutoAttack failed"):
        medrobust.evaluate(binary_model, synthetic(8, task="binary", seed=5), attacks=[attack], eps=(0, "2/255"))


def test_a_module_art_needs_at_run_time_is_a_config_error(binary_model, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from art.attacks.evasion import ProjectedGradientDescent

    def missing(self, x, y=None, **kwargs):  # type: ignore[no-untyped-def]
        raise ModuleNotFoundError("No module named 'multiprocess'", name="multiprocess")

    monkeypatch.setattr(ProjectedGradientDescent, "generate", missing)
    data = synthetic(4, task="binary", seed=5)
    with pytest.raises(ConfigError, match=r"needs the package 'multiprocess'.*pip install multiprocess"):
        medrobust.evaluate(binary_model, data, attacks=["art:ProjectedGradientDescent"], eps=(0, "2/255"), bootstrap=0)
