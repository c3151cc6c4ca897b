"""Square attack: budget, bounds, seed, 2D and 3D, and that it needs no gradients."""

from __future__ import annotations

import random

import pytest
import torch
from torch import Tensor, nn

from medrobust.attacks import PGD, Square, build_attack
from medrobust.attacks.norms import flat_norm
from medrobust.attacks.square import _pseudo_gaussian, _side, _window, p_schedule
from medrobust.datasets.base import collate
from medrobust.errors import ConfigError
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN


@pytest.fixture(scope="module")
def batch(binary_test_data):  # type: ignore[no-untyped-def]
    x, y, _ = collate([binary_test_data[i] for i in range(32)])
    return x, y


class Quantised(nn.Module):
    """Rounds its input to 8 levels: the gradient is zero everywhere (gradient masking)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(torch.round(x * 8) / 8)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_budget_bounds_and_flags(binary_model, batch, norm) -> None:  # type: ignore[no-untyped-def]
    x, y = batch
    eps = torch.linspace(1, 8, len(x)) / 255 * (1 if norm == "linf" else 28)
    out = Square(norm, queries=40).run(binary_model, x, y, eps)
    assert (flat_norm(out.x_adv - x, norm) <= eps + 1e-5).all()
    assert out.x_adv.min() >= 0 and out.x_adv.max() <= 1
    logits = binary_model.logits(out.x_adv)
    assert torch.allclose(logits, out.logits, atol=1e-4)
    assert torch.equal(out.success, binary_model.head.is_adversarial(logits, y))


@pytest.mark.parametrize(("norm", "eps"), [("linf", 8 / 255), ("l2", 1.0)])
def test_breaks_the_trained_model(binary_model, batch, norm, eps) -> None:  # type: ignore[no-untyped-def]
    x, y = batch
    out = Square(norm, queries=200).run(binary_model, x, y, eps)
    assert out.success.float().mean() > 0.3


@pytest.mark.parametrize(("norm", "eps"), [("linf", 4 / 255), ("l2", 0.5)])
def test_seed_determinism(binary_model, batch, norm, eps) -> None:  # type: ignore[no-untyped-def]
    x, y = batch
    a = Square(norm, queries=20, seed=1).run(binary_model, x, y, eps)
    b = Square(norm, queries=20, seed=1).run(binary_model, x, y, eps)
    c = Square(norm, queries=20, seed=2).run(binary_model, x, y, eps)
    assert torch.equal(a.x_adv, b.x_adv)
    assert not torch.equal(a.x_adv, c.x_adv)


def test_more_queries_never_weaker(binary_model, batch) -> None:  # type: ignore[no-untyped-def]
    x, y = batch
    few = Square(queries=10).run(binary_model, x, y, 4 / 255)
    many = Square(queries=80).run(binary_model, x, y, 4 / 255)
    assert (many.success | ~few.success).all()  # the same random search, continued


@pytest.mark.parametrize(("norm", "eps"), [("linf", 50.0), ("l2", 2000.0)])
def test_3d_volumes_and_wide_bounds(norm: str, eps: float) -> None:
    torch.manual_seed(0)
    model = ModelAdapter(
        SmallCNN(1, 2, spatial_dims=3), "multiclass", bounds=(-1000.0, 1000.0), std=500.0, input_shape=(1, 12, 12, 12)
    )
    x = torch.rand(4, 1, 12, 12, 12) * 2000 - 1000
    y = model.head.predict(model.logits(x))
    out = Square(norm, queries=15).run(model, x, y, eps)
    assert out.x_adv.shape == x.shape
    assert (flat_norm(out.x_adv - x, norm) <= eps * (1 + 1e-5)).all()
    assert (flat_norm(out.x_adv - x, norm) > eps / 2).all()  # the budget is used, in image units
    assert out.x_adv.min() >= -1000 and out.x_adv.max() <= 1000


def test_black_box_beats_masked_gradients(binary_model, batch) -> None:  # type: ignore[no-untyped-def]
    """On a model with zero gradients PGD is blind; Square is not."""
    x, y = batch
    masked = ModelAdapter(Quantised(binary_model.model), binary_model.head, input_shape=(1, 28, 28))
    pgd = PGD(steps=10).run(masked, x, y, 16 / 255)
    square = Square(queries=100).run(masked, x, y, 16 / 255)
    assert square.success.float().mean() > pgd.success.float().mean() + 0.1
    assert Square.black_box and not PGD.black_box


def test_window_and_schedule() -> None:
    gen = torch.Generator().manual_seed(0)
    mask = _window(torch.Size([5, 1, 10, 12]), (10, 12), 4, gen, torch.device("cpu"))
    assert mask.shape == (5, 1, 10, 12)
    assert (mask.reshape(5, -1).sum(1) == 16).all()
    cube = _window(torch.Size([3, 2, 6, 6, 6]), (6, 6, 6), 2, gen, torch.device("cpu"))
    assert (cube.reshape(3, -1).sum(1) == 8).all()
    assert p_schedule(0.8, 0, 1000) == 0.8
    assert p_schedule(0.8, 999, 1000) < p_schedule(0.8, 100, 1000) < 0.8
    assert _side(0.8, 0, 100, 28 * 28, (28, 28)) == 25
    assert _side(0.8, 99, 100, 28 * 28, (28, 28)) >= 1
    patch = _pseudo_gaussian((5, 5, 5), random.Random(0), torch.device("cpu"), torch.float32)
    assert patch.shape == (5, 5, 5) and abs(float(patch.norm()) - 1) < 1e-5
    assert abs(float(patch.sum())) < 0.5 * float(patch.abs().sum())  # two halves of opposite sign


def test_parameters_and_registry() -> None:
    with pytest.raises(ConfigError, match="unknown norm"):
        build_attack("square", norm="l1")
    with pytest.raises(ConfigError, match="queries"):
        build_attack("square", queries=0)
    assert build_attack("square", queries=5).label == "square-linf"
