"""Progress that moves: on a terminal the bar names the attack and budget; quiet and CI logs get no carriage returns."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import medrobust
from medrobust.cli.commands import main
from medrobust.datasets.synthetic import synthetic
from medrobust.heads import make_head
from medrobust.models.adapter import ModelAdapter
from medrobust.models.demo import demo_model
from medrobust.models.small_cnn import SmallCNN
from medrobust.models.training import train_classifier


class Terminal(io.StringIO):
    """A stderr that says it is a terminal (tqdm draws its bar only on one)."""

    def isatty(self) -> bool:
        return True


def _sweep(progress: bool, **kw: object) -> None:
    torch.manual_seed(0)
    model = ModelAdapter(SmallCNN(1, 2), "binary", num_outputs=2, bounds=(0.0, 1.0))
    data = synthetic(8, task="binary", seed=3)
    medrobust.evaluate(model, data, ["fgsm", "pgd"], [0, "1/255", "2/255"], progress=progress, **kw)  # type: ignore[arg-type]


def test_on_a_terminal_the_bar_names_batch_attack_and_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    err = Terminal()
    monkeypatch.setattr("sys.stderr", err)
    _sweep(True, batch_size=4, bootstrap=0)
    shown = err.getvalue()
    assert "sweep" in shown and "12/12" in shown  # 2 batches x 2 attacks x 3 budgets
    assert "batch 2/2 pgd-linf@2/255" in shown  # the last step, always drawn when the bar closes


def test_quiet_on_a_terminal_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    err = Terminal()
    monkeypatch.setattr("sys.stderr", err)
    _sweep(False, batch_size=4, bootstrap=0)
    assert err.getvalue() == ""


def test_off_a_terminal_one_log_line_per_batch_and_no_bar(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with caplog.at_level(logging.INFO, logger="medrobust.engine.progress"):
        _sweep(True, batch_size=4, bootstrap=0)
    assert "\r" not in err.getvalue() and "sweep" not in err.getvalue()
    lines = [r.getMessage() for r in caplog.records if r.name == "medrobust.engine.progress"]
    assert len(lines) == 2 and lines[0].startswith("batch 1 of 2 done") and "left" in lines[0]


def test_training_bar_on_a_terminal_names_the_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    err = Terminal()
    monkeypatch.setattr("sys.stderr", err)
    torch.manual_seed(0)
    train_classifier(SmallCNN(1, 2), synthetic(64, seed=1), make_head("binary", 2), epochs=2, progress=True)
    assert "training" in err.getvalue() and "epoch 2/2 loss" in err.getvalue()
    quiet = Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    train_classifier(SmallCNN(1, 2), synthetic(64, seed=1), make_head("binary", 2), epochs=1, progress=False)
    assert quiet.getvalue() == ""


@pytest.mark.parametrize("quiet", [True, False])
def test_cli_stderr_has_no_carriage_returns_off_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quiet: bool
) -> None:
    """CliRunner's stderr is not a terminal, like a CI log: no bar, with or without --quiet."""
    monkeypatch.setattr(
        "medrobust.engine.demo.demo_model", lambda seed, progress=False: demo_model(seed, 96, 1, progress)
    )
    args = ["demo", "--n", "16", "--out", str(tmp_path / "demo"), *(["--quiet"] if quiet else [])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "\r" not in result.stderr and "\r" not in result.output
    assert "%|" not in result.stderr  # no tqdm bar
