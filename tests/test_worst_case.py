"""The combined curve is the worst case over every attack of its norm, and the checks that
compare attacks point to it (issue 17, items 1, 3 and 6)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import medrobust
from medrobust.engine.combine import combine_rows
from medrobust.engine.trust import run_checks


def _curve(rows: pd.DataFrame, attack: str) -> pd.Series:
    return rows[rows["attack"] == attack].groupby("eps")["correct"].mean()


@st.composite
def monotone_rows(draw: st.DrawFn) -> pd.DataFrame:
    """Random rows of 1-4 attacks over 1-4 budgets, each sample's curve monotone (broken stays broken)."""
    attacks = [f"a{i}" for i in range(draw(st.integers(1, 4)))]
    budgets = [0.0, *sorted(draw(st.sets(st.floats(0.001, 0.1), min_size=0, max_size=3)))]
    n = draw(st.integers(1, 12))
    random_model = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    out = []
    for a in attacks:
        breaks = rng.integers(1, len(budgets) + 1, size=n)  # first budget index at which the sample breaks
        rate = rng.random(n)
        for j, e in enumerate(budgets):
            correct = breaks > j
            block = {"sample": np.arange(n), "attack": a, "eps": e, "eps_label": str(e), "correct": correct}
            if random_model:
                block["pass_rate"] = np.where(correct, rate, rate / 2) * (1 - j / (2 * len(budgets)))
            out.append(pd.DataFrame(block))
    return pd.concat(out, ignore_index=True)


@settings(max_examples=60, deadline=None)
@given(monotone_rows())
def test_combined_curve_is_never_above_any_attack(rows: pd.DataFrame) -> None:
    attacks = list(rows["attack"].unique())
    combined = combine_rows(rows, "worst", attacks)
    assert len(combined) == rows[["eps", "sample"]].drop_duplicates().shape[0]  # one row per sample x budget
    worst = _curve(combined, "worst")
    for a in attacks:
        assert (worst <= _curve(rows, a) + 1e-12).all()
    broken_anywhere = ~rows.groupby(["eps", "sample"])["correct"].all()
    assert (~combined.set_index(["eps", "sample"])["correct"]).sort_index().equals(broken_anywhere.sort_index())
    assert worst.is_monotonic_decreasing


def test_strong_curve_covers_the_configured_attacks(binary_model, binary_test_data) -> None:  # type: ignore[no-untyped-def]
    """Weak suite members (one step, one query) and a strong PGD: the headline must not be above PGD."""
    suite = {"name": "strong", "steps": 1, "queries": 1}
    res = medrobust.evaluate(
        binary_model, binary_test_data, attacks=[{"name": "pgd", "steps": 20}], suite=suite, n=96, bootstrap=0
    )
    pgd = res.curve("pgd-linf")
    strong = res.curve("strong-linf")
    members = ["apgd-ce-linf", "apgd-margin-linf", "square-linf"]
    assert any(  # the members alone are weaker than PGD somewhere: the test has teeth
        min(res.curve(m)[i]["robust_accuracy"] for m in members) > pgd[i]["robust_accuracy"] for i in range(len(pgd))
    )
    for p, s in zip(pgd, strong, strict=True):
        assert s["robust_accuracy"] <= p["robust_accuracy"]
    assert res.summary.trust is not None and "pgd-linf" in res.summary.trust.suites["strong-linf"]


def _summary(curves: dict[str, list[tuple[float, float]]], n: int = 200, **trust: Any) -> dict[str, Any]:
    attacks = {
        name: {"budgets": [{"eps": e, "label": f"{round(e * 255)}/255", "robust_accuracy": a} for e, a in pts]}
        for name, pts in curves.items()
    }
    base = {"chance": 0.5, "known_robust": False, "bounds": [0.0, 1.0], "attacks": {}, "suites": {}}
    return {"n": n, "clean": {"accuracy": 0.88}, "attacks": attacks, "trust": {**base, **trust}}


def _codes(summary: dict[str, Any]) -> list[str]:
    return [w.code for w in run_checks(summary)]


SHATTERED = {  # the audit's gradient-shattered model: APGD (and the suite) above PGD at 1/255
    "pgd-linf": [(0.0, 0.88), (1 / 255, 0.815)],
    "apgd-ce-linf": [(0.0, 0.88), (1 / 255, 0.85)],
}


def test_an_adaptive_attack_weaker_than_pgd_is_flagged_and_points_to_the_combined_curve() -> None:
    warnings = run_checks(_summary(SHATTERED))
    assert [w.code for w in warnings] == ["attack-weaker-than-another"]
    assert "apgd-ce-linf" in warnings[0].message and "--suite strong" in warnings[0].message
    suite = {**SHATTERED, "strong-linf": [(0.0, 0.88), (1 / 255, 0.815)]}
    pointed = run_checks(_summary(suite, suites={"strong-linf": ["apgd-ce-linf", "pgd-linf"]}))
    assert [w.code for w in pointed] == ["attack-weaker-than-another"]
    assert "report strong-linf" in pointed[0].message


def test_expected_gaps_are_not_flagged() -> None:
    apgd_stronger = {"pgd-linf": [(0.0, 0.88), (1 / 255, 0.85)], "apgd-ce-linf": [(0.0, 0.88), (1 / 255, 0.80)]}
    assert _codes(_summary(apgd_stronger)) == []  # PGD below APGD is what one expects
    within_noise = {"pgd-linf": [(0.0, 0.88), (1 / 255, 0.815)], "apgd-ce-linf": [(0.0, 0.88), (1 / 255, 0.83)]}
    assert _codes(_summary(within_noise)) == []  # 1.5 points apart on 200 samples: noise
    fgsm_stronger_at_zero = {"fgsm-linf": [(0.0, 0.80)], "pgd-linf": [(0.0, 0.88)]}
    assert "iterative-weaker-than-fgsm" not in _codes(_summary(fgsm_stronger_at_zero))  # budget 0 is no attack


def test_black_box_stronger_points_to_the_combined_curve() -> None:
    info = {"square-linf": {"black_box": True, "queries": 1000}, "apgd-ce-linf": {"strength": 2}}
    curves = {"square-linf": [(0.0, 0.88), (4 / 255, 0.2)], "apgd-ce-linf": [(0.0, 0.88), (4 / 255, 0.6)]}
    (w,) = run_checks(_summary(curves, attacks=info))
    assert w.code == "black-box-stronger" and "worst case per sample" in w.message


def test_a_small_black_box_budget_is_flagged_only_when_masking_is_suspected() -> None:
    masked = {"square-linf": [(0.0, 0.88), (4 / 255, 0.2)], "apgd-ce-linf": [(0.0, 0.88), (4 / 255, 0.6)]}
    few = {"square-linf": {"black_box": True, "queries": 500}, "apgd-ce-linf": {"strength": 2}}
    assert _codes(_summary(masked, attacks=few)) == ["black-box-stronger", "weak-black-box"]
    enough = {**few, "square-linf": {"black_box": True, "queries": 1000}}
    assert _codes(_summary(masked, attacks=enough)) == ["black-box-stronger"]
    healthy = {"square-linf": [(0.0, 0.88), (4 / 255, 0.6)], "apgd-ce-linf": [(0.0, 0.88), (4 / 255, 0.55)]}
    assert _codes(_summary(healthy, attacks=few)) == []


def test_a_finished_run_is_judged_again_under_known_robust(tmp_path, binary_model, binary_test_data) -> None:  # type: ignore[no-untyped-def]
    """known_robust is not in the run key (it computes nothing), so a reused run is judged again."""
    kw: dict[str, Any] = {"attacks": ["fgsm"], "eps": (0, "8/255"), "n": 32, "bootstrap": 0, "out_dir": tmp_path}
    first = medrobust.evaluate(binary_model, binary_test_data, **kw)
    assert first.summary.trust is not None and not first.summary.trust.known_robust
    again = medrobust.evaluate(binary_model, binary_test_data, known_robust=True, **kw)
    assert again.summary.trust is not None and again.summary.trust.known_robust
    assert medrobust.Results.load(tmp_path).summary.trust.known_robust  # type: ignore[union-attr]
    assert again.manifest["medrobust_run"] == first.manifest["medrobust_run"]  # reused, not recomputed
    back = medrobust.evaluate(binary_model, binary_test_data, known_robust=False, **kw)
    assert back.summary.trust is not None and not back.summary.trust.known_robust
