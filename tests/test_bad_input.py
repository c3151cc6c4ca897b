"""Bad input: clear errors that name the input and the problem; exit code 2 from the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import medrobust
from medrobust.cli.commands import main
from medrobust.datasets import ArrayDataset, DataInfo, synthetic
from medrobust.errors import ConfigError, DataError, ModelError
from medrobust.heads import HeadKind
from medrobust.models.small_cnn import SmallCNN

INFO = DataInfo("toy", HeadKind.BINARY, ("neg", "pos"))


def test_nan_pixels_are_named() -> None:
    images = np.random.rand(4, 1, 8, 8).astype(np.float32)
    images[2, 0, 3, 3] = np.nan
    with pytest.raises(DataError, match="toy: sample 2 has NaN"):
        ArrayDataset(images, np.array([0, 1, 0, 1]), INFO)


def test_label_out_of_range_is_named() -> None:
    with pytest.raises(DataError, match="sample 1 has label 7"):
        ArrayDataset(np.zeros((2, 1, 8, 8)), np.array([0, 7]), INFO)


def test_empty_dataset_and_wrong_dimensionality() -> None:
    with pytest.raises(DataError, match="empty"):
        ArrayDataset(np.zeros((0, 1, 8, 8)), np.array([]), INFO)
    with pytest.raises(DataError, match="expected images of shape"):
        ArrayDataset(np.zeros((2, 8, 8)), np.array([0, 1]), INFO)


def test_pixels_outside_bounds() -> None:
    with pytest.raises(DataError, match="outside the declared bounds"):
        ArrayDataset(np.full((2, 1, 4, 4), 255.0), np.array([0, 1]), INFO)


def test_model_head_must_match_the_task() -> None:
    data = synthetic(16, task="multiclass")
    with pytest.raises(ModelError, match="4 classes"):
        medrobust.evaluate(SmallCNN(1, 3), data, ["fgsm"], [0])


def test_budget_list_not_ascending_or_not_numeric() -> None:
    data = synthetic(8)
    with pytest.raises(ConfigError, match="ascending"):
        medrobust.evaluate(SmallCNN(1, 2), data, ["fgsm"], ["4/255", "1/255"])
    with pytest.raises(ConfigError, match="not a number"):
        medrobust.evaluate(SmallCNN(1, 2), data, ["fgsm"], ["four"])


def test_cli_bad_inputs_exit_2_with_a_message(tmp_path: Path) -> None:
    runner = CliRunner()
    cases = [
        (["run", "--attack", "nosuch"], "unknown attack"),
        (["run", "--eps", "0,-1"], ">= 0"),
        (["run", "--config", str(tmp_path / "missing.yaml")], "missing.yaml: config file not found"),
        (["run", "--model", "smallcnn", "--weights", str(tmp_path / "none.pt")], "does not exist"),
        (["run", "--data", "nosuchdata"], "unknown data kind"),
    ]
    for args, message in cases:
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)


def test_cli_checkpoint_that_is_not_a_state_dict(tmp_path: Path) -> None:
    torch.save({"weights": [1, 2]}, tmp_path / "bad.pt")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--model",
            "smallcnn",
            "--weights",
            str(tmp_path / "bad.pt"),
            "--num-classes",
            "2",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 2
    assert "bad.pt: checkpoint is not a state dict" in result.output
    assert not out.exists()


def test_cli_bad_yaml_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("eps: [0, 2/255, 1/255]\nbatch_size: -3\nnonsense: 1\n")
    result = CliRunner().invoke(main, ["run", "--config", str(cfg)])
    assert result.exit_code == 2
    for part in ("c.yaml", "ascending", "batch_size", "nonsense"):
        assert part in result.output
