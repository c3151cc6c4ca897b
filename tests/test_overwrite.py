"""A results folder holding a different run is never replaced silently: refused, unless ``--overwrite``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner, Result
from test_sweep import CountingPGD

import medrobust
from medrobust.cli.commands import main
from medrobust.datasets.synthetic import synthetic
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN
from medrobust.pytest_plugin.factory import RobustnessFactory
from medrobust.pytest_plugin.session import SessionState
from medrobust.suites.grid import run_suite

FAST = ["--model", "smallcnn", "--random-init", "--num-classes", "2", "--data", "synthetic", "-D", "n=8"]
FAST += ["--attack", "fgsm", "--eps", "0,1/255", "--bootstrap", "0", "--quiet"]


def _run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["run", *FAST, *map(str, args)])


def _key(folder: Path) -> str:
    return str(json.loads((folder / "manifest.json").read_text())["medrobust_run"])


def _model(seed: int = 0) -> ModelAdapter:
    torch.manual_seed(seed)
    return ModelAdapter(SmallCNN(1, 2, width=4), "binary", num_outputs=2, input_shape=(1, 28, 28), name="tiny")


def test_a_different_run_is_refused_naming_folder_and_keys_until_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _run("--out", out).exit_code == 0
    first, before = _key(out), (out / "summary.json").read_bytes()
    refused = _run("--seed", "1", "--out", out)
    assert refused.exit_code == 2, refused.output
    line = refused.stderr.strip()
    assert len(line.splitlines()) == 1 and str(out) in line and first[:12] in line and "--overwrite" in line
    assert "holds the finished run" in line
    assert (out / "summary.json").read_bytes() == before and _key(out) == first
    replaced = _run("--seed", "1", "--out", out, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    second = _key(out)
    assert second != first and second[:12] in line  # the refusal named the new run's key too
    again = _run("--seed", "1", "--out", out)  # the same run: reused, as before
    assert again.exit_code == 0, again.output
    assert _key(out) == second


def test_an_empty_folder_or_one_without_state_is_fine(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run("--out", empty).exit_code == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert _run("--out", other).exit_code == 0
    assert (other / "notes.txt").read_text() == "mine"


def test_an_unfinished_other_run_is_refused_then_set_aside_with_overwrite(tmp_path: Path) -> None:
    data, out = synthetic(20, seed=1), tmp_path / "out"
    kw: dict[str, Any] = {"eps": [0, "1/255"], "batch_size": 5, "bootstrap": 0, "out_dir": out}
    with pytest.raises(KeyboardInterrupt):
        medrobust.evaluate(_model(), data, [CountingPGD(fail_at=3, steps=2)], **kw)
    parts = sorted(p.name for p in (out / "parts").iterdir())
    with pytest.raises(medrobust.ConfigError, match=r"holds the unfinished run .*overwrite=True"):
        medrobust.evaluate(_model(), data, [CountingPGD(steps=2)], seed=1, **kw)
    assert sorted(p.name for p in (out / "parts").iterdir()) == parts  # untouched
    medrobust.evaluate(_model(), data, [CountingPGD(steps=2)], seed=1, overwrite=True, **kw)
    (kept,) = out.glob("run-*")
    assert sorted(p.name for p in (kept / "parts").iterdir()) == parts


def test_demo_owns_its_folder_and_replaces_an_earlier_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medrobust.engine import demo

    monkeypatch.setattr(demo, "demo_model", lambda seed: _model(seed))  # no training: the folder is the point
    out = tmp_path / "demo"
    keys = []
    for n in (16, 12):  # another --n: another run key
        demo.run_demo(out, n=n, progress=False)
        keys.append(_key(out))
    assert keys[0] != keys[1]


def test_bench_replaces_a_cell_whose_configuration_changed(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "models: {m: {kind: smallcnn, random_init: true}}\n"
        "datasets: {d: {kind: synthetic, n: 8}}\n"
        "attack_sets: {quick: [fgsm]}\nbudgets: {tiny: [0, 1/255]}\ndefaults: {bootstrap: 0}\n"
    )
    out = tmp_path / "bench"
    first = run_suite(suite, out=out)
    assert first.exit_code == 0 and first.cells[0].status == "done"
    second = run_suite(suite, out=out, overrides={"defaults.seed": 1})
    assert second.exit_code == 0, second.cells[0].message
    assert second.cells[0].status == "done" and second.cells[0].results is not None


def test_the_plugin_report_folder_takes_each_sessions_runs(tmp_path: Path) -> None:
    data = synthetic(8, seed=1)
    for seed in (0, 1):  # two pytest sessions, the model changed in between
        factory = RobustnessFactory(SessionState(report=tmp_path, baseline=None, tolerance=0.02))
        results = factory(_model(seed), data, ["fgsm"], [0, "1/255"], name="lesion", bootstrap=0)
        assert results.manifest["model"]["fingerprint"] == _model(seed).model_fingerprint().digest
    assert _key(tmp_path / "lesion") == results.manifest["medrobust_run"]
