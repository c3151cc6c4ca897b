"""Adaptive attacks: BPDA sees through quantisation, EOT through randomness, a surrogate transfers."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import Tensor, nn

from medrobust.attacks import APGD, FGSM, PGD, build_attack
from medrobust.attacks.bpda import bpda_hooks, soft_quantise, soft_threshold
from medrobust.cli._options import attack_spec
from medrobust.engine.expectation import expected
from medrobust.errors import ConfigError
from medrobust.models.adapter import ModelAdapter

D = 64
N = 200
EPS = 0.015


class Quantise(nn.Module):
    """Rounds the input to ``levels`` levels in [0, 1]: its gradient is zero almost everywhere."""

    non_differentiable = True

    def __init__(self, levels: int = 4) -> None:
        super().__init__()
        self.levels = levels

    def forward(self, x: Tensor) -> Tensor:
        n = self.levels - 1
        return torch.round(x * n) / n


class _Straight(torch.autograd.Function):
    """Rounding whose backward is the identity: the reference straight-through model."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[no-untyped-def, override]
        return torch.round(x * 3) / 3

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:  # type: ignore[no-untyped-def, override]
        return g


class StraightQuantise(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return _Straight.apply(x)  # type: ignore[no-any-return]


class Shatter(nn.Module):
    """Adds ``a·sin(ω x + φ)`` with a fresh random phase each pass: a random model whose single gradients mislead."""

    def forward(self, x: Tensor) -> Tensor:
        phase = torch.rand_like(x) * 6.2832
        return x + 0.01 * torch.sin(1000.0 * x + phase)


def _linear(w: Tensor) -> nn.Linear:
    lin = nn.Linear(D, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.stack([-w, w]) * 4.0)
        lin.bias.copy_(torch.stack([w.sum(), -w.sum()]) * 2.0)  # centred on 0.5: logits 4·[-w, w]·(x - 0.5)
    return lin


def _net(w: Tensor, first: nn.Module | None = None) -> nn.Module:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if first is not None:
        layers["defence"] = first
    layers["flat"] = nn.Flatten()
    layers["linear"] = _linear(w)
    return nn.Sequential(layers)


def _adapter(net: nn.Module) -> ModelAdapter:
    return ModelAdapter(net, "multiclass", num_outputs=2, bounds=(0.0, 1.0))


@pytest.fixture(scope="module")
def problem() -> tuple[Tensor, Tensor, Tensor]:
    """Weights and inputs near the quantiser's middle step; labels those of the clean quantised model."""
    g = torch.Generator().manual_seed(0)
    w = torch.randint(0, 2, (D,), generator=g).float() * 2 - 1
    x = 0.35 + 0.3 * torch.rand(N, 1, 8, 8, generator=g)
    return w, x, _adapter(_net(w, Quantise())).logits(x).argmax(1)


def _accuracy(model: ModelAdapter, x: Tensor, y: Tensor) -> float:
    return float((model.logits(x).argmax(1) == y).float().mean())


def test_bpda_apgd_matches_the_straight_through_model(problem) -> None:  # type: ignore[no-untyped-def]
    w, x, y = problem
    quantised = _adapter(_net(w, Quantise()))
    straight = _adapter(_net(w, StraightQuantise()))
    plain = _accuracy(quantised, APGD(steps=20).run(quantised, x, y, EPS).x_adv, y)
    reference = _accuracy(quantised, APGD(steps=20).run(straight, x, y, EPS).x_adv, y)
    for spec in ("identity", {"module": "defence", "with": "identity"}, {"model.defence": "quantise"}):
        out = APGD(steps=20, bpda=spec).run(quantised, x, y, EPS)
        bpda = _accuracy(quantised, out.x_adv, y)
        assert abs(bpda - reference) <= 0.02, (spec, bpda, reference)
        assert torch.equal(out.success, quantised.logits(out.x_adv).argmax(1) != y)
    assert reference < 0.7 and plain > reference + 0.3  # masking overstated robustness; BPDA sees through it


@pytest.mark.parametrize("attack", [FGSM, PGD])
def test_bpda_on_fgsm_and_pgd(problem, attack) -> None:  # type: ignore[no-untyped-def]
    w, x, y = problem
    quantised = _adapter(_net(w, Quantise()))
    plain = _accuracy(quantised, attack().run(quantised, x, y, EPS).x_adv, y)
    bpda = _accuracy(quantised, attack(bpda="identity").run(quantised, x, y, EPS).x_adv, y)
    assert bpda < plain - 0.2


def test_hooks_leave_the_forward_pass_and_are_removed(problem) -> None:  # type: ignore[no-untyped-def]
    w, x, _ = problem
    quantised = _adapter(_net(w, Quantise()))
    before = quantised.logits(x)
    with bpda_hooks(quantised, "identity"):
        assert torch.equal(quantised.logits(x), before)
        xg = x.clone().requires_grad_(True)
        assert quantised(xg)[:, 1].sum().backward() is None and xg.grad is not None and xg.grad.abs().sum() > 0
    xg = x.clone().requires_grad_(True)
    quantised(xg)[:, 1].sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() == 0  # the real rounding again


def test_smooth_stand_ins_follow_the_layer() -> None:
    x = torch.linspace(0, 1, 101).reshape(1, 1, 1, 101)
    assert (soft_quantise(4, sharpness=50.0)(x) - Quantise()(x)).abs().mean() < 0.02
    assert ((soft_threshold(0.5, 200.0)(x) > 0.5) == (x > 0.5)).all()


def test_eot_beats_the_plain_attack_on_a_random_model(problem) -> None:  # type: ignore[no-untyped-def]
    w, x, _ = problem
    model = _adapter(_net(w, Shatter()))
    y = expected(model, x, torch.zeros(N, dtype=torch.long), 16, seed=0).logits.argmax(1)
    clean = float(expected(model, x, y, 16, seed=1).rate.mean())
    plain = PGD(steps=20, early_stop=False).run(model, x, y, 0.02).x_adv
    eot = PGD(steps=20, early_stop=False, eot=32).run(model, x, y, 0.02).x_adv
    acc_plain = float(expected(model, plain, y, 16, seed=2).rate.mean())
    acc_eot = float(expected(model, eot, y, 16, seed=2).rate.mean())
    assert clean > 0.9
    assert acc_eot < acc_plain - 0.4, (acc_plain, acc_eot)


def test_eot_is_seeded(problem) -> None:  # type: ignore[no-untyped-def]
    w, x, y = problem
    model = _adapter(_net(w, Shatter()))
    a = PGD(steps=3, eot=4, seed=5).run(model, x[:20], y[:20], 0.03).x_adv
    b = PGD(steps=3, eot=4, seed=5).run(model, x[:20], y[:20], 0.03).x_adv
    assert torch.equal(a, b)


@pytest.mark.parametrize("attack", [FGSM, PGD, APGD])
def test_adaptive_options_change_nothing_on_a_plain_model(problem, attack) -> None:  # type: ignore[no-untyped-def]
    w, x, y = problem
    model = _adapter(_net(w))
    base = attack().run(model, x, y, EPS)
    for kw in ({"bpda": "identity"}, {"eot": 4}, {"surrogate": model}):
        out = attack(**kw).run(model, x, y, EPS)
        assert torch.equal(out.x_adv, base.x_adv), kw
        assert torch.equal(out.success, base.success), kw
    assert "eot" not in attack().describe() and attack(eot=2).describe()["eot"] == 2


def test_surrogate_transfer_scores_on_the_target(problem) -> None:  # type: ignore[no-untyped-def]
    w, x, y = problem
    target = _adapter(_net(w, Quantise()))
    surrogate = _adapter(_net(w))  # the same network without its defence
    out = APGD(steps=20, surrogate=surrogate).run(target, x, y, EPS)
    assert torch.allclose(out.logits, target.logits(out.x_adv))
    assert torch.equal(out.success, target.logits(out.x_adv).argmax(1) != y)
    plain = _accuracy(target, APGD(steps=20).run(target, x, y, EPS).x_adv, y)
    assert _accuracy(target, out.x_adv, y) < plain - 0.2
    assert APGD(surrogate=surrogate).describe()["surrogate"].startswith("model:")


def test_cli_and_config_spellings(problem) -> None:  # type: ignore[no-untyped-def]
    assert attack_spec("apgd:bpda=identity,eot=4") == {"name": "apgd", "bpda": "identity", "eot": 4}
    attack = build_attack("apgd", bpda={"module": "defence", "with": "identity"}, steps=2)
    assert attack.describe()["bpda"] == {"module": "defence", "with": "identity"}
    w, x, y = problem
    with pytest.raises(ConfigError, match="no submodule 'nope'"):
        APGD(steps=2, bpda={"module": "nope"}).run(_adapter(_net(w, Quantise())), x[:4], y[:4], EPS)
    with pytest.raises(ConfigError, match="unknown BPDA stand-in"):
        APGD(steps=2, bpda={"defence": "magic"}).run(_adapter(_net(w, Quantise())), x[:4], y[:4], EPS)
    with pytest.raises(ConfigError, match="eot"):
        build_attack("pgd", eot=0)
