"""A model without weights is refused; ``--random-init`` runs a seeded random network, marked as a smoke test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from medrobust.cli.commands import main
from medrobust.engine.config import ModelConfig
from medrobust.errors import ConfigError
from medrobust.models.registry import build_model
from medrobust.reports.format import RANDOM_INIT

SMALL = ["--model", "smallcnn", "--num-classes", "2", "--data", "synthetic", "-D", "n=8"]
TINY = ["--attack", "fgsm", "--eps", "0,1/255", "--bootstrap", "0", "--quiet"]


def _run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["run", *map(str, args)])


def _one_line(result: Result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], result.stderr


@pytest.mark.parametrize(
    ("model", "named"),
    [
        (["--model", "smallcnn"], "model smallcnn has no weights"),
        (["--model", "torchvision", "--model-name", "resnet18"], "model torchvision resnet18 has no weights"),
        (["--model", "monai", "--model-name", "DenseNet121"], "model monai DenseNet121 has no weights"),
    ],
    ids=["smallcnn", "torchvision", "monai"],
)
def test_a_model_without_weights_is_refused_before_any_data_is_read(
    model: list[str], named: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = _run(*model, "--data", "folder", "-D", f"root={tmp_path / 'no-such-folder'}", *TINY, "--out", out)
    _one_line(result, f"{named}: pass --weights FILE, or --random-init for a smoke test on a seeded random network")
    assert not out.exists()


def test_a_config_without_weights_names_the_config_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: {kind: smallcnn, num_classes: 2}\ndata: {kind: synthetic, n: 8}\n")
    _one_line(_run("-c", cfg, *TINY, "--out", tmp_path / "o"), "model.weights, or model.random_init: true")
    cfg.write_text("model: {kind: smallcnn, num_classes: 2, random_init: true}\ndata: {kind: synthetic, n: 8}\n")
    result = _run("-c", cfg, *TINY, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output


def test_random_init_is_seeded_and_marked_in_manifest_and_reports(tmp_path: Path) -> None:
    runs = [tmp_path / "a", tmp_path / "b"]
    for out in runs:
        result = _run(*SMALL, "--random-init", *TINY, "--out", out)
        assert result.exit_code == 0, result.output
    a, b = (json.loads((out / "manifest.json").read_text()) for out in runs)
    assert a["model"]["random_init"] is True
    assert a["model"]["fingerprint"] == b["model"]["fingerprint"] and a["medrobust_run"] == b["medrobust_run"]
    for name in ("samples.csv", "rows.csv"):
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name
    assert (runs[0] / "summary.md").read_text().splitlines()[0].endswith(RANDOM_INIT)
    assert (
        f"<h1>medrobust report: smallcnn on synthetic-binary-2d, {RANDOM_INIT}</h1>"
        in (runs[0] / "report.html").read_text()
    )
    other = tmp_path / "seed1"
    assert _run(*SMALL, "--random-init", "--seed", "1", *TINY, "--out", other).exit_code == 0
    assert json.loads((other / "manifest.json").read_text())["model"]["fingerprint"] != a["model"]["fingerprint"]


def test_a_run_with_weights_is_not_marked(tmp_path: Path) -> None:
    weights = tmp_path / "w.pt"
    torch.save(build_model("smallcnn", num_classes=2, init_seed=0).model.state_dict(), weights)
    out = tmp_path / "out"
    result = _run(*SMALL, "--weights", weights, *TINY, "--out", out)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text())["model"]["random_init"] is False
    assert RANDOM_INIT not in (out / "summary.md").read_text() + (out / "report.html").read_text()


def test_random_init_contradicts_weights_and_kinds_that_bring_their_own(tmp_path: Path) -> None:
    weights = tmp_path / "w.pt"
    torch.save(build_model("smallcnn", num_classes=2).model.state_dict(), weights)
    result = _run(*SMALL, "--weights", weights, "--random-init", *TINY, "--out", tmp_path / "o")
    _one_line(result, "--random-init and --weights contradict each other")
    _one_line(_run("--model", "demo", "--random-init", *TINY, "--out", tmp_path / "o"), "brings its own weights")
    for kind in ("demo", "python"):
        ModelConfig(kind=kind).check_weights()  # demo trains its own; a factory builds its own
    ModelConfig(kind="torchscript", weights=weights).check_weights()
    with pytest.raises(ConfigError, match="torchscript model brings its own weights"):
        ModelConfig(kind="torchscript", weights=weights, random_init=True).check_weights()


def test_the_seed_leaves_the_global_random_state_alone() -> None:
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    first = build_model("smallcnn", num_classes=2, init_seed=7)
    assert torch.equal(torch.rand(4), expected)
    again = build_model("smallcnn", num_classes=2, init_seed=7)
    assert all(torch.equal(p, q) for p, q in zip(first.parameters(), again.parameters(), strict=True))
    assert first.random_init and not build_model("smallcnn", num_classes=2).random_init
