"""``--suite acquisition``: the shifts that fit the modality at severities 0..5, and the mean corruption error."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import Spread

import medrobust
from medrobust.attacks.acquisition import SEVERITIES, acquisition_suite, fitting_shifts
from medrobust.attacks.shifts import Shift
from medrobust.cli import main
from medrobust.datasets import synthetic
from medrobust.datasets.medmnist_info import MODALITIES, SUBSETS
from medrobust.engine.spec import RunSpec
from medrobust.errors import ConfigError
from medrobust.heads import make_head
from medrobust.models.adapter import ModelAdapter

SCHEMA = Path(__file__).resolve().parents[1] / "medrobust" / "results" / "summary.schema.json"
SUITE = {"name": "acquisition", "mode": "random", "shifts": ["contrast", "blur"], "draws": 3}


def _model(data: medrobust.MedicalDataset, quantile: float) -> ModelAdapter:
    spread = data.images.flatten(1).std(dim=1)  # type: ignore[attr-defined]
    net = Spread(float(spread.quantile(quantile)))
    return ModelAdapter(net, make_head("binary", 2), bounds=(0.0, 1.0), input_shape=(1, 12, 12))


def test_the_suite_picks_the_shifts_that_fit_the_modality_and_the_channels() -> None:
    mr = fitting_shifts("MR", 1)
    assert {"motion", "ghosting", "spike", "bias_field"} <= set(mr) and "jpeg" not in mr
    xray = fitting_shifts("DX", 1)
    assert {"noise", "blur", "contrast", "jpeg"} <= set(xray) and "motion" not in xray
    assert "motion" not in fitting_shifts("US", 1) and "jpeg" in fitting_shifts("US", 1)
    assert {"saturation", "hue"} <= set(fitting_shifts("XC", 3))
    assert not {"saturation", "hue"} & set(fitting_shifts("XC", 1))  # grey photographs get no colour shifts
    assert fitting_shifts(None, 1) == fitting_shifts("unheard-of", 1)
    assert set(MODALITIES) == set(SUBSETS) and SUBSETS["pneumoniamnist"].modality == "DX"
    assert SUBSETS["breastmnist"].modality == "US" and SUBSETS["adrenalmnist3d"].modality == "CT"
    labels = acquisition_suite("MR", 1).member_labels
    assert "motion-random" in labels and "motion-adversarial" in labels  # mode "both" by default
    with pytest.raises(ConfigError, match="hue need 3-channel images"):
        acquisition_suite(shifts=["blur", "hue"], channels=1)
    with pytest.raises(ConfigError, match="unknown shift"):
        acquisition_suite(shifts=["pgd"])


def test_an_acquisition_run_has_only_its_shifts_at_severities_0_to_5_unless_told() -> None:
    spec = RunSpec(suite="acquisition")
    assert spec.attacks == () and tuple(spec.eps) == SEVERITIES
    assert RunSpec(suite="acquisition", eps=[0, 2, 4]).eps == (0, 2, 4)
    assert RunSpec.build(spec, n=8).attacks == ()  # a spec built from it keeps what it resolved
    assert RunSpec.build(RunSpec(), suite="acquisition").attacks == ()  # the defaults were never given
    with pytest.raises(ConfigError, match="at least one attack"):
        RunSpec(attacks=[])
    with pytest.raises(ConfigError, match="severity"):  # L-p attacks named next to it: one budget grid per run
        medrobust.evaluate(_model(synthetic(8, task="binary", size=12), 0.5), synthetic(8, task="binary", size=12),
                           ["pgd"], suite="acquisition")  # fmt: skip


def test_the_summary_gives_each_shift_its_errors_and_the_relative_drop(tmp_path: Path) -> None:
    data = synthetic(24, task="binary", seed=5, size=12)
    res = medrobust.evaluate(_model(data, 0.5), data, suite=SUITE, bootstrap=0, out_dir=tmp_path / "run")
    c = res.summary.corruption
    assert c is not None and c.severities == [1.0, 2.0, 3.0, 4.0, 5.0] and c.reference is None
    assert list(c.shifts) == ["contrast-random", "blur-random"]
    clean = res.clean_accuracy
    for label, e in c.shifts.items():
        means = [p["mean_accuracy"] for p in res.curve(label) if p["eps"] > 0]  # the mean over the draws
        assert e.errors == pytest.approx([1 - m for m in means])
        assert e.relative_drop == pytest.approx((clean - sum(means) / 5) / clean)
        assert math.isnan(e.ce)
    assert c.modes["random"].mean_relative_drop == pytest.approx(sum(e.relative_drop for e in c.shifts.values()) / 2)
    assert math.isnan(c.modes["random"].mce) and c.modes["random"].shifts == 2
    assert "acquisition-severity" in res.summary.attacks  # per sample, the worst over the shifts
    md = (tmp_path / "run" / "summary.md").read_text()
    assert "**Acquisition shifts**" in md and "| contrast | random |" in md
    assert "<h2>Acquisition shifts</h2>" in (tmp_path / "run" / "report.html").read_text()
    jsonschema = pytest.importorskip("jsonschema")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()), cls=jsonschema.Draft202012Validator)


def test_the_mce_divides_the_errors_by_the_reference_models(tmp_path: Path) -> None:
    data = synthetic(24, task="binary", seed=5, size=12)
    ref = medrobust.evaluate(_model(data, 0.3), data, suite=SUITE, bootstrap=0, out_dir=tmp_path / "ref")
    res = medrobust.evaluate(_model(data, 0.5), data, suite=SUITE, bootstrap=0, reference=str(tmp_path / "ref"))
    ours, theirs = res.summary.corruption, ref.summary.corruption
    assert ours is not None and theirs is not None and ours.reference is not None
    assert ours.reference["run"] == ref.manifest["medrobust_run"]
    ces = []
    for label, e in ours.shifts.items():
        r = theirs.shifts[label]
        assert e.ce == pytest.approx(sum(e.errors) / sum(r.errors))
        rel = sum(x - e.clean_error for x in e.errors) / sum(x - r.clean_error for x in r.errors)
        assert e.relative_ce == pytest.approx(rel) if sum(x - r.clean_error for x in r.errors) > 0 else True
        ces.append(e.ce)
    assert ours.modes["random"].mce == pytest.approx(sum(ces) / len(ces))
    again = medrobust.evaluate(_model(data, 0.3), data, suite=SUITE, bootstrap=0, reference=str(tmp_path / "ref"))
    assert again.summary.corruption is not None and again.summary.corruption.modes["random"].mce == pytest.approx(1.0)


def test_a_reference_that_does_not_match_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = synthetic(24, task="binary", seed=5, size=12)
    medrobust.evaluate(_model(data, 0.3), data, suite=SUITE, bootstrap=0, out_dir=tmp_path / "ref")
    monkeypatch.setattr(Shift, "run", None)  # nothing below may attack: each is refused when the run is planned
    other = synthetic(24, task="binary", seed=6, size=12)
    with pytest.raises(ConfigError, match="other data"):
        medrobust.evaluate(_model(other, 0.5), other, suite=SUITE, bootstrap=0, reference=str(tmp_path / "ref"))
    fewer = {**SUITE, "shifts": ["contrast", "gamma"]}
    with pytest.raises(ConfigError, match="no gamma-random curve"):
        medrobust.evaluate(_model(data, 0.5), data, suite=fewer, bootstrap=0, reference=str(tmp_path / "ref"))
    with pytest.raises(ConfigError, match="severities"):
        medrobust.evaluate(
            _model(data, 0.5), data, suite=SUITE, eps=[0, 1, 2], bootstrap=0, reference=str(tmp_path / "ref")
        )
    with pytest.raises(ConfigError, match="add --suite acquisition"):
        medrobust.evaluate(_model(data, 0.5), data, ["fgsm"], bootstrap=0, reference=str(tmp_path / "ref"))
    with pytest.raises(medrobust.MedrobustError, match=r"no summary\.json"):
        medrobust.evaluate(_model(data, 0.5), data, suite=SUITE, bootstrap=0, reference=str(tmp_path / "none"))


def test_the_cli_runs_the_acquisition_suite_and_refuses_a_bad_reference(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["run", "--model", "demo", "--data", "synthetic", "-D", "n=12", "--bootstrap", "0", "--quiet"]
    out = runner.invoke(main, [*base, "--suite", "acquisition:mode=random,draws=2", "--out", str(tmp_path / "a")])
    assert out.exit_code == 0, out.output
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert set(summary["corruption"]["shifts"]) == {f"{n}-random" for n in fitting_shifts(None, 1)}
    assert [b["eps"] for b in summary["attacks"]["noise-random"]["budgets"]] == list(SEVERITIES)
    bad = runner.invoke(main, [*base, "--suite", "acquisition:steps=x", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "steps" in bad.output and "Traceback" not in bad.output
    no_run = ["--reference", str(tmp_path), "--out", str(tmp_path / "c")]
    ref = runner.invoke(main, [*base, "--suite", "acquisition", *no_run])
    assert ref.exit_code == 2 and "no summary.json" in ref.output and not (tmp_path / "c" / "rows.csv").exists()


def test_the_worst_case_is_never_weaker_than_the_random_mode_per_sample() -> None:
    data = synthetic(32, task="binary", seed=5, size=12)
    weak = {"name": "contrast", "mode": "adversarial", "draws": 1, "steps": 0}  # one draw, no search
    attacks = [{"name": "contrast", "mode": "random", "draws": 8}, weak]
    res = medrobust.evaluate(_model(data, 0.5), data, attacks, [0, 1, 3, 5], bootstrap=0)
    rows = res.rows.set_index(["attack", "eps", "sample"])["correct"]
    random, adversarial = rows.loc["contrast-random"], rows.loc["contrast-adversarial"]
    assert not (adversarial & ~random).any()  # a sample the random draws broke is broken in the worst case
    assert (~random).sum() > 0
    assert res.rows["correct_fraction"].dtype == res.rows["linf"].dtype  # dtypes kept
    accuracy = [p["robust_accuracy"] for p in res.curve("contrast-adversarial")]
    assert accuracy == sorted(accuracy, reverse=True)  # still monotone
