"""Attack guarantees, as property tests over random shapes (2D, 3D), bounds and budgets.

Every attack keeps ‖x_adv − x‖ ≤ eps in its norm, stays inside the bounds, gives the same
result for the same seed, and leaves the model's parameters untouched and unfrozen.
"""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from medrobust.attacks import FGSM, PGD, Attack
from medrobust.attacks.norms import flat_norm
from medrobust.models.adapter import ModelAdapter

TOL = 1e-5


@st.composite
def cases(draw: st.DrawFn) -> dict[str, object]:
    dims = draw(st.sampled_from([2, 3]))
    side = draw(st.integers(2, 6))
    channels = draw(st.integers(1, 3))
    n = draw(st.integers(1, 5))
    lo = draw(st.floats(-1100, 10, allow_nan=False))
    span = draw(st.floats(0.5, 3000, allow_nan=False))
    norm = draw(st.sampled_from(["linf", "l2"]))
    scale = span if norm == "linf" else span * math.sqrt(channels * side**dims)
    eps = draw(st.lists(st.floats(0, 0.3, allow_nan=False), min_size=n, max_size=n))
    head = draw(st.sampled_from([("multiclass", 3), ("binary", 1), ("multilabel", 2)]))
    seed = draw(st.integers(0, 2**16))
    return {
        "shape": (n, channels) + (side,) * dims,
        "bounds": (lo, lo + span),
        "norm": norm,
        "eps": torch.tensor(eps) * scale,
        "head": head,
        "seed": seed,
    }


def _model(shape: tuple[int, ...], head: tuple[str, int], bounds: tuple[float, float], seed: int) -> ModelAdapter:
    torch.manual_seed(seed)
    features = math.prod(shape[1:])
    net = nn.Sequential(nn.Flatten(), nn.Linear(features, 8), nn.Tanh(), nn.Linear(8, head[1]))
    lo, hi = bounds
    return ModelAdapter(net, head[0], num_outputs=head[1], bounds=bounds, mean=(lo + hi) / 2, std=(hi - lo) / 2)


def _inputs(case: dict[str, object]) -> tuple[torch.Tensor, torch.Tensor]:
    shape = case["shape"]
    lo, hi = case["bounds"]  # type: ignore[misc]
    g = torch.Generator().manual_seed(case["seed"])  # type: ignore[arg-type]
    x = lo + (hi - lo) * torch.rand(shape, generator=g)  # type: ignore[arg-type,operator]
    kind, k = case["head"]  # type: ignore[misc]
    n = shape[0]  # type: ignore[index]
    y = (
        torch.randint(0, 2, (n, k), generator=g)
        if kind == "multilabel"
        else torch.randint(0, 3 if kind == "multiclass" else 2, (n,), generator=g)
    )
    return x, y


def _attacks(norm: str) -> list[Attack]:
    return [
        FGSM(norm=norm),
        PGD(norm=norm, steps=4),
        PGD(norm=norm, steps=3, restarts=2, early_stop=False),
        PGD(norm=norm, steps=3, random_start=False, compact_every=2),
    ]


@settings(max_examples=40, deadline=None)
@given(cases())
def test_budget_bounds_and_determinism(case: dict[str, object]) -> None:
    model = _model(case["shape"], case["head"], case["bounds"], case["seed"])  # type: ignore[arg-type]
    x, y = _inputs(case)
    eps: torch.Tensor = case["eps"]  # type: ignore[assignment]
    lo, hi = case["bounds"]  # type: ignore[misc]
    before = [p.detach().clone() for p in model.parameters()]
    for attack in _attacks(case["norm"]):  # type: ignore[arg-type]
        out = attack.run(model, x, y, eps, seed=7)
        norms = flat_norm(out.x_adv - x, attack.norm)
        ulp = 2 * torch.finfo(torch.float32).eps * max(abs(lo), abs(hi))  # float32 spacing at these intensities
        assert torch.all(norms <= eps * (1 + TOL) + TOL * (hi - lo) + ulp), (attack.label, norms, eps)
        assert out.x_adv.min() >= lo and out.x_adv.max() <= hi
        again = attack.run(model, x, y, eps, seed=7)
        assert torch.equal(out.x_adv, again.x_adv)
        assert out.logits.shape == (x.shape[0], model.head.num_logits)
        assert torch.allclose(out.logits, model.logits(out.x_adv), atol=1e-4)
    for p, q in zip(before, model.parameters(), strict=True):
        assert torch.equal(p, q) and q.requires_grad


def test_zero_budget_returns_the_input(binary_model: ModelAdapter, binary_test_data) -> None:
    x = binary_test_data.images[:16]
    y = torch.as_tensor(binary_test_data.labels()[:16])
    for attack in (FGSM(), PGD(steps=3), PGD(norm="l2", steps=3)):
        assert torch.equal(attack(binary_model, x, y, 0.0), x)


def test_pgd_at_least_as_strong_as_fgsm_and_grows_with_budget(binary_model: ModelAdapter, binary_test_data) -> None:
    x = binary_test_data.images
    y = torch.as_tensor(binary_test_data.labels())
    fgsm = FGSM().run(binary_model, x, y, 4 / 255).success.float().mean()
    pgd = PGD(steps=10).run(binary_model, x, y, 4 / 255).success.float().mean()
    big = PGD(steps=10).run(binary_model, x, y, 8 / 255).success.float().mean()
    assert pgd >= fgsm
    assert big >= pgd
    assert big > 0.5


def test_early_stop_never_loses_a_success(binary_model: ModelAdapter, binary_test_data) -> None:
    x = binary_test_data.images
    y = torch.as_tensor(binary_test_data.labels())
    stopped = PGD(steps=10, seed=3).run(binary_model, x, y, 3 / 255)
    full = PGD(steps=10, seed=3, early_stop=False).run(binary_model, x, y, 3 / 255)
    assert torch.all(stopped.success | ~full.success)
    assert torch.equal(stopped.success, binary_model.head.is_adversarial(binary_model.logits(stopped.x_adv), y))


def test_restarts_keep_the_strongest(binary_model: ModelAdapter, binary_test_data) -> None:
    x = binary_test_data.images
    y = torch.as_tensor(binary_test_data.labels())
    one = PGD(steps=5, seed=1).run(binary_model, x, y, 2 / 255)
    three = PGD(steps=5, seed=1, restarts=3).run(binary_model, x, y, 2 / 255)
    assert torch.all(three.success | ~one.success)
    assert three.success.sum() >= one.success.sum()


def test_targeted_reaches_the_target(binary_model: ModelAdapter, binary_test_data) -> None:
    x = binary_test_data.images
    y = torch.as_tensor(binary_test_data.labels())
    target = 1 - y
    out = PGD(steps=20, targeted=True).run(binary_model, x, target, 8 / 255)
    pred = binary_model.head.predict(binary_model.logits(out.x_adv))
    assert torch.equal(out.success, pred == target)
    assert out.success.float().mean() > 0.5


def test_per_sample_budgets(binary_model: ModelAdapter, binary_test_data) -> None:
    x = binary_test_data.images[:8]
    y = torch.as_tensor(binary_test_data.labels()[:8])
    eps = torch.tensor([0.0, 1, 2, 4, 8, 16, 0, 3]) / 255
    out = PGD(steps=5).run(binary_model, x, y, eps)
    assert torch.all(flat_norm(out.x_adv - x, "linf") <= eps + 1e-6)


def test_warm_start_is_projected_into_the_ball(binary_model: ModelAdapter, binary_test_data) -> None:
    x = binary_test_data.images[:32]
    y = torch.as_tensor(binary_test_data.labels()[:32])
    far = torch.rand_like(x)  # far outside a 2/255 ball
    out = PGD(steps=2).run(binary_model, x, y, 2 / 255, start=far)
    assert torch.all(flat_norm(out.x_adv - x, "linf") <= 2 / 255 + 1e-6)
