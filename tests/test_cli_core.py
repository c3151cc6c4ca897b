"""The CLI: ``medrobust demo`` end to end, ``medrobust run`` from flags and from YAML."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from medrobust.cli.commands import main


def test_demo_runs_to_the_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--n", "64", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "pgd-linf" in result.output and "8/255" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clean"]["accuracy"] > 0.9
    curve = [b["robust_accuracy"] for b in summary["attacks"]["pgd-linf"]["budgets"]]
    assert curve == sorted(curve, reverse=True)
    assert curve[-1] < curve[0]


def test_run_from_yaml_with_flag_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "model: {kind: smallcnn, num_classes: 3, head: multilabel, random_init: true}\n"
        "data: {kind: synthetic, n: 40, task: multilabel}\n"
        "attacks: [fgsm, {name: pgd, norm: l2, steps: 3}]\n"
        "eps: [0, 0.1, 0.5]\n"
        "bootstrap: 0\n"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "-c", str(cfg), "--out", str(out), "--seed", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(summary["attacks"]) == {"fgsm-linf", "pgd-l2"}
    assert summary["task"] == "multilabel"
    assert manifest["config"]["seed"] == 3


def test_run_flags_only(tmp_path: Path) -> None:
    out = tmp_path / "flags"
    args = [
        "run",
        "--model",
        "smallcnn",
        "--random-init",
        "--num-classes",
        "2",
        "--data",
        "synthetic",
        "-D",
        "n=32",
        "--attack",
        "pgd:steps=2",
        "--eps",
        "0,2/255",
        "--out",
        str(out),
        "--bootstrap",
        "0",
        "--quiet",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (out / "rows.csv").read_text().count("\n") == 1 + 32 * 2


def test_run_speed_flags_reach_the_sweep(tmp_path: Path) -> None:
    out = tmp_path / "speed"
    args = [
        "run",
        "--model",
        "smallcnn",
        "--random-init",
        "--num-classes",
        "2",
        "--data",
        "synthetic",
        "-D",
        "n=16",
        "--attack",
        "pgd:steps=2",
        "--eps",
        "0,2/255,4/255",
        "--schedule",
        "parallel",
        "--precision",
        "bf16",
        "--channels-last",
        "--out",
        str(out),
        "--bootstrap",
        "0",
        "--quiet",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "manifest.json").read_text())["config"]
    assert (config["schedule"], config["precision"], config["channels_last"]) == ("parallel", "bf16", True)
