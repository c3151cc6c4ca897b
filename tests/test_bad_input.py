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
from medrobust.models.adapter import ModelAdapter
from medrobust.models.registry import check_device
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


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n": 0}, "option n must be a whole number >= 1, got 0"),
        ({"n": -4}, "got -4"),
        ({"n": "abc"}, "got 'abc'"),
        ({"n": True}, "got True"),
        ({"n": 4, "spatial_dims": 4}, "spatial_dims must be 2 or 3"),
        ({"n": 4, "task": "nosuch"}, "task must be one of"),
    ],
)
def test_synthetic_options_are_checked(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        synthetic(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mean": [0.5, 0.5], "std": [0.25]}, r"mean has 2 value\(s\) and std 1, but the model takes 1 channel"),
        ({"mean": [0.5] * 3, "std": [0.2] * 2, "channels": 3}, "std 2, but the model takes 3 channel"),
        ({"mean": [0.5] * 2, "std": None, "channels": 3}, "mean has 2 value"),
    ],
)
def test_mean_and_std_must_fit_the_channels(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        ModelAdapter(SmallCNN(3, 2), "binary", num_outputs=2, input_shape=(1, 28, 28), **kwargs)  # type: ignore[arg-type]


def test_mean_and_std_that_fit_are_accepted() -> None:
    ModelAdapter(SmallCNN(3, 2), "binary", num_outputs=2, input_shape=(1, 28, 28), mean=[0.5] * 3, std=0.2, channels=3)
    ModelAdapter(SmallCNN(1, 2), "binary", num_outputs=2, mean=[0.5, 0.4], std=[0.2, 0.1])  # channels unknown


def test_unknown_devices_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert check_device("cpu") == "cpu"
    assert check_device("auto") == "cpu"
    with pytest.raises(ConfigError, match="'nosuch' is not a device name; devices here: cpu"):
        check_device("nosuch")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        check_device("cuda:99")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("cuda:1") == "cuda:1"
    with pytest.raises(ConfigError, match="has 2 CUDA device"):
        check_device("cuda:2")


@pytest.mark.parametrize("std", [0, 0.0, [0.2, 0.0], -1.0, float("inf"), float("nan")])
def test_std_must_be_finite_and_positive(std: object) -> None:
    """A zero std divides by zero: every logit inf or NaN, or an internal error, instead of a clear message."""
    with pytest.raises(ModelError, match=r"model small: std(\[1\])? is .+; every std value must be finite and > 0"):
        ModelAdapter(SmallCNN(1, 2), "binary", num_outputs=2, std=std, name="small")  # type: ignore[arg-type]


def test_mean_must_be_finite() -> None:
    with pytest.raises(ModelError, match=r"model small: mean\[0\] is nan; every mean value must be finite"):
        ModelAdapter(SmallCNN(1, 2), "binary", num_outputs=2, mean=[float("nan"), 0.5], name="small")


@pytest.mark.parametrize(
    ("args", "yaml", "message"),
    [
        (["--std", "0"], None, "--std '0': every value must be > 0"),
        (["--std", "inf"], None, "--std 'inf': every value must be a finite number"),
        (["--mean", "nan"], None, "--mean 'nan': every value must be a finite number"),
        ([], "model: {kind: smallcnn, std: [0]}", "model smallcnn: std is 0.0; every std value must be finite and > 0"),
        (["--resume", "--no-resume"], None, "--resume and --no-resume contradict each other"),
    ],
    ids=["std-0", "std-inf", "mean-nan", "yaml-std-0", "resume-and-no-resume"],
)
def test_cli_bad_normalisation_and_resume_flags_exit_2(
    args: list[str], yaml: str | None, message: str, tmp_path: Path
) -> None:
    extra = []
    if yaml is not None:
        (tmp_path / "c.yaml").write_text(yaml + "\n")
        extra = ["--config", str(tmp_path / "c.yaml")]
    fast = ["--model", "smallcnn", "--random-init", "--num-classes", "2", "-D", "n=8", "--attack", "fgsm"]
    fast += ["--eps", "0", "--quiet"]
    result = CliRunner().invoke(main, ["run", *fast, *extra, *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output
