"""The strong suite adapts: BPDA members for flagged layers, EOT members for random models, none for plain ones."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from test_adaptive import EPS, Quantise, Shatter, _adapter, _net
from torch import nn

import medrobust
from medrobust.attacks import APGD, PGD, build_attack
from medrobust.attacks.suite import build_suite, strong_suite
from medrobust.datasets import ArrayDataset, DataInfo
from medrobust.heads import HeadKind
from medrobust.models.adapter import ModelAdapter
from medrobust.results.results import Results

INFO = DataInfo("toy", HeadKind.MULTICLASS, ("a", "b"))
SUITE: dict[str, Any] = {"name": "strong", "steps": 20, "queries": 50}
"""Few queries: the black-box member alone cannot make up for the masked gradients here."""


@pytest.fixture(scope="module")
def problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    w = torch.randint(0, 2, (64,), generator=g).float() * 2 - 1
    x = 0.35 + 0.3 * torch.rand(200, 1, 8, 8, generator=g)
    return w, x, _adapter(_net(w, Quantise())).logits(x).argmax(1)


def _run(model: ModelAdapter, x: torch.Tensor, y: torch.Tensor, **options: Any) -> Results:
    data = ArrayDataset(x, y.numpy(), INFO)
    return medrobust.evaluate(model, data, **{"eps": [0, EPS], "bootstrap": 0, **options})


def test_strong_suite_sees_through_a_quantised_input(problem, tmp_path) -> None:  # type: ignore[no-untyped-def]
    w, x, y = problem
    model = _adapter(_net(w, Quantise()))
    adaptive = _run(model, x, y, attacks=["fgsm"], suite=SUITE, out_dir=tmp_path / "run")
    plain = _run(model, x, y, attacks=["fgsm"], suite={**SUITE, "adaptive": False})
    bpda = _run(model, x, y, attacks=[{"name": "apgd", "steps": 20, "bpda": "identity"}])
    trust = adaptive.summary.trust
    assert trust is not None and [a.option for a in trust.adaptive] == ["bpda=identity"]
    assert trust.adaptive[0].members == ["apgd-ce-bpda-linf", "apgd-margin-bpda-linf"]
    assert "model.defence" in trust.adaptive[0].reason
    assert {"apgd-ce-bpda-linf", "apgd-margin-bpda-linf"} <= set(trust.suites["strong-linf"])
    strong, reference = adaptive.metric("strong", EPS), bpda.metric("apgd-ce-bpda", EPS)
    assert strong <= reference + 1e-9  # never above the BPDA number
    assert plain.metric("apgd-ce", EPS) > strong + 0.3  # the masked white-box members see nothing
    assert plain.metric("strong", EPS) > strong + 0.1, plain.metric("strong", EPS)  # without BPDA: overstated
    assert plain.summary.trust is not None and plain.summary.trust.adaptive == []
    for report in ("summary.md", "report.html"):  # the reports say what was added and why
        text = (tmp_path / "run" / report).read_text()
        assert "Adaptive attacks added" in text and "strong-linf added bpda=identity" in text, report


def test_strong_suite_attacks_the_expectation_of_a_random_model(problem) -> None:  # type: ignore[no-untyped-def]
    w, x, _ = problem
    model = _adapter(_net(w, Shatter()))
    y = model.logits(x).argmax(1)
    suite = {"name": "strong", "steps": 10, "queries": 50, "eot": 4}
    res = _run(model, x[:100], y[:100], attacks=["fgsm"], suite=suite, random_passes=4)
    trust = res.summary.trust
    assert trust is not None and [a.option for a in trust.adaptive] == ["eot=4"]
    assert "differ" in trust.adaptive[0].reason
    assert res.metric("strong", EPS) <= min(res.metric("apgd-ce", EPS), res.metric("apgd-ce-eot4", EPS)) + 1e-9


def test_a_plain_model_gets_no_adaptive_members(problem) -> None:  # type: ignore[no-untyped-def]
    w, x, y = problem
    res = _run(_adapter(_net(w)), x[:50], y[:50], attacks=["fgsm"], suite={**SUITE, "steps": 5, "queries": 20})
    assert res.summary.trust is not None and res.summary.trust.adaptive == []
    assert set(res.summary.attacks) == {"fgsm-linf", "apgd-ce-linf", "apgd-margin-linf", "square-linf", "strong-linf"}
    assert "adaptive" not in res.manifest["config"]


def test_labels_name_the_adaptive_options(problem) -> None:  # type: ignore[no-untyped-def]
    w, _, _ = problem
    other = _adapter(_net(w))
    assert build_attack("pgd", bpda="identity").label == "pgd-bpda-linf"
    assert APGD(eot=4).label == "apgd-ce-eot4-linf" and PGD().label == "pgd-linf"
    transfer = APGD(loss="margin", surrogate=other)
    assert transfer.label == "apgd-margin-transfer-linf" and transfer.black_box and not APGD().black_box


def test_a_surrogate_adds_transfer_members_and_is_keyed_by_its_weights(problem) -> None:  # type: ignore[no-untyped-def]
    w, _, _ = problem
    head = _adapter(_net(w)).head
    a, b = _adapter(_net(w)), _adapter(_net(-w))
    suite = strong_suite(head, surrogate=a)
    assert suite.member_labels[-2:] == ["apgd-ce-transfer-linf", "apgd-margin-transfer-linf"]
    assert APGD(surrogate=a).describe()["surrogate"] != APGD(surrogate=b).describe()["surrogate"]
    assert build_suite({"name": "strong", "adaptive": False}, head).adaptive is False


class Threshold(nn.Module):
    """Binarises the input at 0.5: no gradient path at all (a comparison), flagged as such."""

    non_differentiable = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > 0.5).float()


class EvalDropout(nn.Module):
    """Dropout left on at evaluation: every pass is a random draw."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, 0.2, training=True)


def test_a_thresholding_model_is_attacked_through_its_stand_in(problem) -> None:  # type: ignore[no-untyped-def]
    w, x, _ = problem
    model = _adapter(_net(w, Threshold()))
    y = model.logits(x).argmax(1)
    res = _run(model, x, y, attacks=[{"name": "apgd", "steps": 20}], suite={**SUITE, "queries": 20}, eps=[0, 0.05])
    assert res.summary.trust is not None and res.summary.trust.gradients is not None
    assert res.summary.trust.gradients.vanishing_share == 1.0  # no path back: a zero gradient, not a crash
    assert [a.option for a in res.summary.trust.adaptive] == ["bpda=identity"]
    stand_in = APGD(steps=20, bpda={"defence": "threshold"}).run(model, x, y, 0.05).x_adv
    assert float((model.logits(stand_in).argmax(1) == y).float().mean()) < res.metric("apgd-ce", 0.05) - 0.3
    assert res.metric("strong", 0.05) < res.metric("apgd-ce", 0.05) - 0.3


def test_dropout_at_evaluation_gets_eot_members(problem) -> None:  # type: ignore[no-untyped-def]
    w, x, _ = problem
    model = _adapter(_net(w, EvalDropout()))
    y = model.logits(x).argmax(1)
    suite = {"name": "strong", "steps": 5, "queries": 20, "eot": 2}
    res = _run(model, x[:40], y[:40], attacks=["fgsm"], suite=suite, random_passes=4)
    assert res.summary.trust is not None and [a.option for a in res.summary.trust.adaptive] == ["eot=2"]
    assert {"apgd-ce-eot2-linf", "apgd-margin-eot2-linf"} <= set(res.summary.attacks)
    members = res.summary.trust.suites["strong-linf"]
    assert res.metric("strong", EPS) <= min(res.metric(m, EPS) for m in members) + 1e-9
