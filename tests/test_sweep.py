"""The monotone sweep: rows, monotone curves, only robust samples attacked, resume."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import Tensor

import medrobust
from medrobust.attacks import PGD
from medrobust.attacks.base import AttackOutput
from medrobust.datasets import synthetic
from medrobust.models.adapter import ModelAdapter
from medrobust.models.demo import demo_model

EPS = [0, "1/255", "2/255", "4/255", "8/255"]


class CountingPGD(PGD):
    """PGD that records how many samples it attacks per call, and can interrupt a run.

    Its bookkeeping is private, so it does not enter the run's configuration key.
    """

    def __init__(self, fail_at: int = 0, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._fail_at = fail_at
        self._calls: list[tuple[float, int]] = []

    @property
    def calls(self) -> list[tuple[float, int]]:
        return self._calls

    def run(self, model, x: Tensor, y: Tensor, eps, **kw) -> AttackOutput:  # type: ignore[no-untyped-def,override]
        self._calls.append((float(eps), int(x.shape[0])))
        if len(self._calls) == self._fail_at:
            raise KeyboardInterrupt
        return super().run(model, x, y, eps, **kw)


def test_rows_curves_and_monotonicity(binary_model: ModelAdapter, binary_test_data) -> None:
    res = medrobust.evaluate(binary_model, binary_test_data, ["fgsm", "pgd"], EPS, bootstrap=0)
    n = len(binary_test_data)
    assert len(res.clean) == n
    assert len(res.rows) == n * 2 * len(EPS)
    for attack in ("fgsm-linf", "pgd-linf"):
        accs = [b["robust_accuracy"] for b in res.curve(attack)]
        assert accs[0] == pytest.approx(res.clean_accuracy)
        assert all(a >= b for a, b in pairwise(accs)), accs
        per_sample = res.rows[res.rows["attack"] == attack].pivot(index="sample", columns="eps", values="correct")
        assert (per_sample.astype(int).diff(axis=1).fillna(0) <= 0).all().all()  # once broken, always broken
    assert res.metric("pgd", 8 / 255) <= res.metric("fgsm", 8 / 255)
    assert res.warnings == []
    # the perturbation recorded in each row respects its budget
    assert (res.rows["linf"] <= res.rows["eps"] + 1e-6).all()


def test_only_still_robust_samples_are_attacked(binary_model: ModelAdapter, binary_test_data) -> None:
    attack = CountingPGD(steps=5)
    res = medrobust.evaluate(binary_model, binary_test_data, [attack], EPS, bootstrap=0, batch_size=1000)
    counts = dict(attack.calls)
    correct = res.rows.pivot(index="sample", columns="eps", values="correct")
    budgets = sorted(correct.columns)
    for prev, cur in pairwise(budgets):
        assert counts[cur] == int(correct[prev].sum())


def test_metrics_match_the_rows(binary_model: ModelAdapter, binary_test_data) -> None:
    res = medrobust.evaluate(binary_model, binary_test_data, ["pgd"], [0, "4/255"], bootstrap=50)
    b = res.curve("pgd")[1]
    rows = res.rows[res.rows["eps"] > 0]
    assert b["robust_accuracy"] == pytest.approx(rows["correct"].mean())
    ok = res.clean.set_index("sample")["correct"]
    broken = rows.set_index("sample")["correct"].eq(False)
    assert b["success_rate"] == pytest.approx((broken & ok).sum() / ok.sum())
    assert b["drop"] == pytest.approx(res.clean_accuracy - b["robust_accuracy"])
    lo, hi = b["robust_accuracy_ci"]
    assert lo <= b["robust_accuracy"] <= hi


def test_results_folder_roundtrip(binary_model: ModelAdapter, binary_test_data, tmp_path: Path) -> None:
    res = medrobust.evaluate(binary_model, binary_test_data, ["fgsm"], [0, "2/255"], bootstrap=0, out_dir=tmp_path)
    for name in ("summary.json", "manifest.json", "samples.csv", "rows.csv"):
        assert (tmp_path / name).is_file()
    assert not list(tmp_path.rglob("*.tmp"))
    loaded = medrobust.Results.load(tmp_path)
    assert loaded.summary["schema_version"] == res.summary["schema_version"]
    assert loaded.metric("fgsm", 2 / 255) == pytest.approx(res.metric("fgsm", 2 / 255))
    m = loaded.manifest
    assert m["model"]["fingerprint"] and m["data"]["fingerprint"]
    assert m["libraries"]["torch"] == torch.__version__.split("+")[0] or m["libraries"]["torch"].startswith(
        torch.__version__[:4]
    )
    assert "clean" in m["seconds"] and "fgsm-linf" in m["seconds"]


def test_interrupted_run_resumes_to_the_same_numbers(
    binary_model: ModelAdapter, binary_test_data, tmp_path: Path
) -> None:
    kw = dict(eps=[0, "2/255", "4/255"], bootstrap=0, batch_size=64, seed=5)
    full = medrobust.evaluate(binary_model, binary_test_data, [PGD(steps=4)], **kw)  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt):
        medrobust.evaluate(binary_model, binary_test_data, [CountingPGD(fail_at=5, steps=4)], out_dir=tmp_path, **kw)  # type: ignore[arg-type]
    assert len(list((tmp_path / "parts").glob("*-rows-*.parquet"))) == 2  # two batches of 64 survived
    resumed_attack = CountingPGD(steps=4)
    resumed = medrobust.evaluate(binary_model, binary_test_data, [resumed_attack], out_dir=tmp_path, **kw)  # type: ignore[arg-type]
    assert sum(1 for e, _ in resumed_attack.calls if e > 0) == 2 * 2  # only the last two batches ran
    np.testing.assert_array_equal(
        resumed.rows.sort_values(["sample", "eps"])["correct"].to_numpy(),
        full.rows.sort_values(["sample", "eps"])["correct"].to_numpy(),
    )
    assert not (tmp_path / "parts").exists()


def test_multilabel_and_one_logit_heads(binary_model_1logit: ModelAdapter, multilabel_model: ModelAdapter) -> None:
    res = medrobust.evaluate(binary_model_1logit, synthetic(100, seed=99), ["pgd"], [0, "8/255"], bootstrap=0)
    assert res.summary["task"] == "binary" and res.curve("pgd")[1]["robust_accuracy"] < res.clean_accuracy
    ml = medrobust.evaluate(
        multilabel_model, synthetic(100, task="multilabel", seed=99), ["fgsm", "pgd"], [0, "4/255"], bootstrap=0
    )
    b = ml.curve("pgd")[1]
    assert set(b["per_label_auroc"]) == {"lesion", "calcification", "edema"}
    assert b["robust_accuracy"] <= ml.clean_accuracy


def test_subgroups_are_reported(binary_model: ModelAdapter, binary_test_data) -> None:
    res = medrobust.evaluate(binary_model, binary_test_data, ["fgsm"], [0, "4/255"], subgroups=["sex"], bootstrap=0)
    sex = res.summary["subgroups"]["sex"]
    assert set(sex["groups"]) == {"F", "M"}
    assert sum(g["n"] for g in sex["groups"].values()) == len(binary_test_data)
    assert sex["gap"]["fgsm-linf"]["4/255"] >= 0


def test_targeted_sweep_pushes_towards_the_target(binary_model: ModelAdapter, binary_test_data) -> None:
    res = medrobust.evaluate(binary_model, binary_test_data, [PGD(steps=10, target=0)], [0, "8/255"], bootstrap=0)
    rows = res.rows[res.rows["eps"] > 0].merge(res.clean[["sample", "y"]], on="sample")
    assert (rows.loc[rows["y"] == 0, "correct"]).all()  # samples already at the target are untouched
    assert (rows.loc[~rows["correct"], "pred"] == 0).all()


def test_a_loaded_run_has_the_in_memory_rows_and_dtypes(tmp_path: Path) -> None:
    """rows.csv and samples.csv read back as the engine computed them: float32 scores, not float64."""
    model, data = demo_model(0), synthetic(64, seed=1)
    run = {"attacks": ["fgsm"], "eps": [0, "2/255"], "batch_size": 32, "bootstrap": 0}
    res = medrobust.evaluate(model, data, out_dir=tmp_path, **run)
    loaded = medrobust.Results.load(tmp_path)
    assert res.rows["score_0"].dtype == "float32" and loaded.rows["eps"].dtype == "float64"
    pd.testing.assert_frame_equal(loaded.rows, res.rows)
    pd.testing.assert_frame_equal(loaded.clean, res.clean)
