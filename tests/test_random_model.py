"""A random model is judged by its expectation, not by its first lucky draw (issue 17, item 4)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import medrobust
from medrobust.engine.expectation import expected, pass_accuracies
from medrobust.models.adapter import ModelAdapter
from medrobust.reports.markdown import render_markdown

EPS = (0, "1/255", "2/255")


class NoisyLogits(nn.Module):
    """Gaussian noise on the logits at every pass, in eval mode too (a stochastic defence)."""

    def __init__(self, net: nn.Module, sigma: float) -> None:
        super().__init__()
        self.net = net
        self.sigma = sigma

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        return out + self.sigma * torch.randn_like(out)


def _noisy(binary_model: ModelAdapter, sigma: float = 2.0) -> ModelAdapter:
    return ModelAdapter(NoisyLogits(binary_model.model, sigma), binary_model.head, input_shape=(1, 28, 28))


def test_expected_is_the_mean_prediction_and_each_pass_verdict(binary_model, binary_test_data) -> None:  # type: ignore[no-untyped-def]
    x = torch.stack([binary_test_data[i][0] for i in range(16)])
    y = torch.tensor([binary_test_data[i][1] for i in range(16)])
    plain = expected(binary_model, x, y, passes=4, seed=0)  # a deterministic model: every pass agrees
    assert torch.allclose(plain.logits.softmax(1), binary_model.logits(x).softmax(1), atol=1e-5)
    correct = binary_model.head.correct(binary_model.logits(x), y)
    assert torch.equal(plain.rate, correct.float()) and torch.equal(plain.bits, correct.long() * 0b1111)
    noisy = _noisy(binary_model)
    a, b = expected(noisy, x, y, 8, seed=3), expected(noisy, x, y, 8, seed=3)
    assert torch.equal(a.bits, b.bits) and torch.equal(a.logits, b.logits)  # seeded: reproducible
    assert pass_accuracies(a.bits, 8).mean().item() == a.rate.double().mean().item()


def test_random_model_robust_accuracy_is_that_of_its_expectation(binary_model, binary_test_data) -> None:  # type: ignore[no-untyped-def]
    noisy = _noisy(binary_model)
    res = medrobust.evaluate(noisy, binary_test_data, attacks=["fgsm", "pgd"], eps=EPS, n=96, bootstrap=0)
    codes = [w.code for w in res.warnings]
    assert "random-outputs" in codes
    assert "zero-budget-mismatch" not in codes  # (PGD may trail FGSM here: noisy gradients mislead it)
    s = res.summary
    assert s.clean.passes is not None and s.clean.passes.count == 16
    assert s.clean.passes.worst_accuracy <= s.clean.passes.mean_accuracy <= 1
    for name in ("fgsm-linf", "pgd-linf"):
        curve = s.curve(name).budgets
        assert curve[0].robust_accuracy == s.clean.accuracy  # budget 0 is the clean evaluation itself
        accs = [b.robust_accuracy for b in curve]
        assert accs == sorted(accs, reverse=True)
        means = [b.passes.mean_accuracy for b in curve if b.passes is not None]
        assert len(means) == len(curve) and means == sorted(means, reverse=True)
    # 1/255 barely moves this model; judged by one lucky draw, PGD "broke" most samples here
    assert s.curve("pgd-linf").at(1 / 255).robust_accuracy >= s.clean.accuracy - 0.15
    again = medrobust.evaluate(noisy, binary_test_data, attacks=["fgsm", "pgd"], eps=EPS, n=96, bootstrap=0)
    assert again.summary.to_json() == res.summary.to_json()  # the passes are seeded
    md = render_markdown(res)
    assert "mean prediction over 16 fresh passes" in md and "single passes: mean / worst" in md


def test_a_deterministic_model_has_no_passes(binary_model, binary_test_data) -> None:  # type: ignore[no-untyped-def]
    res = medrobust.evaluate(binary_model, binary_test_data, attacks=["fgsm"], eps=(0, "2/255"), n=32, bootstrap=0)
    assert res.summary.clean.passes is None and "passes" not in res.summary.to_json()
    assert "pass_rate" not in res.rows.columns
