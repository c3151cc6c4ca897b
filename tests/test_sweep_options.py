"""The sweep's speed options: parallel schedule, bf16 autocast, channels-last, per-budget timings."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from medrobust import ConfigError, Results, evaluate
from medrobust.attacks.fgsm import FGSM
from medrobust.attacks.pgd import PGD
from medrobust.datasets.base import ArrayDataset, MedicalDataset
from medrobust.engine.sweep import SweepOptions
from medrobust.models.adapter import ModelAdapter

EPS = (0, "1/255", "2/255", "4/255", "8/255")


def _curve(res: Results, attack: str) -> list[float]:
    return [b["robust_accuracy"] for b in res.curve(attack)]


@pytest.fixture(scope="module")
def small_data(binary_test_data: ArrayDataset) -> MedicalDataset:
    return binary_test_data.subset(64, seed=0)


def test_parallel_schedule_is_monotone_within_budget_and_matches_fgsm(
    binary_model: ModelAdapter, small_data: MedicalDataset
) -> None:
    attacks = [FGSM(), PGD(steps=3)]
    base = evaluate(binary_model, small_data, attacks, EPS, bootstrap=0, verify=False)
    par = evaluate(binary_model, small_data, attacks, EPS, bootstrap=0, verify=False, schedule="parallel")
    for label in ("fgsm-linf", "pgd-linf"):
        curve = _curve(par, label)
        assert curve == sorted(curve, reverse=True), curve
    # FGSM is deterministic: running the budgets side by side must give the same curve
    # (up to one sample flipped by batch-size-dependent rounding).
    assert _curve(par, "fgsm-linf") == pytest.approx(_curve(base, "fgsm-linf"), abs=1 / 64 + 1e-9)
    rows = par.rows[par.rows["eps"] > 0]
    assert (rows["linf"] <= rows["eps"] + 1e-6).all()
    assert par.manifest["config"]["schedule"] == "parallel"
    assert "schedule" not in base.manifest["config"]  # defaults leave the run key unchanged


def test_bf16_and_channels_last_agree_with_fp32(binary_model: ModelAdapter, small_data: MedicalDataset) -> None:
    attacks = [FGSM(), PGD(steps=2)]
    base = evaluate(binary_model, small_data, attacks, EPS, bootstrap=0, verify=False)
    model = copy.deepcopy(binary_model)
    conv = next(m for m in model.model.modules() if isinstance(m, torch.nn.Conv2d))
    layouts: list[bool] = []
    hook = conv.register_forward_pre_hook(
        lambda mod, _: layouts.append(mod.weight.is_contiguous(memory_format=torch.channels_last))
    )
    cl = evaluate(model, small_data, attacks, EPS, bootstrap=0, verify=False, channels_last=True)
    hook.remove()
    assert any(layouts), "channels-last was never applied during the sweep"
    assert conv.weight.is_contiguous(), "the user's model is handed back in its own layout"
    bf = evaluate(binary_model, small_data, attacks, EPS, bootstrap=0, verify=False, precision="bf16", n=32)
    base32 = evaluate(binary_model, small_data, attacks, EPS, bootstrap=0, verify=False, n=32)
    for label in ("fgsm-linf", "pgd-linf"):
        assert _curve(cl, label) == pytest.approx(_curve(base, label), abs=1 / 64 + 1e-9)
        assert _curve(bf, label) == pytest.approx(
            _curve(base32, label), abs=0.1
        )  # bf16 on a CPU is slow: fewer samples
    assert bf.manifest["config"]["precision"] == "bf16"
    assert bf.clean_accuracy == pytest.approx(base32.clean_accuracy, abs=0.05)


def test_manifest_times_every_budget(binary_model: ModelAdapter, small_data: MedicalDataset) -> None:
    res = evaluate(binary_model, small_data, [FGSM()], EPS, bootstrap=0, verify=False, batch_size=32)
    per_budget = res.manifest["seconds_per_budget"]
    assert set(per_budget) == {f"fgsm-linf@{b}" for b in ("0", "1/255", "2/255", "4/255", "8/255")}
    assert all(v >= 0 for v in per_budget.values())
    assert sum(per_budget.values()) <= res.manifest["seconds"]["fgsm-linf"] + 1e-3
    assert res.manifest["seconds"]["data"] >= 0  # waiting for the loader, timed apart from compute


@pytest.mark.parametrize("bad", [{"schedule": "sideways"}, {"precision": "fp8"}])
def test_bad_options_are_config_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SweepOptions(**bad)
