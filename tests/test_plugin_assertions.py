"""assert_robust / check_robust / assert_no_regression on hand-made results (no sweep needed)."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pandas as pd
import pytest

from medrobust.errors import ConfigError
from medrobust.gates.assertions import (
    RobustnessAssertionError,
    assert_no_regression,
    assert_robust,
    check_robust,
)
from medrobust.results.results import Results

LABELS = ["0", "1/255", "2/255", "4/255"]


def _results(
    accs: dict[str, list[float]], auroc: float = 0.9, model: str = "m1", data: str = "d1", gap: float = 0.05
) -> Results:
    """A results object with the given robust-accuracy curves (clean accuracy = first value)."""
    clean = next(iter(accs.values()))[0]
    attacks: dict[str, Any] = {}
    for name, curve in accs.items():
        attacks[name] = {
            "budgets": [
                {
                    "eps": float(i and 2 ** (i - 1)) / 255,
                    "label": LABELS[i],
                    "robust_accuracy": a,
                    "drop": clean - a,
                    "auroc": auroc,
                }
                for i, a in enumerate(curve)
            ]
        }
    gaps = {name: dict.fromkeys(LABELS, gap) for name in accs}
    summary = {
        "n": 100,
        "clean": {"accuracy": clean, "auroc": auroc},
        "attacks": attacks,
        "subgroups": {"sex": {"groups": {}, "gap": gaps}},
        "warnings": [],
    }
    manifest = {"model": {"name": "net", "fingerprint": model}, "data": {"name": "toy", "fingerprint": data}}
    return Results(summary, manifest, pd.DataFrame(), pd.DataFrame())


@pytest.fixture(autouse=True)
def _quiet_session_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """These checks fail on purpose: keep them out of this session's robustness summary."""
    import medrobust.pytest_plugin as plugin

    monkeypatch.setattr(plugin, "record_verdict", lambda verdict: None)


CURVES = {"fgsm-linf": [0.95, 0.9, 0.8, 0.5], "pgd-linf": [0.95, 0.88, 0.6, 0.2]}


def test_holds_at_every_budget_up_to_eps() -> None:
    verdict = assert_robust(_results(CURVES), attack="pgd", eps="1/255", min_accuracy=0.85, max_drop=0.1, min_auroc=0.8)
    assert verdict.ok
    assert {c.budget for c in verdict.checks} == {"0", "1/255"}
    assert {c.attack for c in verdict.checks} == {"pgd-linf"}


def test_failure_names_first_budget_and_shows_the_curve() -> None:
    with pytest.raises(RobustnessAssertionError) as info:
        assert_robust(_results(CURVES), attack="pgd", eps="4/255", min_accuracy=0.7)
    message = str(info.value)
    assert "pgd-linf first falls short at 2/255: robust accuracy 0.600 < 0.700 (min_accuracy)" in message
    rows = {line.replace(">", " ").split()[0]: line for line in message.splitlines()[3:] if line.strip()}
    assert not rows["1/255"].lstrip().startswith(">")  # held: not marked
    assert rows["2/255"].lstrip().startswith("> ") and "<- robust accuracy 0.600 < 0.700" in rows["2/255"]
    assert rows["4/255"].lstrip().startswith("> ")


def test_budgets_beyond_eps_are_shown_but_not_checked() -> None:
    verdict = check_robust(_results(CURVES), attack="pgd", eps="1/255", min_accuracy=0.85)
    assert verdict.ok
    assert "(not checked)" in next(line for line in verdict.curves.splitlines() if "4/255" in line)


def test_default_attack_is_every_attack() -> None:
    verdict = check_robust(_results(CURVES), eps="2/255", min_accuracy=0.7)
    assert not verdict.ok
    assert {c.attack for c in verdict.failed} == {"pgd-linf"}
    assert verdict.attacks == ["fgsm-linf", "pgd-linf"]


def test_drop_auroc_and_subgroup_gap() -> None:
    r = _results(CURVES, auroc=0.75, gap=0.2)
    assert not check_robust(r, eps="1/255", max_drop=0.05).ok  # pgd drops 0.07
    assert not check_robust(r, eps="1/255", min_auroc=0.8).ok
    gap = check_robust(r, attack="fgsm", eps="1/255", max_subgroup_gap=0.1)
    assert not gap.ok and gap.failed[0].subgroup == "sex"
    assert "subgroup gap by sex 0.200 > 0.100 (max_subgroup_gap)" in gap.message()


def test_undefined_auroc_fails() -> None:
    verdict = check_robust(_results(CURVES, auroc=math.nan), eps=0, min_auroc=0.5)
    assert not verdict.ok
    assert "AUROC undefined (NaN)" in verdict.message()


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"eps": "3/255", "min_accuracy": 0.5}, "budget 3/255 was not evaluated"),
        ({"eps": "1/255", "attack": "square", "min_accuracy": 0.5}, "attack 'square' was not evaluated"),
        ({"eps": "1/255"}, "give at least one threshold"),
        ({"eps": "1/255", "max_subgroup_gap": 0.1, "subgroup": "site"}, "subgroup 'site' was not evaluated"),
    ],
)
def test_misuse_is_a_clear_config_error(kwargs: dict[str, Any], text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        check_robust(_results(CURVES), **kwargs)


def test_regression_gate_allows_a_new_model_on_the_same_data() -> None:
    base = _results(CURVES)
    same = _results(CURVES, model="m2")
    assert assert_no_regression(same, base).ok
    worse = _results({"fgsm-linf": CURVES["fgsm-linf"], "pgd-linf": [0.95, 0.8, 0.6, 0.2]}, model="m2")
    with pytest.raises(
        RobustnessAssertionError, match=r"regressed against its baseline[\s\S]*pgd-linf\s+1/255\s+0.880\s+0.800"
    ):
        assert_no_regression(worse, base)
    with pytest.raises(ConfigError, match="different data"):
        assert_no_regression(_results(CURVES, data="other"), base)


def test_plugin_import_does_not_import_torch() -> None:
    """pytest loads the plugin in every session of the environment: it must stay cheap."""
    code = (
        "import sys, medrobust.pytest_plugin; print('torch' in sys.modules, 'medrobust.engine.evaluate' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_a_subgroup_that_could_not_be_split_is_not_checked_as_passing() -> None:
    """A split with an error has no gap: asking for it says why instead of checking NaN or nothing."""
    from dataclasses import replace

    import torch

    import medrobust
    from medrobust.datasets.synthetic import synthetic
    from medrobust.gates.assertions import check_robust
    from medrobust.models.adapter import ModelAdapter
    from medrobust.models.small_cnn import SmallCNN
    from medrobust.results.summary import Subgroup

    torch.manual_seed(0)
    res = medrobust.evaluate(
        ModelAdapter(SmallCNN(1, 2), "binary", num_outputs=2), synthetic(16), ["fgsm"], [0, "2/255"], bootstrap=0
    )
    broken = res.summary.model_copy(update={"subgroups": {"site": Subgroup(error="no metadata column 'site'")}})
    bad = replace(res, summary=broken)
    with pytest.raises(medrobust.ConfigError, match="no metadata column 'site'"):
        check_robust(bad, eps="2/255", max_subgroup_gap=0.5, subgroup="site")
    with pytest.raises(medrobust.ConfigError, match="no subgroup split could be evaluated"):
        check_robust(bad, eps="2/255", max_subgroup_gap=0.5)
