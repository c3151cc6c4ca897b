"""``compare`` and ``medrobust compare``: the regression gate passes a run against itself,
refuses other models or data unless told to, and fails a degraded run (exit code 1)."""

from __future__ import annotations

import copy
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from medrobust.cli.commands import main
from medrobust.datasets.synthetic import synthetic
from medrobust.engine.evaluate import evaluate
from medrobust.errors import ConfigError, DataError
from medrobust.gates.compare import Comparison, compare
from medrobust.models.adapter import ModelAdapter
from medrobust.reports import write_reports
from medrobust.results.results import Results

EPS = (0, "1/255", "4/255")


def _sweep(model: ModelAdapter, out: Path) -> Results:
    data = synthetic(64, task="binary", seed=21)
    return evaluate(
        model, data, attacks=["fgsm", {"name": "pgd", "steps": 3}], eps=EPS, out_dir=out, bootstrap=0, batch_size=64
    )


@pytest.fixture(scope="module")
def runs(binary_model: ModelAdapter, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A baseline run and a run of a degraded copy of the model (its last bias favours 'normal')."""
    root = tmp_path_factory.mktemp("compare")
    _sweep(binary_model, root / "baseline")
    degraded = copy.deepcopy(binary_model)
    with torch.no_grad():
        degraded.model.classifier[-1].bias[0] += 6.0
    _sweep(degraded, root / "degraded")
    return root / "baseline", root / "degraded"


def test_a_run_passes_against_itself(runs: tuple[Path, Path]) -> None:
    baseline, _ = runs
    result = compare(baseline, baseline / "summary.json")
    assert isinstance(result, Comparison) and result.ok
    assert len(result.rows) == 2 * len(EPS) and {r["status"] for r in result.rows} == {"ok"}
    assert set(result.rows[0]) == {"attack", "eps", "label", "baseline", "current", "delta", "status"}
    cli = CliRunner().invoke(main, ["compare", str(baseline), str(baseline)])
    assert cli.exit_code == 0, cli.output
    assert cli.output.startswith("PASS") and "pgd-linf" in cli.output


def test_other_model_is_refused_unless_allowed(runs: tuple[Path, Path]) -> None:
    baseline, degraded = runs
    with pytest.raises(ConfigError, match="different model"):
        compare(baseline, degraded)
    cli = CliRunner().invoke(main, ["compare", str(baseline), str(degraded)])
    assert cli.exit_code == 2 and "--allow-different" in cli.output


def test_the_gate_fails_a_degraded_run(runs: tuple[Path, Path], tmp_path: Path) -> None:
    baseline, degraded = runs
    result = compare(baseline, degraded, allow_different=True)
    assert not result.ok
    worse = [r for r in result.rows if r["status"] == "worse"]
    assert any(r["eps"] == 0 for r in worse), "clean-level accuracy fell"
    assert all(r["delta"] < -0.02 for r in worse)
    md = tmp_path / "step-summary.md"
    md.write_text("earlier step\n")
    cli = CliRunner().invoke(
        main, ["compare", str(baseline), str(degraded), "--allow-different", "--markdown", str(md)]
    )
    assert cli.exit_code == 1, cli.output
    assert cli.output.startswith("REGRESSION") and "worse  <--" in cli.output and "different model" in cli.output
    text = md.read_text()
    assert text.startswith("earlier step\n") and "### medrobust compare: REGRESSION" in text and "**worse**" in text
    # the other way round the good model is better at the clean level
    back = compare(degraded, baseline, allow_different=True)
    assert all(r["status"] == "better" for r in back.rows if r["eps"] == 0)


def test_missing_and_better_budgets_and_tolerance(runs: tuple[Path, Path], tmp_path: Path) -> None:
    baseline, _ = runs
    summary = json.loads((baseline / "summary.json").read_text())
    edited = copy.deepcopy(summary)
    pgd = edited["attacks"]["pgd-linf"]["budgets"]
    dropped = pgd.pop()  # 4/255 missing from the current run
    pgd[1]["robust_accuracy"] -= 0.015  # within the default tolerance
    fgsm = edited["attacks"]["fgsm-linf"]["budgets"]
    fgsm[-1]["robust_accuracy"] += 0.1
    fgsm.append({**fgsm[-1], "eps": 0.5, "label": "0.5"})
    current = tmp_path / "edited-summary.json"  # a lone summary: no manifest beside it
    current.write_text(json.dumps(edited))
    result = compare(baseline, current)
    status = {(r["attack"], r["label"]): r["status"] for r in result.rows}
    assert status[("pgd-linf", dropped["label"])] == "missing"
    assert status[("pgd-linf", "1/255")] == "ok"
    assert status[("fgsm-linf", "4/255")] == "better"
    assert not result.ok and result.counts()["missing"] == 1
    assert any("not checked" in n for n in result.notes) and any("0.5" in n and "new" in n for n in result.notes)
    strict = {(r["attack"], r["label"]): r["status"] for r in compare(baseline, current, tolerance=0.01).rows}
    assert strict[("pgd-linf", "1/255")] == "worse"


def test_auroc_metric_and_bad_input(runs: tuple[Path, Path], tmp_path: Path) -> None:
    baseline, degraded = runs
    result = compare(baseline, degraded, metric="auroc", allow_different=True)
    assert result.metric == "auroc" and len(result.rows) == 2 * len(EPS)
    with pytest.raises(ConfigError, match="unknown metric"):
        compare(baseline, baseline, metric="accuracy")
    with pytest.raises(ConfigError, match="tolerance"):
        compare(baseline, baseline, tolerance=-0.1)
    with pytest.raises(DataError, match="no such results"):
        compare(baseline, tmp_path / "nowhere")
    (tmp_path / "broken.json").write_text("{not json")
    cli = CliRunner().invoke(main, ["compare", str(baseline), str(tmp_path / "broken.json")])
    assert cli.exit_code == 2 and "unreadable JSON" in cli.output
    cli = CliRunner().invoke(main, ["compare", str(baseline), str(baseline), "--metric", "f1"])
    assert cli.exit_code == 2


def test_other_data_is_refused(runs: tuple[Path, Path], tmp_path: Path) -> None:
    baseline, _ = runs
    other = tmp_path / "other-data"
    shutil.copytree(baseline, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["data"]["fingerprint"] = "0" * 64
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match=r"different data"):
        compare(baseline, other)
    assert compare(baseline, other, allow_different=True).ok


def test_comparison_drives_junit_and_report(runs: tuple[Path, Path], tmp_path: Path) -> None:
    baseline, degraded = runs
    current = Results.load(degraded)
    comparison = compare(baseline, current, allow_different=True)
    paths = write_reports(current, tmp_path, comparison=comparison)
    root = ET.parse(paths["junit.xml"]).getroot()
    failed = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert len(failed) == comparison.counts()["worse"] + comparison.counts()["missing"] > 0
    assert "### medrobust compare: REGRESSION" in paths["summary.md"].read_text()
    cli = CliRunner().invoke(main, ["report", str(degraded), "--baseline", str(baseline), "--allow-different"])
    assert cli.exit_code == 0 and cli.output.startswith("REGRESSION")
