"""Trust checks: each fires on the failure it names (gradient-masked and randomised models,
hand-made summaries) and stays silent on an ordinary trained model."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import medrobust
from medrobust.engine.probes import probe_determinism
from medrobust.engine.trust import chance_accuracy, run_checks
from medrobust.errors import ModelError
from medrobust.models.adapter import ModelAdapter

FAST_SUITE = {"name": "strong", "steps": 10, "queries": 60}
EPS = (0, "2/255", "4/255", "8/255")


class Quantised(nn.Module):
    """Non-differentiable input quantisation: zero input gradient everywhere."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(torch.round(x * 8) / 8)


class Saturated(nn.Module):
    """Logits x1000: softmax saturates, so the cross-entropy gradient is exactly zero."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x) * 1000


class Noisy(nn.Module):
    """Dropout left active in eval mode: two identical passes differ."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(F.dropout(x, 0.3, training=True))


def _wrap(net: nn.Module, like: ModelAdapter) -> ModelAdapter:
    return ModelAdapter(net, like.head, input_shape=(1, 28, 28), name=type(net).__name__)


def _codes(res: medrobust.Results) -> set[str]:
    return {w["code"] for w in res.warnings}


# -- on models ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ordinary(binary_model, binary_test_data) -> medrobust.Results:  # type: ignore[no-untyped-def]
    return medrobust.evaluate(
        binary_model, binary_test_data, attacks=["fgsm", "pgd"], eps=EPS, suite=FAST_SUITE, n=64, bootstrap=0
    )


def test_silent_on_an_ordinary_trained_model(ordinary: medrobust.Results) -> None:
    assert ordinary.warnings == []
    trust = ordinary.summary["trust"]
    assert trust["gradients"]["probed"] == 32 and trust["gradients"]["vanishing_share"] == 0
    assert trust["determinism"]["deterministic"] and trust["chance"] == 0.5


def test_quantised_model_fires_gradient_and_chance_checks(binary_model, binary_test_data) -> None:  # type: ignore[no-untyped-def]
    masked = _wrap(Quantised(binary_model.model), binary_model)
    res = medrobust.evaluate(masked, binary_test_data, attacks=["fgsm", "pgd"], eps=EPS, n=64, bootstrap=0)
    assert {"vanishing-gradients", "not-falling-to-chance"} <= _codes(res)
    msg = next(w["message"] for w in res.warnings if w["code"] == "vanishing-gradients")
    assert "zero" in msg and res.summary["trust"]["gradients"]["zero_share"] == 1.0
    assert "not-falling-to-chance" in res.table()  # the printed table carries the warnings


def test_quantised_model_black_box_stronger(binary_model, binary_test_data) -> None:  # type: ignore[no-untyped-def]
    masked = _wrap(Quantised(binary_model.model), binary_model)
    res = medrobust.evaluate(
        masked, binary_test_data, attacks=["pgd"], eps=(0, "16/255"), suite=FAST_SUITE, n=32, bootstrap=0
    )
    assert "black-box-stronger" in _codes(res)
    assert res.metric("square-linf", 16 / 255) < res.metric("apgd-ce-linf", 16 / 255)


def test_saturated_logits(binary_model, binary_test_data) -> None:  # type: ignore[no-untyped-def]
    sat = _wrap(Saturated(binary_model.model), binary_model)
    res = medrobust.evaluate(sat, binary_test_data, attacks=["fgsm", "pgd"], eps=EPS, n=64, bootstrap=0)
    assert {"vanishing-gradients", "not-falling-to-chance"} <= _codes(res)
    assert "saturates" in next(w["message"] for w in res.warnings if w["code"] == "vanishing-gradients")
    calm = medrobust.evaluate(
        sat, binary_test_data, attacks=["fgsm", "pgd"], eps=EPS, n=64, bootstrap=0, known_robust=True
    )
    assert "not-falling-to-chance" not in _codes(calm) and "vanishing-gradients" in _codes(calm)


def test_randomised_model_warns_instead_of_failing(binary_model, binary_test_data) -> None:  # type: ignore[no-untyped-def]
    noisy = _wrap(Noisy(binary_model.model), binary_model)
    res = medrobust.evaluate(noisy, binary_test_data, attacks=["fgsm"], eps=(0, "2/255"), n=32, bootstrap=0)
    assert "random-outputs" in _codes(res)
    assert not res.summary["trust"]["determinism"]["deterministic"]
    x = torch.stack([binary_test_data[i][0] for i in range(8)])
    with pytest.raises(ModelError, match="different logits"):
        noisy.verify(x)  # explicit verification still refuses a random model
    assert probe_determinism(binary_model, x)["deterministic"]


# -- on summaries ------------------------------------------------------------


def _summary(
    curves: dict[str, list[tuple[float, float]]], clean: float = 0.95, n: int = 100, **trust: Any
) -> dict[str, Any]:
    attacks = {
        name: {"budgets": [{"eps": e, "label": f"{round(e * 255)}/255", "robust_accuracy": a} for e, a in pts]}
        for name, pts in curves.items()
    }
    base = {"chance": 0.5, "known_robust": False, "bounds": [0.0, 1.0], "attacks": {}, "suites": {}}
    return {"n": n, "clean": {"accuracy": clean}, "attacks": attacks, "trust": {**base, **trust}}


def _fired(summary: dict[str, Any]) -> list[str]:
    return [w["code"] for w in run_checks(summary)]


def test_zero_budget_and_fgsm_checks() -> None:
    assert _fired(_summary({"pgd-linf": [(0.0, 0.9)]})) == ["zero-budget-mismatch"]
    weak = _summary({"fgsm-linf": [(0.0, 0.95), (2 / 255, 0.5)], "pgd-linf": [(0.0, 0.95), (2 / 255, 0.6)]})
    assert _fired(weak) == ["iterative-weaker-than-fgsm"]
    blackbox = _summary(
        {"fgsm-linf": [(0.0, 0.95), (2 / 255, 0.5)], "art:SquareAttack-linf": [(0.0, 0.95), (2 / 255, 0.6)]}
    )
    assert _fired(blackbox) == []  # a black-box attack may be weaker than FGSM


def test_chance_check_threshold_and_scope() -> None:
    high = [(0.0, 0.95), (4 / 255, 0.9), (8 / 255, 0.8)]  # limit: 0.5 + 0.5 * (0.95 - 0.5) = 0.725
    assert _fired(_summary({"pgd-linf": high})) == ["not-falling-to-chance"]
    assert _fired(_summary({"pgd-linf": high, "apgd-ce-linf": [(0.0, 0.95), (8 / 255, 0.7)]})) == []  # strongest counts
    assert _fired(_summary({"pgd-linf": high}, known_robust=True)) == []
    assert _fired(_summary({"pgd-linf": high[:2]})) == []  # largest budget 4/255 < 8/255
    assert _fired(_summary({"pgd-linf": [(0.0, 0.55), (8 / 255, 0.55)]}, clean=0.55)) == []  # no skill to lose
    assert _fired(_summary({"pgd-l2": [(0.0, 0.95), (1.0, 0.9)]})) == []  # L-inf only
    hu = _summary({"pgd-linf": [(0.0, 0.95), (40.0, 0.9)]}, bounds=[-1000.0, 3000.0])
    assert _fired(hu) == []  # 40 HU is below 8/255 of a 4000 HU range
    assert _fired(_summary({"pgd-linf": [(0.0, 0.95), (130.0, 0.9)]}, bounds=[-1000.0, 3000.0])) == [
        "not-falling-to-chance"
    ]


def test_gradient_check() -> None:
    ok = {"pgd-linf": [(0.0, 0.95)]}
    assert _fired(_summary(ok, gradients={"probed": 32, "vanishing_share": 0.05, "margin_vanishing_share": 0.0})) == []
    sat = run_checks(_summary(ok, gradients={"probed": 32, "vanishing_share": 0.9, "margin_vanishing_share": 0.0}))
    zero = run_checks(_summary(ok, gradients={"probed": 32, "vanishing_share": 0.9, "margin_vanishing_share": 0.9}))
    assert [w["code"] for w in sat] == ["vanishing-gradients"] and "saturates" in sat[0]["message"]
    assert "BPDA" in zero[0]["message"]


def test_black_box_check() -> None:
    info = {"square-linf": {"norm": "linf", "black_box": True}, "apgd-ce-linf": {"norm": "linf", "black_box": False}}
    strong = {"square-linf": [(0.0, 0.95), (4 / 255, 0.2)], "apgd-ce-linf": [(0.0, 0.95), (4 / 255, 0.6)]}
    assert _fired(_summary(strong, attacks=info)) == ["black-box-stronger"]
    close = {"square-linf": [(0.0, 0.95), (4 / 255, 0.59)], "apgd-ce-linf": [(0.0, 0.95), (4 / 255, 0.6)]}
    assert _fired(_summary(close, attacks=info)) == []  # within one or two samples: noise
    with_suite = {**strong, "strong-linf": [(0.0, 0.95), (4 / 255, 0.2)]}
    suites = {"strong-linf": ["apgd-ce-linf", "square-linf"]}
    assert _fired(_summary(with_suite, attacks=info, suites=suites)) == ["black-box-stronger"]  # the suite is neither


def test_randomness_check() -> None:
    ok = {"pgd-linf": [(0.0, 0.95)]}
    assert _fired(_summary(ok, determinism={"probed": 8, "deterministic": False, "max_abs_diff": 0.3})) == [
        "random-outputs"
    ]
    assert _fired(_summary(ok, determinism={"probed": 8, "deterministic": True, "max_abs_diff": 0.0})) == []


def test_chance_accuracy() -> None:
    assert chance_accuracy(pd.DataFrame({"y": [0, 0, 0, 1]})) == 0.75
    ml = pd.DataFrame({"y_0": [0, 1, 1, 0], "y_1": [1, 0, 0, 0]})
    assert chance_accuracy(ml) == 0.5  # the most common label vector


def test_bootstrap_in_chunks_gives_the_same_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunking the resampling keeps memory flat in n without changing a single interval."""
    import numpy as np

    from medrobust.results import metrics

    values = (np.random.default_rng(0).random(1001) > 0.3).astype(np.float64)
    whole = metrics.bootstrap_ci(values, 200, seed=4)
    monkeypatch.setattr(metrics, "BOOTSTRAP_CHUNK", 3 * 1001 + 5)  # 3 draws per chunk, a ragged last chunk
    assert metrics.bootstrap_ci(values, 200, seed=4) == whole
